"""Alembic migrations of the store (a package so wheels ship them)."""
