"""Every class of bad spec gets a message naming file, step and problem — never a traceback."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from activities.catalog.safe_yaml import MAX_SPEC_BYTES
from workflows.compiler import CompileError, compile_spec
from workflows.registry import load_registry

REPO = Path(__file__).resolve().parents[2]

GOOD: dict[str, Any] = {
    "name": "good",
    "version": 1,
    "description": "a valid spec the cases below break one way each",
    "params": {
        "topic": {"type": "string", "required": True},
        "n": {"type": "integer", "default": 2},
    },
    "steps": [
        {"id": "draft", "agent": "noop", "mode": "echo", "with": {"t": "${params.topic}"}},
        {"id": "review", "approval": {"prompt": "ok?"}, "after": ["draft"]},
        {
            "id": "post",
            "agent": "noop",
            "mode": "echo",
            "after": ["review"],
            "when": "approvals.review.approved",
        },
    ],
}


def problems(mutate: Any, templates: set[str] | None = None) -> str:
    raw = copy.deepcopy(GOOD)
    mutate(raw)
    with pytest.raises(CompileError) as e:
        compile_spec(raw, "dag_specs/good.yaml", templates=templates)
    text = str(e.value)
    assert "Traceback" not in text
    assert all(line.startswith("dag_specs/good.yaml: ") for line in e.value.problems), text
    return text


def test_the_base_case_compiles() -> None:
    dag = compile_spec(copy.deepcopy(GOOD), "dag_specs/good.yaml")
    assert dag.workflow_type == "Good" and list(dag.steps) == ["draft", "review", "post"]
    assert len(dag.hash) == 16


def step(raw: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in raw["steps"] if s["id"] == sid)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r.update(colour="red"), "spec: unknown key `colour`"),
        (
            lambda r: step(r, "draft").update(retyr={}),
            "step draft: unknown key `retyr` (did you mean `retry`?)",
        ),
        (
            lambda r: step(r, "review")["approval"].update(timout="1h"),
            "step review: unknown key `timout` (did you mean `timeout`?)",
        ),
        (
            lambda r: r["steps"].append({"id": "draft", "agent": "noop", "mode": "echo"}),
            "step draft: duplicate id",
        ),
        (lambda r: step(r, "post").update(id="Post-It"), "step Post-It: malformed id"),
        (
            lambda r: step(r, "draft").update(after=["post"]),
            "step draft: cycle: draft -> post -> review -> draft",
        ),
        (
            lambda r: step(r, "post").update(after=["ghost"]),
            "step post: after: unknown step `ghost`",
        ),
        (
            lambda r: step(r, "draft").update(agent="nop"),
            "step draft: unknown agent `nop` (did you mean `noop`?)",
        ),
        (
            lambda r: step(r, "draft").update(mode="shout"),
            "step draft: agent `noop` has no mode `shout`",
        ),
        (
            lambda r: r["steps"].append({"id": "kid", "workflow": "nowhere"}),
            "step kid: unknown template `nowhere`",
        ),
        (
            lambda r: step(r, "draft").update(**{"with": {"x": "${steps.post.output}"}}),
            "step draft: with: `steps.post` is not upstream of this step",
        ),
        (
            lambda r: step(r, "post").update(when="approvals.draft.approved"),
            "step post: when: `approvals.draft` is not an approval step",
        ),
        (
            lambda r: step(r, "post").update(when="approvals.review.approved &&"),
            "step post: when: CEL does not parse",
        ),
        (
            lambda r: step(r, "post").update(when="secrets.key"),
            "step post: when: `secrets.key` uses unknown name(s) secrets",
        ),
        (
            lambda r: step(r, "draft").update(timeout="5 minutes"),
            "step draft: timeout: not a duration: '5 minutes'",
        ),
        (
            lambda r: step(r, "review")["approval"].update(timeout="-1h"),
            "step review: approval.timeout: not a duration",
        ),
        (lambda r: r["params"]["n"].update(default="two"), "param n: bad default: param `n`"),
        (
            lambda r: step(r, "post").update(foreach="${params.topic}"),
            "step post: `foreach` needs `max_parallel`",
        ),
        (
            lambda r: step(r, "post").update(approval={"prompt": "x"}),
            "step post: a step has exactly one kind",
        ),
        (lambda r: step(r, "draft").pop("mode"), "step draft: an agent step needs `mode`"),
        (
            lambda r: step(r, "draft").update(retry={"maximum_attempts": 0}),
            "step draft: retry.maximum_attempts: Input should be greater than or equal to 1",
        ),
        (
            lambda r: r.update(version=0),
            "spec: version: Input should be greater than or equal to 1",
        ),
        (lambda r: r.pop("description"), "spec: missing required key `description`"),
        (lambda r: r.update(name="other"), "spec: name `other` must equal the file name `good`"),
        (
            lambda r: r.update(example={"topic": 3}),
            "example: param `topic`: Input should be a valid string",
        ),
        (
            lambda r: r["steps"].append(
                {
                    "id": "fan",
                    "agent": "noop",
                    "mode": "echo",
                    "foreach": "${params.topic}",
                    "max_parallel": 10,
                    "max_items": 10000,
                }
            ),
            "spec: worst case is 60",
        ),
        (
            lambda r: (
                r["steps"].append(
                    {
                        "id": "fan",
                        "agent": "noop",
                        "mode": "echo",
                        "foreach": "${params.topic}",
                        "max_parallel": 1000,
                        "max_items": 1000,
                    }
                )
                or r["steps"].append(
                    {
                        "id": "fan3",
                        "agent": "noop",
                        "mode": "echo",
                        "foreach": "${params.topic}",
                        "max_parallel": 10,
                        "max_items": 10,
                    }
                )
                or r["steps"].append(
                    {
                        "id": "fan2",
                        "agent": "noop",
                        "mode": "echo",
                        "foreach": "${params.topic}",
                        "max_parallel": 1000,
                        "max_items": 1000,
                    }
                )
            ),
            "activities could be pending at once",
        ),
        (
            lambda r: r["steps"].append(
                {"id": "pick", "choice": {"prompt": "?", "options": {"a": ["draft"], "b": []}}}
            ),
            "step draft: named by choice `pick` (option `a`) but does not come after it",
        ),
    ],
)
def test_bad_spec_message(mutate: Any, expected: str) -> None:
    assert expected in problems(mutate, templates={"good"})


def test_yaml_files_are_loaded_safely(tmp_path: Path) -> None:
    cases = {
        "tagged.yaml": "name: tagged\nversion: 1\ndescription: !!python/object/apply:os.system [echo hi]\nsteps: []\n",
        "broken.yaml": "name: broken\nsteps: [\n",
        "big.yaml": "description: '" + "x" * (MAX_SPEC_BYTES + 1) + "'\n",
        "list.yaml": "- just\n- a list\n",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(CompileError) as e:
        load_registry([tmp_path])
    text = str(e.value)
    assert "tagged.yaml: line 3, column 14: tags are not allowed in specs" in text
    assert "broken.yaml: line 3" in text
    assert f"big.yaml: file is larger than {MAX_SPEC_BYTES // 1024} KiB" in text
    assert "list.yaml: a spec must be a mapping" in text


def test_a_spec_changed_without_a_version_bump_is_refused(tmp_path: Path) -> None:
    spec = (REPO / "dag_specs/examples/hello_approval.yaml").read_text()
    (tmp_path / "versions").mkdir()
    (tmp_path / "versions" / "hello_approval@1.yaml").write_text(spec)
    (tmp_path / "hello_approval.yaml").write_text(
        spec.replace("max_parallel: 3", "max_parallel: 4")
    )
    with pytest.raises(CompileError) as e:
        load_registry([tmp_path])
    assert "changed without a version bump" in str(e.value)
    assert "bump `version:` and run `bizos specs freeze`" in str(e.value)


def test_every_current_template_version_is_frozen() -> None:
    """Change a template without bumping its version and this fails (old runs replay on the
    frozen copy, so it must never change)."""
    reg = load_registry()
    for dag in reg.current.values():
        frozen = Path(dag.source).parent / "versions" / f"{dag.name}@{dag.version}.yaml"
        assert frozen.exists(), f"{dag.source}: run `bizos specs freeze` to freeze v{dag.version}"
        assert reg.versions[(dag.workflow_type, dag.version)].hash == dag.hash


def test_cli_validate_reports_problems_without_traceback_or_crewai(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nversion: 1\ndescription: d\nsteps:\n"
        "  - {id: a, agent: noop, mode: echo, after: [b]}\n"
        "  - {id: b, agent: noop, mode: echo, after: [a]}\n"
    )
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from starters.cli import app\n"
        f"r = CliRunner().invoke(app, ['specs', 'validate', {str(bad)!r}])\n"
        "print(r.output)\n"
        "print('CREWAI_IMPORTED' if 'crewai' in sys.modules else 'NO_CREWAI')\n"
        "sys.exit(r.exit_code)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"{bad}: step a: cycle: a -> b -> a" in out.stdout.replace("\n", "")
    assert "Traceback" not in out.stdout + out.stderr
    assert "NO_CREWAI" in out.stdout


def test_cli_validate_passes_on_the_shipped_templates() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "starters.cli", "specs", "validate", "-o", "json"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert '"ok": true' in out.stdout


def test_expression_values_keep_their_types() -> None:
    from workflows.expressions import EvaluationError, Scope, compile_cel, compile_template

    scope = Scope({"xs": ["b", "c"], "n": 2}, {}, {}, {})
    # list concatenation comes back from cel-python as a plain list of CEL values
    assert compile_cel("['a'] + params.xs").evaluate(scope) == ["a", "b", "c"]
    assert compile_cel("{'k': params.xs, 'm': double(params.n) * 1.5}").evaluate(scope) == {"k": ["b", "c"], "m": 3.0}
    # an error inside a map literal is an error, not a string value that reaches an agent
    with pytest.raises(EvaluationError, match="no matching overload"):
        compile_cel("{'m': params.n * 1.5}").evaluate(scope)
    t = compile_template({"all": "${['a'] + params.xs}", "text": "n=${params.n} xs=${params.xs}"})
    assert t.render(scope) == {"all": ["a", "b", "c"], "text": 'n=2 xs=["b", "c"]'}


def test_cli_validate_reports_every_problem_in_one_pass(tmp_path: Path) -> None:
    """A spec the model refuses (no `description`) still gets the checks across its steps:
    its duplicate id, unknown agent and cycle are reported in the same run."""
    bad = tmp_path / "broken.yaml"
    bad.write_text(
        "name: broken\nversion: 1\nsteps:\n"
        "  - {id: a, agent: noop, mode: echo, after: [b]}\n"
        "  - {id: b, agent: noop, mode: echo, after: [a]}\n"
        "  - {id: c, agent: noop, mode: echo}\n"
        "  - {id: c, agent: nobody, mode: echo}\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "starters.cli", "specs", "validate", str(bad)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    lines = [line for line in out.stdout.splitlines() if line.startswith(f"{bad}: ")]
    assert sorted(lines) == sorted(
        [
            f"{bad}: spec: missing required key `description`",
            f"{bad}: step c: duplicate id",
            f"{bad}: step c: unknown agent `nobody` (did you mean `noop`?)",
            f"{bad}: step a: cycle: a -> b -> a",
        ]
    ), out.stdout
