"""Cohort retention maths shared by `cohort_analysis` and `retention_cohorts`.

Definitions (stated because tools disagree on them in the wild):
* period retention — share of a cohort active in the k-th period after its first period;
* day-N retention — share of users with activity exactly N days after install ("classic"),
  counted only over users installed at least N days before the data ends (eligible users).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def period_retention(
    df: pd.DataFrame, user_col: str, date_col: str, period: str = "month"
) -> tuple[pd.Series, pd.DataFrame]:
    """(cohort sizes, retention matrix cohort x period offset, as fractions)."""
    import pandas as pd

    freq = {"month": "M", "week": "W"}[period]
    dates = pd.to_datetime(df[date_col])
    p = dates.dt.to_period(freq)
    frame = pd.DataFrame({"user": df[user_col].to_numpy(), "p": p})
    first = frame.groupby("user")["p"].transform("min")
    frame["cohort"] = first
    frame["offset"] = (frame["p"] - first).apply(lambda x: x.n).astype(int)
    active = frame.drop_duplicates(["user", "offset"]).groupby(["cohort", "offset"]).size()
    matrix = active.unstack(fill_value=0).sort_index()
    sizes = matrix[0]
    retention = matrix.div(sizes, axis=0)
    # A cohort cannot be observed beyond the end of the data: blank, not zero.
    last = p.max()
    for cohort in retention.index:
        horizon = (last - cohort).n
        retention.loc[cohort, retention.columns > horizon] = float("nan")
    retention.index = retention.index.astype(str)
    sizes.index = sizes.index.astype(str)
    return sizes, retention


def day_n_retention(
    df: pd.DataFrame,
    user_col: str,
    date_col: str,
    install_col: str | None = None,
    days: tuple[int, ...] = (1, 7, 30),
) -> tuple[dict[int, float], dict[int, int], pd.DataFrame]:
    """(overall rate per N, eligible users per N, per install-week cohort table)."""
    import pandas as pd

    dates = pd.to_datetime(df[date_col]).dt.normalize()
    frame = pd.DataFrame({"user": df[user_col].to_numpy(), "d": dates})
    if install_col:
        frame["install"] = pd.to_datetime(df[install_col]).dt.normalize()
    else:
        frame["install"] = frame.groupby("user")["d"].transform("min")
    frame["age"] = (frame["d"] - frame["install"]).dt.days
    end = frame["d"].max()
    installs = frame.groupby("user")["install"].first()
    overall: dict[int, float] = {}
    eligible_n: dict[int, int] = {}
    cohort_week = installs.dt.to_period("W").astype(str)
    table = pd.DataFrame({"installs": cohort_week.value_counts().sort_index()})
    for n in days:
        eligible = installs[installs <= end - pd.Timedelta(days=n)]
        returned = set(frame.loc[frame["age"] == n, "user"])
        flags = eligible.index.to_series().isin(returned)
        eligible_n[n] = len(eligible)
        overall[n] = float(flags.mean()) if len(eligible) else float("nan")
        by_week = flags.groupby(cohort_week[eligible.index]).mean()
        table[f"d{n}"] = by_week
    return overall, eligible_n, table
