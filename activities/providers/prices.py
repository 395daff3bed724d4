"""What a model call costs: USD per million input / output tokens, per provider and model.

Prices change: keep this table current (or set ``price_in_per_mtok`` / ``price_out_per_mtok``
on a provider entry, which wins). A billed model without a price fails the step before any
call is made, rather than writing a ledger that silently says $0. Self-hosted
``openai_compatible`` endpoints cost $0 unless priced on their entry; ``offline`` is $0,
unless a step prices its token estimates as a listed model (``price_as``, `listed_price`).

Amounts are computed in integer nano-dollars (1e-9 USD), the ledger's unit, so sums are exact.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel

from activities.providers.refs import ProviderRef

NANOS_PER_USD = 1_000_000_000


class Price(BaseModel):
    in_per_mtok: float
    out_per_mtok: float


PRICES: dict[str, Price] = {
    # OpenAI
    "openai:gpt-4o": Price(in_per_mtok=2.50, out_per_mtok=10.00),
    "openai:gpt-4o-mini": Price(in_per_mtok=0.15, out_per_mtok=0.60),
    "openai:gpt-4.1": Price(in_per_mtok=2.00, out_per_mtok=8.00),
    "openai:gpt-4.1-mini": Price(in_per_mtok=0.40, out_per_mtok=1.60),
    "openai:gpt-4-turbo": Price(in_per_mtok=10.00, out_per_mtok=30.00),
    "openai:gpt-5": Price(in_per_mtok=1.25, out_per_mtok=10.00),
    "openai:gpt-5-mini": Price(in_per_mtok=0.25, out_per_mtok=2.00),
    # Anthropic
    "anthropic:claude-sonnet-4-5": Price(in_per_mtok=3.00, out_per_mtok=15.00),
    "anthropic:claude-opus-4-1": Price(in_per_mtok=15.00, out_per_mtok=75.00),
    "anthropic:claude-3-5-haiku-latest": Price(in_per_mtok=0.80, out_per_mtok=4.00),
    "anthropic:claude-haiku-4-5": Price(in_per_mtok=1.00, out_per_mtok=5.00),
    # Google
    "gemini:gemini-2.0-flash": Price(in_per_mtok=0.10, out_per_mtok=0.40),
    "gemini:gemini-2.5-flash": Price(in_per_mtok=0.30, out_per_mtok=2.50),
    "gemini:gemini-2.5-pro": Price(in_per_mtok=1.25, out_per_mtok=10.00),
}
FREE = Price(in_per_mtok=0.0, out_per_mtok=0.0)


class PriceUnknown(LookupError):
    """A billed model has no price: the ledger would be wrong, so the step does not start."""


def price_for(ref: ProviderRef) -> Price:
    if ref.price_in_per_mtok is not None or ref.price_out_per_mtok is not None:
        return Price(
            in_per_mtok=ref.price_in_per_mtok or 0.0, out_per_mtok=ref.price_out_per_mtok or 0.0
        )
    if ref.provider in ("offline", "openai_compatible"):
        return FREE
    try:
        return PRICES[ref.label]
    except KeyError:
        raise PriceUnknown(
            f"no price for {ref.label}: add it to activities/providers/prices.py or set "
            "price_in_per_mtok/price_out_per_mtok on the provider entry"
        ) from None


def listed_price(label: str) -> Price:
    """The table's price of ``provider:model`` (what ``price_as`` names): an estimate priced
    as a model must name one whose price is known, never quietly cost $0."""
    try:
        return PRICES[label.strip()]
    except KeyError:
        raise PriceUnknown(
            f"price_as {label!r} names no model with a known price; known: "
            f"{', '.join(sorted(PRICES))} (prices live in activities/providers/prices.py)"
        ) from None


def cost_nanos(price: Price, tokens_in: int, tokens_out: int) -> int:
    """Exact cost in nano-dollars (prices are per million tokens, so 1 token = price*1000 n$)."""
    nanos = (
        Decimal(str(price.in_per_mtok)) * tokens_in + Decimal(str(price.out_per_mtok)) * tokens_out
    ) * 1000
    return int(nanos.quantize(Decimal(1), rounding=ROUND_HALF_UP))
