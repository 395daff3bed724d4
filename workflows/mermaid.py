"""A compiled template as a Mermaid flowchart (`bizos specs show <name> --mermaid`)."""

from __future__ import annotations

from datetime import timedelta

from workflows.compiler import CompiledDag, CompiledStep


def _label(text: str) -> str:
    return text.replace('"', "'")


def _people(step: CompiledStep) -> str:
    """Escalation levels (group and timeout each) and the bound outputs, under the name."""
    levels = step.people.levels
    parts = []
    if len(levels) > 1 or (levels and levels[0].group):
        asks = (f"{lv.group or 'any'} {duration_text(lv.timeout)}" for lv in levels)
        parts.append(" → ".join(asks))
    if step.people.bind:
        parts.append("bound to " + ", ".join(step.people.bind))
    return "".join(f"<br/>{_label(p)}" for p in parts)


def duration_text(d: timedelta) -> str:
    """`2h`, `30m`, `90s`: the largest whole unit."""
    seconds = int(d.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def to_mermaid(dag: CompiledDag) -> str:
    lines = ["flowchart TD"]
    for sid, step in dag.steps.items():
        s = step.spec
        extra = ""
        if s.foreach is not None:
            extra = f"<br/>foreach, {s.max_parallel} at once"
        if step.kind == "agent":
            lines.append(f'    {sid}["{sid}<br/><small>{s.agent}/{s.mode}</small>{extra}"]')
        elif step.kind == "approval":
            lines.append(f'    {sid}{{{{"{sid}<br/><small>approval{_people(step)}</small>"}}}}')
        elif step.kind == "choice":
            lines.append(f'    {sid}{{"{sid}<br/><small>choice{_people(step)}</small>"}}')
        else:
            lines.append(f'    {sid}[["{sid}<br/><small>child {s.workflow}</small>{extra}"]]')
    gated = {sid: step.gated_by for sid, step in dag.steps.items() if step.gated_by}
    for sid, step in dag.steps.items():
        for dep in step.after:
            gate = gated.get(sid)
            if gate and gate[0] == dep:
                opts = " / ".join(sorted(gate[1]))
                lines.append(f'    {dep} -- "{_label(opts)}" --> {sid}')
            elif step.spec.when:
                lines.append(f'    {dep} -. "{_label(step.spec.when)}" .-> {sid}')
            else:
                lines.append(f"    {dep} --> {sid}")
    for sid, step in dag.steps.items():
        people = step.people
        if people.revise_loop:
            n = people.max_revisions
            label = f"revise, at most {n} times"
            lines.append(f'    {sid} -. "{_label(label)}" .-> {people.revise_loop[0]}')
    lines.append("    classDef human fill:#fff4d6,stroke:#c79a00")
    humans = [sid for sid, st in dag.steps.items() if st.kind in ("approval", "choice")]
    if humans:
        lines.append(f"    class {','.join(humans)} human")
    return "\n".join(lines) + "\n"
