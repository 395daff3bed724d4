"""Custom search attributes the platform upserts. Registered by `bizos dev`; on Temporal
Cloud an operator creates them once (the worker checks at start and says what to run)."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

PENDING_APPROVALS = SearchAttributeKey.for_keyword_list("BizosPendingApprovals")
"""Steps of a run waiting for a person (approval, choice, budget). Never personal data."""
TEMPLATE = SearchAttributeKey.for_keyword("BizosTemplate")
TENANT = SearchAttributeKey.for_keyword("BizosTenant")

ALL = (PENDING_APPROVALS, TEMPLATE, TENANT)


def dev_server_flags() -> list[str]:
    """`temporal server start-dev` flags that register them."""
    kinds = {"KEYWORD_LIST": "KeywordList", "KEYWORD": "Keyword"}
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={kinds[key.indexed_value_type.name]}"]
    return flags
