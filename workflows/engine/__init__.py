"""The DAG runtime, split by concern: one dynamic Temporal workflow (`workflow.py`) that runs
every compiled template, built from the scheduling loop, run state, decisions, budget, step
kinds, progress and UI text. Everything here is deterministic and I/O free outside
`workflow.*`; changes that alter commands follow docs/versioning.md."""
