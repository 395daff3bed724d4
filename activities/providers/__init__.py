"""The LLM provider layer: provider references and their credentials, the price table, the
failover chain over CrewAI's native providers (OpenAI, Anthropic, Gemini, any
OpenAI-compatible endpoint) and the deterministic ``offline`` policy.

``refs`` and ``prices`` are light (the catalog and the CLI import them); the modules that
import crewai (``chain``, ``native``, ``offline``) load only in agent workers.
"""
