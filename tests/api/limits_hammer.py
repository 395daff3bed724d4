"""One process of the shared-limit test: `python tests/api/limits_hammer.py URL PREFIX TENANT
KEY TENANT_LIMIT KEY_LIMIT ATTEMPTS CONCURRENCY`. Prints `ready`, waits for a line on stdin,
then makes ATTEMPTS `hit`s with CONCURRENCY tasks and prints one JSON line of counts."""

from __future__ import annotations

import asyncio
import json
import sys

from api.limits import LimitsUnavailable, RateLimiter, TenantLimits
from api.redis_conn import make_client


async def main(argv: list[str]) -> None:
    url, prefix, tenant, key = argv[:4]
    tenant_limit, key_limit, attempts, concurrency = (int(a) for a in argv[4:8])
    client = make_client(url, 0.5)
    limiter = RateLimiter(
        client, defaults=TenantLimits(tenant_limit, key_limit), key_prefix=prefix, deadline_s=5
    )
    await client.ping()  # type: ignore[misc]
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    counts = {"allowed": 0, "denied": 0, "errors": 0}
    left = attempts

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            try:
                decision = await limiter.hit(tenant, key)
            except LimitsUnavailable:
                counts["errors"] += 1
                continue
            counts["allowed" if decision.allowed else "denied"] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await client.aclose()
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
