"""Switches for the agent-step speed-ups of issue #14, so a benchmark can measure each of
them before and after in one run (`bizos bench agent-step`):

* ``tooldesc`` — memoised tool description blocks (`activities.crew.patches`, item 8);
* ``events`` — live events coalesced into one write per short step (`live_events`);
* ``trim`` — two malloc arenas, and the heap given back after a burst (`runtime`, `memory`);
* ``gcfreeze`` — the objects of the startup imports moved out of the collector's reach, so
  full collections during steps skip them (`runtime`).

``BIZOS_STEP_SPEEDUPS`` unset or ``1``: all on; ``0``: all off; otherwise a comma-separated
list of the ones on (e.g. ``tooldesc,events``).
"""

from __future__ import annotations

import os

ALL = frozenset({"tooldesc", "events", "trim", "gcfreeze"})


def step_speedups(name: str) -> bool:
    value = os.environ.get("BIZOS_STEP_SPEEDUPS", "1").strip()
    if value in ("", "1"):
        return True
    if value == "0":
        return False
    return name in {v.strip() for v in value.split(",")}
