"""Fixtures for the tool tests: an output directory per test, no secrets from the developer's
environment, and a connector transport that fails the test if anything tries the network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import activities.tools  # noqa: F401 - registers every tool
from activities import secrets
from activities.tools import connectors


class DictSecrets:
    def __init__(self, values: dict[str, str] | None = None) -> None:
        self.values = dict(values or {})

    def get(self, name: str) -> str | None:
        return self.values.get(name) or None


@pytest.fixture
def out(tmp_path: Path) -> str:
    return str(tmp_path)


@pytest.fixture(autouse=True)
def isolated_secrets() -> Iterator[DictSecrets]:
    """No real credentials leak into tests; tests add what they need."""
    backend = DictSecrets()
    previous = secrets.set_backend(backend)
    yield backend
    secrets.set_backend(previous)


@pytest.fixture(autouse=True)
def no_network_transport() -> Iterator[None]:
    def refuse(req: connectors.PreparedRequest, timeout: float) -> tuple[int, bytes]:
        raise AssertionError(f"a test tried to reach the network: {req.redacted()}")

    previous = connectors.set_transport(refuse)
    yield
    connectors.set_transport(previous)
