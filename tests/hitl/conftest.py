"""One API for the package (real Temporal, real store, in-process workflow pool with the
notification workflows), with tenant acme's approver groups, a webhook endpoint on a local
receiver, and the link settings every link in these tests is signed and addressed with."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.api.app_support import Api, running_api
from tests.hitl.support import registry, set_groups
from tests.webhooks.receiver import Receiver
from workflows.registry import SpecRegistry

LINK_ENV = {
    "BIZOS_LINK_SIGNING_SECRET": "hitl-tests-link-secret-0123456789abcdef",
    "BIZOS_PUBLIC_URL": "http://api",  # the test client's base URL: links resolve against it
}
HOOK = "/hooks/acme"


@dataclass
class Hitl:
    api: Api
    receiver: Receiver
    reg: SpecRegistry


@pytest.fixture(scope="package")
def link_env() -> Iterator[dict[str, str]]:
    saved = {k: os.environ.get(k) for k in LINK_ENV}
    os.environ.update(LINK_ENV)
    try:
        yield LINK_ENV
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="package")
async def hitl(
    temporal_env: WorkflowEnvironment,
    tmp_path_factory: pytest.TempPathFactory,
    link_env: dict[str, str],
) -> AsyncIterator[Hitl]:
    home = tmp_path_factory.mktemp("hitl-home")
    reg = registry(tmp_path_factory.mktemp("hitl-specs"))
    with Receiver() as receiver:
        async with running_api(
            temporal_env, home, tenants=("acme", "globex"), namespace="isolated-hitl"
        ) as api:
            await set_groups(api, "acme")
            r = await api.http.post(
                "/v1/webhooks",
                json={"url": receiver.url(HOOK), "events": ["waiting_for_person"]},
                headers=api.as_("acme:admin"),
            )
            assert r.status_code == 201, r.text
            yield Hitl(api, receiver, reg)
