#!/usr/bin/env python3
"""Container healthcheck: exit 0 when every URL given answers 2xx within the timeout.

Standard library only, so it runs in any image with a Python; installed in the BizOS image as
`bizos-healthcheck`. Used for the API (`/healthz`) and for workers and the exporter (their
Prometheus endpoint answers only while the process and its metrics runtime are up).
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

TIMEOUT_S = 4.0


def healthy(url: str, timeout_s: float = TIMEOUT_S) -> str | None:
    """None when `url` answers 2xx, else why not."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            status = int(resp.status)
    except urllib.error.HTTPError as e:
        return f"{url}: HTTP {e.code}"
    except (OSError, ValueError) as e:
        return f"{url}: {e}"
    return None if 200 <= status < 300 else f"{url}: HTTP {status}"


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: bizos-healthcheck URL [URL ...]", file=sys.stderr)
        return 2
    problems = [p for p in (healthy(u) for u in argv) if p]
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
