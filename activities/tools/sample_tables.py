"""Deterministic sample tables (sales, user events, game sessions) for the analytics tools.

Shapes resemble what the tools get in practice — skewed categories, trend, weekly
seasonality, a few planted anomalies — so a run without data still exercises every code path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

REGIONS = ("North America", "Europe", "APAC", "LATAM", "Middle East")
CHANNELS = ("organic", "paid_search", "social", "email", "referral", "direct")


def sales_table(gen: np.random.Generator, rows: int, days: int = 730) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    start = np.datetime64("2023-01-01")
    # Later days get more rows (growth) and weekends fewer (seasonality).
    day_weights = np.linspace(1.0, 1.0 + gen.uniform(0.2, 0.8), days)
    dow = (np.arange(days) + 6) % 7  # 2023-01-01 was a Sunday
    day_weights *= np.where(dow >= 5, 0.7, 1.0)
    spikes = gen.choice(days, size=3, replace=False)
    day_weights[spikes] *= gen.uniform(3.0, 5.0, size=3)
    day_idx = gen.choice(days, size=rows, p=day_weights / day_weights.sum())
    region_p = gen.dirichlet(np.full(len(REGIONS), 2.0))
    channel_p = gen.dirichlet(np.full(len(CHANNELS), 2.0))
    n_products = 20
    price_list = np.round(gen.uniform(5, 200, size=n_products), 2)
    product = gen.integers(0, n_products, size=rows)
    units = gen.poisson(2.0, size=rows) + 1
    sessions = units * gen.integers(3, 30, size=rows)
    return pd.DataFrame(
        {
            "date": start + day_idx.astype("timedelta64[D]"),
            "region": pd.Categorical.from_codes(
                gen.choice(len(REGIONS), size=rows, p=region_p), REGIONS
            ),
            "channel": pd.Categorical.from_codes(
                gen.choice(len(CHANNELS), size=rows, p=channel_p), CHANNELS
            ),
            "product": np.char.add("SKU-", (product + 100).astype(str)),
            "units": units,
            "price": price_list[product],
            "revenue": np.round(units * price_list[product], 2),
            "sessions": sessions,
            "conversions": (gen.random(rows) < 0.3).astype(int),
        }
    )


def activity_events(
    gen: np.random.Generator, users: int, days: int = 180, base_retention: float = 0.5
) -> pd.DataFrame:
    """One row per (user, active day): installs spread over the window, activity decaying with
    age like real retention curves (a power law in days since install)."""
    import numpy as np
    import pandas as pd

    start = np.datetime64("2024-01-01")
    install = gen.integers(0, days, size=users)
    stickiness = gen.beta(2.0, 2.0 / base_retention, size=users)
    # Most users leave for good at some point (exponential lifetime, longer for sticky ones).
    lifetime = gen.exponential(scale=3.0 + 150.0 * stickiness**2, size=users)
    ages = np.arange(days)
    p_active = np.clip(stickiness[:, None] * (1 + ages[None, :]) ** -0.15, 0, 1)
    p_active[:, 0] = 1.0
    active = gen.random((users, days)) < p_active
    active &= ages[None, :] <= lifetime[:, None]
    active &= (install[:, None] + ages[None, :]) < days
    uid, age = np.nonzero(active)
    day = install[uid] + age
    return pd.DataFrame(
        {
            "user_id": np.char.add("u", uid.astype(str)),
            "install_date": start + install[uid].astype("timedelta64[D]"),
            "event_date": start + day.astype("timedelta64[D]"),
        }
    )
