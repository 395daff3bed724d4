"""The agents' tools: real, local, deterministic work on pydantic models.

Importing this package registers every tool in `activities.tools.registry.TOOLS`.
"""
