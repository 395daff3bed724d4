"""Schemathesis against the app's own `/openapi.json`: every phase it runs (examples, coverage,
fuzzing, stateful when the schema has links), a bounded number of examples per operation,
authenticated as tenant A's admin.

What fails the test: a 5xx (`not_a_server_error`), and a response with a documented status
whose body or content type does not match its declared schema (`response_schema_conformance`,
`content_type_conformance`, `response_headers_conformance`). Statuses a route answers but
does not declare (`status_code_conformance`) do not fail it: they are collected per route and
printed, since declaring them is the routes' `responses=` to fix. Checks about the inputs the
app accepts or refuses (`positive_data_acceptance`, `negative_data_rejection`, …) are off:
they judge validation policy, not conformance.

The app runs on the session's loop (its store, Temporal client and workers live there); the
schemathesis engine runs on a thread and reaches it through `cross_loop()`."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema
from temporalio.testing import WorkflowEnvironment

from tests.api.app_support import Api, cross_loop, running_api

MAX_EXAMPLES = 10
MAX_SECONDS = 50
FAILING_CHECKS = {
    "not_a_server_error",
    "response_schema_conformance",
    "content_type_conformance",
    "response_headers_conformance",
}
REPORTED_CHECKS = {"status_code_conformance"}


@pytest.fixture(scope="module")
async def api(
    temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Api]:
    async with running_api(temporal_env, tmp_path_factory.mktemp("schema-home")) as api:
        yield api


def _config(api_key: str) -> SchemathesisConfig:
    checks: dict[str, Any] = {"enabled": False}
    for name in FAILING_CHECKS | REPORTED_CHECKS:
        checks[name] = {"enabled": True}
    return SchemathesisConfig.from_dict(
        {
            "seed": 20261130,
            "headers": {"Authorization": f"Bearer {api_key}"},
            "generation": {"max-examples": MAX_EXAMPLES, "database": "none", "no-shrink": True},
            "max-time": MAX_SECONDS,  # a hard cap on the whole run (2 shared cores in CI)
            "checks": checks,
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": True, "max-steps": 10},
            },
            "request-timeout": 30,
            "continue-on-failure": True,
        }
    )


def _documented(spec: dict[str, Any], label: str) -> set[str]:
    method, _, path = label.partition(" ")
    op = spec["paths"].get(path, {}).get(method.lower(), {})
    return set(op.get("responses", {}))


def _run(app: Any, loop: asyncio.AbstractEventLoop, api_key: str) -> dict[str, Any]:
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", cross_loop(app, loop), config=_config(api_key)
    )
    spec = schema.raw_schema
    failures: dict[str, set[str]] = defaultdict(set)  # check -> "<label>: <failure title>"
    statuses: dict[str, set[int]] = defaultdict(set)  # label -> statuses seen
    phases: dict[str, str] = {}
    errors: set[str] = set()
    unexpected_methods: dict[int, int] = defaultdict(int)
    calls = 0
    examples: dict[tuple[str, int], str] = {}  # one request per undocumented status
    for event in from_schema(schema).execute():
        if isinstance(event, events.PhaseFinished):
            phases[event.phase.name.value] = event.status.name if event.status else "skipped"
        elif isinstance(event, events.NonFatalError):  # the app raised: a 500 to a client
            errors.add(f"{event.label}: {type(event.value).__name__}: {str(event.value)[:200]}")
        elif isinstance(event, events.FatalError):
            errors.add(f"engine: {event.exception!r}")
        elif isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            recorder = event.recorder
            for case_id, interaction in recorder.interactions.items():
                if interaction.response is None or case_id not in recorder.cases:
                    continue
                calls += 1
                case = recorder.cases[case_id].value
                label = case.operation.label
                code = interaction.response.status_code
                if interaction.request.method.upper() != case.operation.method.upper():
                    unexpected_methods[code] += 1  # coverage probes other methods: 405
                    continue
                statuses[label].add(code)
                if str(code) not in _documented(spec, label):
                    body = (interaction.request.body or b"")[:120]
                    examples.setdefault(
                        (label, code),
                        f"{interaction.request.method} {interaction.request.uri} {body!r}",
                    )
            for case_id, nodes in recorder.checks.items():
                label = recorder.cases[case_id].value.operation.label
                for node in nodes:
                    if node.failure_info is not None:
                        failure = node.failure_info.failure
                        message = " ".join(failure.message.split())[:200]
                        failures[node.name].add(f"{label}: {failure.title}: {message}")
    undocumented = {
        label: sorted(s for s in seen if str(s) not in _documented(spec, label))
        for label, seen in sorted(statuses.items())
    }
    return {
        "failures": failures,
        "undocumented": {k: v for k, v in undocumented.items() if v},
        "phases": phases,
        "errors": sorted(errors),
        "examples": examples,
        "unexpected_methods": dict(unexpected_methods),
        "calls": calls,
        "operations": sorted(statuses),
    }


async def test_the_app_conforms_to_its_openapi(api: Api) -> None:
    loop = asyncio.get_running_loop()
    result = await asyncio.to_thread(_run, api.app, loop, api.keys["acme:admin"])
    print(f"schemathesis: {result['calls']} calls, phases {result['phases']}")
    print("undocumented statuses per route (declare them in the routes' responses=):")
    for label, codes in result["undocumented"].items():
        print(f"  {label}: {codes}")
        for code in codes:
            print(f"      {code}: e.g. {result['examples'][(label, code)]}")
    print(f"other methods on documented paths answered: {result['unexpected_methods']}")
    for error in result["errors"]:
        print(f"5xx (the app raised): {error}")
    for name, found in sorted(result["failures"].items()):
        print(f"check {name}: {len(found)} distinct failures")
        for line in sorted(found)[:20]:
            print(f"    {line}")
    assert not result["errors"], result["errors"]
    assert result["calls"] > 0
    paths = api.app.openapi()["paths"]
    every = {f"{m.upper()} {p}" for p, ops in paths.items() for m in ops}
    assert set(result["operations"]) == every, every - set(result["operations"])
    bad = {k: sorted(v) for k, v in result["failures"].items() if k in FAILING_CHECKS}
    assert not bad, bad
