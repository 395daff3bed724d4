"""What the offline policy's token estimates cost: $0, or priced as a real model.

A step with ``price_as`` runs on the offline policy whatever keys are configured (an estimate
must never spend), and each of its calls is billed to the ledger as its token estimates
priced at that model's listed price, so budgets, alerts and cost reports work before a cent
is spent:

* ``provider:model`` — that model of `activities.providers.prices` (unknown: the step fails,
  non-retryable, naming the known ones);
* ``chain`` — each step priced as the first provider of its own chain, resolved as a real run
  would (environment, configuration version, catalog) but ignoring missing keys; a chain
  whose first provider has no price, or that says ``offline``, prices at $0.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from activities.catalog import AgentSpec
from activities.catalog.agent_config import AgentConfig
from activities.providers.prices import FREE, Price, PriceUnknown, listed_price, price_for

PRICE_AS_CHAIN = "chain"


class OfflinePricing(BaseModel):
    model_config = ConfigDict(frozen=True)

    price: Price = FREE
    priced_as: str | None = None  # the `provider:model` whose prices apply; None = $0


UNPRICED = OfflinePricing()


def offline_pricing(
    price_as: str | None, agent: AgentSpec, mode: str, config: AgentConfig | None
) -> OfflinePricing:
    if not price_as:
        return UNPRICED
    if price_as.strip() != PRICE_AS_CHAIN:
        return OfflinePricing(price=listed_price(price_as), priced_as=price_as.strip())
    from activities.providers.resolve import resolve_chain

    chain = resolve_chain(agent, mode, config, configured=lambda _ref: True)
    if not chain.links:
        return UNPRICED
    first = chain.links[0]
    try:
        return OfflinePricing(price=price_for(first), priced_as=first.label)
    except PriceUnknown:
        return UNPRICED
