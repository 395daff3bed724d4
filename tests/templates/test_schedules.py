"""Schedules declared in specs, kept in step with Temporal by `bizos schedule sync`, and made
by hand with `bizos schedule create`: on the real dev server, read back as Temporal has them.

Each test syncs its own throw-away template (crons that never fire during a test); sync owns
every `spec` schedule of the namespace, so a later test's sync deletes an earlier test's."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleDescription,
    ScheduleOverlapPolicy,
    ScheduleSpec,
)
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from starters.schedules import (
    SCHEDULE_MEMO_KEY,
    ScheduleError,
    create_schedule,
    delete_schedule,
    manual_request,
    sync_schedules,
)
from tests.support import eventually
from tests.templates.conftest import REPO, TEMPLATE_TEST_SPECS, cli_env
from worker.binaries import temporal_cli
from workflows import search_attributes as sa
from workflows.models import RunInput, RunResult
from workflows.registry import SpecRegistry, load_registry


def _spec(name: str, schedules: list[dict[str, Any]], version: int = 1) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "description": "a scheduled report (schedule test)",
        "params": {
            "team": {"type": "string", "required": True},
            "window_days": {"type": "integer", "default": 7},
        },
        "schedules": schedules,
        "steps": [
            {"id": "report", "agent": "noop", "mode": "echo", "with": {"t": "${params.team}"}}
        ],
    }


def _write(directory: Path, spec: dict[str, Any]) -> SpecRegistry:
    (directory / f"{spec['name']}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_registry([directory])


@pytest.fixture
def name() -> str:
    return f"sched_{uuid.uuid4().hex[:8]}"


async def _describe(client: Client, schedule_id: str) -> ScheduleDescription:
    return await client.get_schedule_handle(schedule_id).describe()


async def _gone(client: Client, schedule_id: str) -> bool:
    try:
        await _describe(client, schedule_id)
    except RPCError:
        return True
    return False


async def _action_memo(client: Client, desc: ScheduleDescription) -> dict[str, Any]:
    action = desc.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow) and action.memo
    conv = client.data_converter.payload_converter
    return {k: conv.from_payload(v) for k, v in action.memo.items()}  # type: ignore[arg-type]


WEEKLY = {"id": "weekly", "cron": "0 9 1 1 MON", "params": {"team": "growth"}, "jitter": "5m"}
MONTHLY = {"id": "monthly", "cron": ["0 6 1 1 *", "30 6 2 1 *"], "params": {"team": "ops"}}


async def test_sync_creates_what_specs_declare_and_a_second_sync_changes_nothing(
    temporal_client: Client, tmp_path: Path, name: str
) -> None:
    reg = _write(tmp_path, _spec(name, [WEEKLY, MONTHLY]))
    first = await sync_schedules(temporal_client, reg)
    ids = [f"bizos.{name}.monthly", f"bizos.{name}.weekly"]
    assert first.created == ids and not first.updated and not first.conflicts

    second = await sync_schedules(temporal_client, reg)
    assert second.unchanged == ids
    # (an earlier test's schedule may only now show in the lagging list and be deleted)
    assert not second.created and not second.updated and not second.conflicts
    assert not [sid for sid in second.deleted if name in sid]

    # What Temporal holds is a start of the template with bizos's own start options.
    dag = reg.by_name(name)
    desc = await _describe(temporal_client, f"bizos.{name}.weekly")
    action = desc.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == dag.workflow_type and action.task_queue == "bizos-workflows"
    assert action.id == f"default.{name}.weekly"
    assert action.execution_timeout == dag.spec.execution_timeout
    conv = temporal_client.data_converter.payload_converter
    assert conv.from_payload(action.args[0], RunInput) == RunInput(params={"team": "growth"})  # type: ignore[arg-type]
    memo = await _action_memo(temporal_client, desc)
    assert memo["bizos_spec"] == dag.pin
    assert memo[SCHEDULE_MEMO_KEY]["cron"] == ["0 9 1 1 MON"]
    assert action.typed_search_attributes.get(sa.TEMPLATE) == name
    assert desc.schedule.spec.jitter == timedelta(minutes=5)
    assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    assert desc.info.next_action_times, "Temporal computed no next run from the cron"
    assert desc.typed_search_attributes.get(sa.TEMPLATE) == name
    monthly = await _describe(temporal_client, f"bizos.{name}.monthly")
    assert len(monthly.schedule.spec.calendars) + len(monthly.schedule.spec.cron_expressions) >= 2


async def test_sync_leaves_hand_made_schedules_alone_and_reports_an_id_clash(
    temporal_client: Client, tmp_path: Path, name: str
) -> None:
    reg = _write(tmp_path, _spec(name, [WEEKLY]))
    dag = reg.by_name(name)
    plain = Schedule(
        action=ScheduleActionStartWorkflow(
            dag.workflow_type, RunInput(params={"team": "x"}), id=f"hand-{name}", task_queue="q"
        ),
        spec=ScheduleSpec(cron_expressions=["0 0 1 1 *"]),
    )
    # made with the Temporal SDK (as `temporal schedule create` would), one of them even
    # with sync's id prefix, and one with `bizos schedule create`
    await temporal_client.create_schedule(f"hand-{name}", plain)
    await temporal_client.create_schedule(f"bizos.{name}.handmade", plain)
    by_cli = manual_request(dag, f"cli-{name}", ["0 1 1 1 *"], RunInput(params={"team": "y"}))
    await create_schedule(temporal_client, dag, by_cli)
    # ... and one squatting on the id the spec's schedule needs
    await temporal_client.create_schedule(f"bizos.{name}.weekly", plain)

    report = await sync_schedules(temporal_client, reg)
    assert not report.created and not report.updated
    assert not [sid for sid in report.deleted if name in sid]  # earlier tests' may go
    assert len(report.conflicts) == 1 and report.conflicts[0].startswith(f"bizos.{name}.weekly: ")
    for sid in (f"hand-{name}", f"bizos.{name}.handmade", f"cli-{name}", f"bizos.{name}.weekly"):
        desc = await _describe(temporal_client, sid)
        assert desc.schedule.spec.jitter is None, f"{sid} was changed by sync"
    for sid in (f"hand-{name}", f"bizos.{name}.handmade", f"bizos.{name}.weekly"):
        await temporal_client.get_schedule_handle(sid).delete()
    assert await delete_schedule(temporal_client, f"cli-{name}") == "cli"


async def test_a_spec_change_updates_the_schedule_and_a_removed_one_is_deleted(
    temporal_client: Client, tmp_path: Path, name: str
) -> None:
    reg = _write(tmp_path, _spec(name, [WEEKLY, MONTHLY]))
    await sync_schedules(temporal_client, reg)
    before = await _describe(temporal_client, f"bizos.{name}.weekly")

    changed = {**WEEKLY, "cron": "0 10 1 1 TUE", "params": {"team": "growth", "window_days": 14}}
    pin_before = reg.by_name(name).pin
    reg = _write(tmp_path, _spec(name, [changed]))
    assert reg.by_name(name).pin == pin_before  # schedules are not in the spec hash: no bump
    report = await sync_schedules(temporal_client, reg)
    assert report.updated == [f"bizos.{name}.weekly"]
    assert report.deleted == [f"bizos.{name}.monthly"]
    assert await _gone(temporal_client, f"bizos.{name}.monthly")
    after = await _describe(temporal_client, f"bizos.{name}.weekly")
    assert (await _action_memo(temporal_client, after))[SCHEDULE_MEMO_KEY]["cron"] == [
        "0 10 1 1 TUE"
    ]
    assert after.info.next_action_times != before.info.next_action_times
    action = after.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    conv = temporal_client.data_converter.payload_converter
    assert conv.from_payload(action.args[0], RunInput).params["window_days"] == 14  # type: ignore[arg-type]

    # a new template version re-pins the schedule's runs on it
    reg = _write(tmp_path, _spec(name, [changed], version=2))
    assert (await sync_schedules(temporal_client, reg)).updated == [f"bizos.{name}.weekly"]
    pinned = await _action_memo(
        temporal_client, await _describe(temporal_client, f"bizos.{name}.weekly")
    )
    assert pinned["bizos_spec"]["version"] == 2

    # removing the template (or its last schedule) removes its schedules
    (tmp_path / f"{name}.yaml").unlink()
    _write(tmp_path, _spec(f"{name}_other", []))
    report = await sync_schedules(temporal_client, load_registry([tmp_path]))
    assert f"bizos.{name}.weekly" in report.deleted
    assert await _gone(temporal_client, f"bizos.{name}.weekly")


def test_bad_schedules_are_refused_with_the_reason(tmp_path: Path, name: str) -> None:
    from workflows.compiler import CompileError

    bad = [
        {"id": "w", "cron": "0 9 * *", "params": {"team": "a"}},
        {"id": "w", "cron": "61 * * * *", "params": {"tea": "a"}},
    ]
    with pytest.raises(CompileError) as e:
        _write(tmp_path, _spec(name, bad))
    text = "\n".join(e.value.problems)
    assert "schedule w: cron `0 9 * *`: expected 5 fields" in text
    assert "schedule w: duplicate schedule id" in text
    assert "schedule w: cron `61 * * * *`: minute `61`: 61 is outside 0-59" in text
    assert "schedule w: params: unknown param `tea`" in text
    assert "schedule w: params: missing required param `team`" in text
    reg = _write(tmp_path, _spec(name, []))
    with pytest.raises(ScheduleError, match="belong to `bizos schedule sync`"):
        manual_request(reg.by_name(name), "bizos.x", ["@daily"], RunInput(params={"team": "a"}))


async def test_a_triggered_schedule_starts_a_normal_run_that_completes(
    workflow_client: Client, temporal_env: WorkflowEnvironment, templates_registry: SpecRegistry
) -> None:
    # sync_echo is in the workers' registry; sync only its spec's schedules here
    reg = load_registry([TEMPLATE_TEST_SPECS])
    report = await sync_schedules(workflow_client, reg)
    sid = "bizos.sched_echo.yearly"
    assert sid in report.created + report.updated + report.unchanged
    handle = workflow_client.get_schedule_handle(sid)
    before = len((await handle.describe()).info.recent_actions)

    out = await asyncio.to_thread(
        subprocess.run,
        [
            temporal_cli(),
            "schedule",
            "trigger",
            "--schedule-id",
            sid,
            "--address",
            workflow_client.service_client.config.target_host,
            "--namespace",
            workflow_client.namespace,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr

    async def started() -> str:
        recent = (await handle.describe()).info.recent_actions
        return getattr(recent[-1].action, "workflow_id", "") if len(recent) > before else ""

    wid = await eventually(started, what="the triggered run")
    assert wid.startswith("default.sched_echo.yearly-")
    run = workflow_client.get_workflow_handle(wid, result_type=RunResult)
    result = await run.result()
    assert result.statuses == {"report": "succeeded"}
    assert result.outputs["report"]["echo"] == {"team": "growth", "days": 30}
    desc = await run.describe()
    assert (await desc.memo())["bizos_spec"] == templates_registry.by_name("sched_echo").pin
    assert desc.typed_search_attributes.get(sa.TEMPLATE) == "sched_echo"
    assert await desc.static_summary() == (
        "sched_echo v1: Echo a team report on a schedule (test template on the noop agent)"
    )
    await handle.delete()


def _bizos(env: WorkflowEnvironment, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "starters.cli", "schedule", *args],
        env=cli_env(env, **extra),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_the_bizos_schedule_commands(
    temporal_client: Client, temporal_env: WorkflowEnvironment, tmp_path: Path, name: str
) -> None:
    _write(tmp_path, _spec(name, [WEEKLY]))
    spec_dirs = {"BIZOS_SPEC_DIRS": str(tmp_path)}

    synced = await asyncio.to_thread(_bizos, temporal_env, "sync", "-o", "json", **spec_dirs)
    assert synced.returncode == 0, synced.stderr
    assert json.loads(synced.stdout)["created"] == [f"bizos.{name}.weekly"]
    again = await asyncio.to_thread(_bizos, temporal_env, "sync", "-o", "json", **spec_dirs)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["unchanged"] == [f"bizos.{name}.weekly"]
    assert not report["created"] and not report["updated"] and not report["conflicts"]
    dry = await asyncio.to_thread(_bizos, temporal_env, "sync", "--dry-run", **spec_dirs)
    assert dry.returncode == 0 and "Traceback" not in dry.stderr

    made = await asyncio.to_thread(
        _bizos,
        temporal_env,
        "create",
        name,
        f"cli-{name}",
        "--cron",
        "0 2 1 1 *",
        "-p",
        '{"team": "support"}',
        "--paused",
        "-o",
        "json",
        **spec_dirs,
    )
    assert made.returncode == 0, made.stderr
    refused = await asyncio.to_thread(
        _bizos,
        temporal_env,
        "create",
        name,
        f"cli2-{name}",
        "--cron",
        "0 2 * *",
        "-p",
        '{"team": "support"}',
        **spec_dirs,
    )
    assert refused.returncode == 1
    assert (
        "cron `0 2 * *`: expected 5 fields" in refused.stderr and "Traceback" not in refused.stderr
    )

    async def listed() -> list[dict[str, Any]]:
        out = await asyncio.to_thread(_bizos, temporal_env, "list", "-o", "json")
        assert out.returncode == 0, out.stderr
        rows = [r for r in json.loads(out.stdout) if name in r["schedule_id"]]
        return rows if len(rows) == 2 else []

    rows = {r["schedule_id"]: r for r in await eventually(listed, what="both schedules listed")}
    spec_row, cli_row = rows[f"bizos.{name}.weekly"], rows[f"cli-{name}"]
    assert spec_row["origin"] == "spec" and cli_row["origin"] == "cli"
    assert spec_row["template"] == cli_row["template"] == name
    assert spec_row["cron"] == ["0 9 1 1 MON"] and cli_row["cron"] == ["0 2 1 1 *"]
    assert spec_row["params"] == {"team": "growth"} and cli_row["params"] == {"team": "support"}
    assert cli_row["paused"] is True and spec_row["paused"] is False
    assert spec_row["next_runs"] and spec_row["tenant"] == "default"

    deleted = await asyncio.to_thread(_bizos, temporal_env, "delete", f"cli-{name}")
    assert deleted.returncode == 0, deleted.stderr
    assert await _gone(temporal_client, f"cli-{name}")
    missing = await asyncio.to_thread(_bizos, temporal_env, "delete", f"cli-{name}")
    assert missing.returncode == 1 and f"no schedule `cli-{name}`" in missing.stderr
