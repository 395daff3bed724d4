"""Agent activities, the agent catalog, the LLM provider layer and the agents' tools.

* ``agent_step`` — the `run_agent` activity, the per-worker runtime, one step end to end
* ``crew`` — everything that touches CrewAI (and every CrewAI private API, in ``patches``)
* ``catalog`` — the agents (YAML), their output models and configuration overrides
* ``providers`` — the LLM provider chain and the offline policy
* ``tools`` — the agents' tools

Nothing here is imported inside the workflow sandbox except the plain pydantic
contract (``activities.contract``) and the catalog index (``activities.catalog``).
Nothing here imports ``workflows``: imports run starters → worker → workflows/activities →
store.
"""
