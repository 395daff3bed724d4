"""Agent activities, the agent catalog, the LLM provider layer and the agents' tools.

Nothing here is imported inside the workflow sandbox except the plain pydantic
contract (``activities.contract``) and the catalog index (``activities.catalog``).
"""
