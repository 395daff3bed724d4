"""Each provider fault alone, once, on the first link of a two-link chain: the call fails
over to the second link, the step succeeds in its first attempt, and the failed call costs
nothing (the ledger bills answers received; see docs/providers.md)."""

from __future__ import annotations

import json
import uuid

import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletionUserMessageParam

from activities.providers.errors import classify
from tests.agents.openai_double import (
    NOT_JSON,
    Behaviour,
    Fail,
    Malformed,
    OpenAIDouble,
    Slow,
    Truncated,
)
from tests.agents.test_provider_chain import Rig, react

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

HELLO: ChatCompletionUserMessageParam = {"role": "user", "content": "hello"}
NO_CHOICES = json.dumps({"id": "x", "object": "chat.completion", "choices": []}).encode()


def _no_content(content: str | None) -> bytes:
    """A well-formed completion whose answer is empty, with usage as if billed."""
    choice = {"index": 0, "message": {"role": "assistant", "content": content}}
    return json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [choice | {"finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 0, "total_tokens": 100},
        }
    ).encode()


FAULTS: dict[str, Behaviour] = {
    "http_500": Fail(500),
    "http_503": Fail(503),
    "slow_past_timeout": Slow(1.5),
    "not_json": Malformed(NOT_JSON),
    "no_choices": Malformed(NO_CHOICES),
    "truncated_body": Truncated(),
    # Before the fix these were journalled and billed; CrewAI refused the empty answer, and
    # every retry replayed it from the journal: the step could never succeed.
    "empty_content": Malformed(_no_content("")),
    "null_content": Malformed(_no_content(None)),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_one_fault_fails_over_and_costs_nothing(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    monkeypatch.setenv(
        "BIZOS_PROVIDERS_PROBE", json.dumps([rig.link("a", timeout_s=0.5), rig.link("b")])
    )
    react(["a", "b"], rig.double)
    rig.double.configure("a", script=[FAULTS[fault]])
    wf = f"wf-{uuid.uuid4().hex[:8]}"

    [outcome] = await rig.run([rig.step(wf)], max_attempts=2)

    assert outcome.result is not None, outcome.failure
    assert outcome.result.attempt == 1
    assert rig.double.order() == ["a", "b", "a"]
    rows = await rig.store.ledger_entries(wf)
    assert [(r.kind, r.model) for r in rows] == [("billed", "model-b"), ("billed", "model-a")]


async def test_a_refused_connection_fails_over(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    down = {**rig.link("down"), "base_url": rig.double.refused_base_url()}
    monkeypatch.setenv("BIZOS_PROVIDERS_PROBE", json.dumps([down, rig.link("b")]))
    react(["b"], rig.double)
    wf = f"wf-{uuid.uuid4().hex[:8]}"

    [outcome] = await rig.run([rig.step(wf)])

    assert outcome.result is not None, outcome.failure
    assert rig.double.order() == ["b", "b"]
    rows = await rig.store.ledger_entries(wf)
    assert [r.model for r in rows] == ["model-b", "model-b"]


def test_a_stream_cut_halfway_is_a_failure_that_fails_over(fault_double: OpenAIDouble) -> None:
    """The chain asks without streaming (one body, priced from its usage); should a link
    stream, a stream cut before its end must still count as a provider failure, not as
    the partial answer. The real OpenAI SDK reading the double's cut SSE stream:"""
    fault_double.reset()
    client = OpenAI(base_url=fault_double.base_url("sse"), api_key="x", max_retries=0, timeout=5)
    fault_double.configure("sse", replier=lambda _: "a streamed answer " * 8)
    whole = client.chat.completions.create(model="m", messages=[HELLO], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in whole if c.choices).strip()

    fault_double.configure("sse", script=[Truncated()])
    cut = client.chat.completions.create(model="m", messages=[HELLO], stream=True)
    with pytest.raises(Exception) as caught:
        for _ in cut:
            pass
    failure = classify("openai_compatible:m", caught.value)
    assert (failure.kind, failure.fails_over) == ("connection", True)
