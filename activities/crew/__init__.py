"""Everything that touches CrewAI: its environment (``env``), the private APIs the platform
relies on (``patches``, re-check on every crewai upgrade), the crew of one step
(``builder``) and the registry's tools as CrewAI tools (``toolbox``).

Importing any module of this package sets CrewAI's environment first (telemetry off, data
under ``$BIZOS_HOME``): the switches are read when crewai is imported.
"""

from activities.crew import env as _env  # noqa: F401  (before any submodule imports crewai)
