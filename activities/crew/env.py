"""Make CrewAI quiet and local. Import this module before anything imports ``crewai``.

CrewAI sends telemetry, traces to its cloud, may prompt on a terminal for 20 s on the
first traced run, and writes into the home directory, unless told otherwise through
environment variables read *at import time*. So this module only sets those variables;
every module that imports crewai imports it first: the ``activities.crew`` package does it
in its ``__init__`` (so every ``activities.crew.*`` module is covered) and the provider
modules import ``activities.crew.env`` themselves. ``OTEL_SDK_DISABLED`` is deliberately
left alone: it would switch off the platform's own OpenTelemetry tracing too.

It also moves CrewAI's settings file under ``$BIZOS_HOME`` by setting
``crewai_core.settings.DEFAULT_CONFIG_PATH`` — a CrewAI internal, listed with the others in
``activities.crew.patches``; it is set here because it must happen before crewai loads.
"""

from __future__ import annotations

import os
import sys

from store.settings import bizos_home

_QUIET = {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "ANONYMIZED_TELEMETRY": "False",
}


def apply() -> None:
    """Idempotent. Forces the telemetry switches and points CrewAI's data dir (XDG_DATA_HOME,
    read by CrewAI through ``appdirs``) under ``$BIZOS_HOME/crewai``."""
    if "crewai" in sys.modules and os.environ.get("CREWAI_DISABLE_TELEMETRY") != "true":
        # Too late to take effect for this process: say so instead of silently phoning home.
        raise RuntimeError(
            "crewai was imported before activities.crew.env; import activities.crew.env "
            "first (telemetry switches are read when crewai is imported)"
        )
    os.environ.update(_QUIET)
    data_home = bizos_home() / "crewai"
    data_home.mkdir(parents=True, exist_ok=True)
    os.environ["XDG_DATA_HOME"] = str(data_home)
    # CrewAI's settings file goes to ~/.config/crewai/ (Path.home(), not XDG): keep it under
    # $BIZOS_HOME too. The module reads this attribute when it first needs the file.
    try:
        import crewai_core.settings as crewai_settings
    except ImportError:  # pragma: no cover - older crewai without crewai_core
        return
    crewai_settings.DEFAULT_CONFIG_PATH = data_home / "settings.json"  # type: ignore[misc]


apply()
