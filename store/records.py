"""Plain models the store's callers pass in and get back (no SQL types leak out)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from store.tables import NANOS_PER_USD


class CallKey(BaseModel):
    """Identifies one model call of a step across attempts: same run, same step, same
    request (hash of messages and stop words), n-th occurrence of that request."""

    model_config = ConfigDict(frozen=True)

    tenant: str = "default"
    workflow_id: str
    run_id: str
    step_key: str
    request_hash: str
    call_index: int = 0


class BilledCall(BaseModel):
    key: CallKey
    attempt: int
    agent: str
    mode: str
    provider: str
    model: str
    tokens_in: int
    tokens_out: int
    usd_nanos: int
    response: str

    @property
    def ledger_key(self) -> str:
        k = self.key
        return (
            f"{k.workflow_id}/{k.run_id}/{k.step_key}/a{self.attempt}/"
            f"{k.request_hash[:24]}/{k.call_index}"
        )


class JournalHit(BaseModel):
    provider: str
    model: str
    response: str
    tokens_in: int
    tokens_out: int
    usd_nanos: int
    ledger_key: str


class ReusedCall(BaseModel):
    key: CallKey
    attempt: int
    agent: str
    mode: str
    hit: JournalHit

    @property
    def ledger_key(self) -> str:
        k = self.key
        return (
            f"{k.workflow_id}/{k.run_id}/{k.step_key}/a{self.attempt}/"
            f"{k.request_hash[:24]}/{k.call_index}/reuse"
        )


class LedgerTotals(BaseModel):
    billed_calls: int = 0
    reused_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    usd_nanos: int = 0

    @property
    def usd(self) -> float:
        return self.usd_nanos / NANOS_PER_USD


class ConfigVersionInfo(BaseModel):
    agent_id: str
    version: int
    body: dict[str, Any] = Field(default_factory=dict)
    note: str = ""
    active: bool = False
