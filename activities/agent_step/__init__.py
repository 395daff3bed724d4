"""The agent step: the `run_agent` activity (``activity``), the per-worker runtime it runs on
(``runtime``), one step from catalog entry to validated result (``step``) and its parts —
call journal, typed errors, heartbeats, outages waited out inside an attempt (``outages``),
the built-in ``noop`` agent.

Imports run one way: activity → runtime → step → ``activities.crew`` / providers / catalog.
The step needs only a `StepHost` (a Protocol the runtime satisfies), so it never imports the
runtime. Nothing is re-exported here: importing this package stays free of crewai.
"""
