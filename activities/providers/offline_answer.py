"""The offline policy's final answer: the mode's output model, filled from the tool results.

Deterministic and built only from what the tools returned and the step input, so a
different input gives a different answer. Every family gets the shared fields (title,
summary, metrics, recommendations, artifacts); the family fields are arranged from the same
material (findings per tool, plan steps from recommendations, a metrics table, variants per
tool, options scored from metrics).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel

SUBJECT_KEYS = (
    "topic",
    "product",
    "company",
    "game",
    "symbol",
    "service",
    "repo",
    "store",
    "community",
    "goal",
    "project",
    "url",
    "feature",
    "market",
)
TEXT_KEYS = ("body", "text", "content", "markdown", "draft", "code", "html", "svg", "hcl", "yaml")
MAX_RECOMMENDATIONS = 8


class ToolResult(BaseModel):
    """One observation the policy read back from the conversation."""

    tool: str
    ok: bool
    data: dict[str, Any] = {}
    error: str = ""


def subject_of(inputs: dict[str, Any]) -> str:
    for key in SUBJECT_KEYS:
        value = inputs.get(key)
        if isinstance(value, str | int | float) and str(value).strip():
            return str(value).strip()[:120]
    if inputs:
        digest = hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode())
        return f"input {digest.hexdigest()[:8]}"
    return "the default scenario"


def _metrics(results: list[ToolResult]) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in results:
        for key, value in (r.data.get("metrics") or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[f"{r.tool}.{key}"] = float(value)
    return out


def _recommendations(results: list[ToolResult]) -> list[str]:
    seen: dict[str, None] = {}
    for r in results:
        for rec in r.data.get("recommendations") or []:
            if isinstance(rec, str) and rec.strip():
                seen.setdefault(rec.strip(), None)
    return list(seen)[:MAX_RECOMMENDATIONS]


def _artifacts(results: list[ToolResult]) -> list[str]:
    seen: dict[str, None] = {}
    for r in results:
        for path in r.data.get("artifacts") or []:
            seen.setdefault(str(path), None)
    return list(seen)


def _headline(r: ToolResult) -> str:
    if not r.ok:
        return f"{r.tool} could not run: {r.error[:160]}"
    return str(r.data.get("headline") or f"{r.tool} returned no headline")


def _detail(r: ToolResult, limit: int = 6) -> str:
    if not r.ok:
        return r.error[:300]
    metrics = r.data.get("metrics") or {}
    parts = [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()]
    return ", ".join(parts[:limit])


def _long_text(r: ToolResult) -> str:
    for key in TEXT_KEYS:
        value = r.data.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return ""


def build_answer(
    family: str,
    *,
    agent_name: str,
    mode: str,
    mode_description: str,
    inputs: dict[str, Any],
    results: list[ToolResult],
) -> dict[str, Any]:
    subject = subject_of(inputs)
    metrics = _metrics(results)
    recs = _recommendations(results)
    headlines = [_headline(r) for r in results]
    base: dict[str, Any] = {
        "title": f"{agent_name} — {mode.replace('_', ' ')}: {subject}",
        "summary": " ".join(headlines)[:600] or f"{mode_description} for {subject}",
        "metrics": metrics,
        "recommendations": recs,
        "artifacts": _artifacts(results),
    }
    builder = _FAMILIES[family]
    base.update(builder(subject, mode_description, results, metrics, recs))
    return base


def _report(subject: str, desc: str, results: list[ToolResult], *_: Any) -> dict[str, Any]:
    return {
        "findings": [
            {"title": _headline(r), "detail": _detail(r), "source": r.tool} for r in results
        ]
    }


def _plan(
    subject: str, desc: str, results: list[ToolResult], metrics: dict[str, float], recs: list[str]
) -> dict[str, Any]:
    actions = recs or [_headline(r) for r in results]
    steps = [
        {
            "name": action[:80],
            "description": action,
            "owner": "",
            "horizon": f"phase {i + 1}",
        }
        for i, action in enumerate(actions)
    ]
    risks = [f"{r.tool} failed: {r.error[:120]}" for r in results if not r.ok]
    return {
        "objective": f"{desc.rstrip('.')} for {subject}",
        "steps": steps,
        "kpis": sorted(metrics)[:8],
        "risks": risks,
    }


def _table(
    subject: str, desc: str, results: list[ToolResult], metrics: dict[str, float], recs: list[str]
) -> dict[str, Any]:
    rows: list[list[Any]] = []
    for r in results:
        for key, value in (r.data.get("metrics") or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                rows.append([r.tool, key, float(value)])
        if not r.ok:
            rows.append([r.tool, "error", None])
    return {"columns": ["source", "metric", "value"], "rows": rows}


def _creative(subject: str, desc: str, results: list[ToolResult], *_: Any) -> dict[str, Any]:
    variants = []
    for r in results:
        artifacts = r.data.get("artifacts") or []
        fmt = str(artifacts[0]).rsplit(".", 1)[-1] if artifacts else "text"
        body = _long_text(r) or "\n".join(r.data.get("recommendations") or []) or _detail(r)
        variants.append({"name": r.tool, "headline": _headline(r), "body": body, "format": fmt})
    return {"variants": variants, "guidelines": [f"Made for {subject}; review before publishing."]}


def _decision(
    subject: str, desc: str, results: list[ToolResult], metrics: dict[str, float], recs: list[str]
) -> dict[str, Any]:
    candidates = recs or [_headline(r) for r in results]
    # Score options by how much of the evidence backs them: deterministic, input-dependent.
    total = sum(abs(v) for v in metrics.values()) or 1.0
    scored: list[tuple[float, str]] = []
    for i, name in enumerate(candidates):
        weight = sum(abs(v) for k, v in metrics.items() if hash_bucket(k, len(candidates)) == i)
        scored.append((round(weight / total, 4), name))
    scored.sort(key=lambda o: (-o[0], o[1]))
    best_score, best = scored[0]
    ok = sum(r.ok for r in results) / max(1, len(results))
    confidence = round(min(0.95, 0.35 + 0.4 * best_score + 0.2 * ok), 3)
    options = [{"name": name[:120], "score": score, "rationale": name} for score, name in scored]
    return {
        "question": f"{desc.rstrip('.')} — {subject}",
        "decision": best[:120],
        "confidence": confidence,
        "options": options,
    }


def hash_bucket(key: str, buckets: int) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % max(1, buckets)


_FAMILIES = {
    "report": _report,
    "plan": _plan,
    "table": _table,
    "creative": _creative,
    "decision": _decision,
}
