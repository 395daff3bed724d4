"""The HTTP agent-execution service (FastAPI): tenants, keys and roles, limits, idempotency,
executions of agents and templates, decisions, costs, webhooks. `bizos api` serves it."""
