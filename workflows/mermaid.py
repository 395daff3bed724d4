"""A compiled template as a Mermaid flowchart (`bizos specs show <name> --mermaid`)."""

from __future__ import annotations

from workflows.compiler import CompiledDag


def _label(text: str) -> str:
    return text.replace('"', "'")


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
            lines.append(f'    {sid}{{{{"{sid}<br/><small>approval</small>"}}}}')
        elif step.kind == "choice":
            lines.append(f'    {sid}{{"{sid}<br/><small>choice</small>"}}')
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
    lines.append("    classDef human fill:#fff4d6,stroke:#c79a00")
    humans = [sid for sid, st in dag.steps.items() if st.kind in ("approval", "choice")]
    if humans:
        lines.append(f"    class {','.join(humans)} human")
    return "\n".join(lines) + "\n"
