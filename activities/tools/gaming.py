"""Gaming tools: `tournament_bracket`, `retention_cohorts` (D1/D7/D30), `skill_ratings`
(Elo, Glicko-2) and `game_balance` (win-rate outliers with confidence intervals)."""

from __future__ import annotations

import math
from collections import defaultdict

from pydantic import AliasChoices, BaseModel, Field

from activities.tools.artifacts import ArtifactWriter
from activities.tools.brackets import build
from activities.tools.errors import InvalidToolInput
from activities.tools.ratings import GlickoPlayer, elo_expected, elo_update, glicko2_update
from activities.tools.registry import ToolInput, ToolOutput, tool
from activities.tools.sampling import np_rng, rng
from activities.tools.tabular import read_table, require_columns

_HANDLES = (
    "Ace",
    "Blaze",
    "Comet",
    "Dash",
    "Echo",
    "Fang",
    "Ghost",
    "Hex",
    "Ion",
    "Jinx",
    "Kai",
    "Lynx",
    "Muse",
    "Nyx",
    "Onyx",
    "Pike",
)

# --------------------------------------------------------------------------- tournament_bracket


class BracketMatch(BaseModel):
    id: str
    bracket: str
    round: int
    a: str
    b: str
    if_necessary: bool = False


class TournamentInput(ToolInput):
    players: list[str] = Field(
        default_factory=list, description="names, best seed first unless ratings are given"
    )
    ratings: dict[str, float] = Field(
        default_factory=dict, description="name -> rating; seeds by rating when given"
    )
    n_players: int = Field(
        default=64, ge=2, le=4096, description="sample field size when no players are given"
    )
    format: str = Field(default="single", description="single | double")
    grand_final_reset: bool = True
    name: str = "Tournament"


class TournamentOutput(ToolOutput):
    format: str = ""
    players: int = 0
    bracket_size: int = 0
    seeds: list[str] = Field(default_factory=list)
    byes: list[str] = Field(default_factory=list)
    matches: list[BracketMatch] = Field(default_factory=list)
    rounds: dict[str, int] = Field(default_factory=dict)
    bracket_path: str = ""


@tool(
    "tournament_bracket",
    "Single or double elimination bracket with seeding and byes (any field size, 64+ fine)",
)
def tournament_bracket(inp: TournamentInput) -> TournamentOutput:
    if inp.format not in ("single", "double"):
        raise InvalidToolInput(f"format must be single or double, not {inp.format!r}")
    players = list(inp.players)
    if not players:
        rnd = rng(inp, "bracket")
        players = [f"{rnd.choice(_HANDLES)}{i + 1:03d}" for i in range(inp.n_players)]
        ratings = inp.ratings or {p: round(rnd.gauss(1500, 200)) for p in players}
    else:
        ratings = inp.ratings
    if len(set(players)) != len(players):
        raise InvalidToolInput("player names must be unique")
    unknown = [p for p in ratings if p not in players]
    if unknown and inp.players:
        raise InvalidToolInput(f"ratings for players not in the field: {', '.join(unknown[:5])}")
    if ratings:
        # stable: equal ratings keep the given order
        players = sorted(players, key=lambda p: -ratings.get(p, float("-inf")))
    br = build(players, double=inp.format == "double", reset=inp.grand_final_reset)
    seed_of = {p: i + 1 for i, p in enumerate(players)}
    byes = sorted(br.byes, key=lambda p: seed_of[p])
    matches = [BracketMatch(**m.__dict__) for m in br.matches]
    rounds = {
        b: max((m.round for m in br.matches if m.bracket == b), default=0)
        for b in ("winners", "losers", "grand_final")
    }
    writer = ArtifactWriter(inp, "tournament_bracket")
    md = [f"# {inp.name} ({inp.format} elimination, {len(players)} players)", ""]
    for bracket in ("winners", "losers", "grand_final"):
        for r, ms in sorted(br.by_round(bracket).items()):
            md.append(f"## {bracket.replace('_', ' ').title()} round {r}")
            md += [
                f"- {m.id}: {m.a} vs {m.b}" + (" (if necessary)" if m.if_necessary else "")
                for m in ms
            ] + [""]
    writer.text("bracket", "md", "\n".join(md))
    path = writer.json(
        "bracket", {"players": players, "byes": byes, "matches": [m.model_dump() for m in matches]}
    )
    played = sum(1 for m in matches if not m.if_necessary)
    return TournamentOutput(
        headline=(
            f"{inp.format.capitalize()} elimination for {len(players)} players "
            f"(bracket of {br.size}, {len(byes)} byes): {played} matches"
        )
        + (" + 1 if the grand final resets" if len(matches) > played else "")
        + f", {rounds['winners']} winners' rounds.",
        metrics={
            "players": float(len(players)),
            "bracket_size": float(br.size),
            "byes": float(len(byes)),
            "matches": float(played),
            "winners_rounds": float(rounds["winners"]),
            "losers_rounds": float(rounds["losers"]),
        },
        recommendations=[
            f"Seed 1 ({players[0]}) and seed 2 ({players[1]}) can only meet in the final.",
            (
                "Publish the bracket before check-in closes; re-seed only if "
                "a player drops before round 1."
            ),
        ],
        artifacts=writer.written,
        format=inp.format,
        players=len(players),
        bracket_size=br.size,
        seeds=players,
        byes=byes,
        matches=matches,
        rounds=rounds,
        bracket_path=path,
    )


# --------------------------------------------------------------------------- retention_cohorts

_BENCH = {1: 0.40, 7: 0.15, 30: 0.06}  # common mobile-game benchmarks


class RetentionInput(ToolInput):
    sessions_path: str | None = Field(
        default=None,
        validation_alias=AliasChoices("sessions_path", "events_path", "data_path", "path"),
    )
    player_column: str = "player_id"
    date_column: str = "session_date"
    install_column: str | None = Field(
        default=None, description="install date column; first session when absent"
    )
    players: int = Field(default=5000, ge=10, le=500_000, description="sample size without data")


class RetentionOutput(ToolOutput):
    d1: float = 0.0
    d7: float = 0.0
    d30: float = 0.0
    eligible: dict[str, int] = Field(default_factory=dict)
    by_install_week: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    strategies: list[str] = Field(default_factory=list)
    table_path: str = ""


@tool(
    "retention_cohorts", "D1/D7/D30 player retention by install cohort, with engagement strategies"
)
def retention_cohorts(inp: RetentionInput) -> RetentionOutput:
    from activities.tools.cohorts import day_n_retention
    from activities.tools.sample_tables import activity_events

    if inp.sessions_path:
        df = read_table(inp.sessions_path)
        cols = [inp.player_column, inp.date_column] + (
            [inp.install_column] if inp.install_column else []
        )
        require_columns(df, cols, f"sessions file {inp.sessions_path}")
        player, date, install = inp.player_column, inp.date_column, inp.install_column
    else:
        df = activity_events(np_rng(inp, "retention"), inp.players, base_retention=0.5)
        player, date, install = "user_id", "event_date", "install_date"
    overall, eligible, table = day_n_retention(df, player, date, install, (1, 7, 30))
    strategies = []
    if overall[1] < _BENCH[1]:
        strategies.append(
            f"D1 {overall[1]:.0%} is under {_BENCH[1]:.0%}: shorten the tutorial "
            "and grant a first-session reward to get players back tomorrow."
        )
    if overall[7] < _BENCH[7]:
        strategies.append(
            f"D7 {overall[7]:.0%} is under {_BENCH[7]:.0%}: add a 7-day login "
            "calendar with an escalating reward on day 7."
        )
    if overall[30] < _BENCH[30]:
        strategies.append(
            f"D30 {overall[30]:.0%} is under {_BENCH[30]:.0%}: launch weekly "
            "events and guild/social features for long-term goals."
        )
    strategies += [
        (
            "Send a push or email 20 hours after install to players who have "
            "not returned (D1 win-back)."
        ),
        "Run a mid-week limited-time event to lift D7 and measure it against a holdout cohort.",
        "Reward streaks and introduce season goals to lengthen the D30 horizon.",
    ]
    writer = ArtifactWriter(inp, "retention_cohorts")
    path = writer.path("retention-by-install-week", "csv")
    table.to_csv(path, index_label="install_week")
    by_week = {
        str(k): {c: (None if v != v else round(float(v), 4)) for c, v in row.items()}
        for k, row in table.iterrows()
    }
    return RetentionOutput(
        headline=(
            f"Retention D1 {overall[1]:.1%}, D7 {overall[7]:.1%}, D30 {overall[30]:.1%} "
            f"across {eligible[1]:,} players (benchmarks 40/15/6%)."
        ),
        metrics={
            "d1": overall[1],
            "d7": overall[7],
            "d30": overall[30],
            "players": float(eligible[1]),
            "install_weeks": float(len(table)),
        },
        recommendations=strategies[:5],
        artifacts=writer.written,
        d1=overall[1],
        d7=overall[7],
        d30=overall[30],
        eligible={f"d{k}": v for k, v in eligible.items()},
        by_install_week=by_week,
        strategies=strategies,
        table_path=str(path),
    )


# --------------------------------------------------------------------------- skill_ratings


class MatchResult(BaseModel):
    player_a: str
    player_b: str
    score_a: float = Field(ge=0, le=1, description="1 win, 0.5 draw, 0 loss for player_a")
    period: int = Field(default=0, description="rating period (Glicko-2 batches by period)")


class PlayerRating(BaseModel):
    player: str
    rating: float
    rd: float | None = None
    volatility: float | None = None
    games: int
    wins: float


class SkillRatingsInput(ToolInput):
    matches: list[MatchResult] = Field(default_factory=list)
    matches_path: str | None = Field(
        default=None, validation_alias=AliasChoices("matches_path", "data_path", "path")
    )
    system: str = Field(default="elo", description="elo | glicko2")
    k_factor: float = Field(default=32.0, gt=0)
    initial_rating: float = 1500.0
    initial_rd: float = Field(default=350.0, gt=0)
    initial_volatility: float = Field(default=0.06, gt=0)
    tau: float = Field(default=0.5, gt=0)
    prior: dict[str, PlayerRating] = Field(
        default_factory=dict, description="existing ratings to start from"
    )
    top_n: int = Field(default=20, ge=1)


class SkillRatingsOutput(ToolOutput):
    system: str = ""
    leaderboard: list[PlayerRating] = Field(default_factory=list)
    ratings_path: str = ""


def _sample_matches(inp: SkillRatingsInput) -> list[MatchResult]:
    rnd = rng(inp, "ratings")
    skills = {h: rnd.gauss(1500, 250) for h in _HANDLES[:12]}
    names = list(skills)
    out = []
    for i in range(300):
        a, b = rnd.sample(names, 2)
        out.append(
            MatchResult(
                player_a=a,
                player_b=b,
                score_a=1.0 if rnd.random() < elo_expected(skills[a], skills[b]) else 0.0,
                period=i // 50,
            )
        )
    return out


@tool("skill_ratings", "Elo or Glicko-2 ratings from match results, with a leaderboard")
def skill_ratings(inp: SkillRatingsInput) -> SkillRatingsOutput:
    if inp.system not in ("elo", "glicko2"):
        raise InvalidToolInput(f"system must be elo or glicko2, not {inp.system!r}")
    matches = list(inp.matches)
    if inp.matches_path:
        df = read_table(inp.matches_path)
        require_columns(df, ["player_a", "player_b", "score_a"], f"matches file {inp.matches_path}")
        matches += [
            MatchResult.model_validate(
                {**r, "player_a": str(r["player_a"]), "player_b": str(r["player_b"])}
            )
            for r in df.to_dict("records")
        ]
    source = "given matches"
    if not matches:
        matches, source = _sample_matches(inp), "sample matches"
    games: dict[str, int] = defaultdict(int)
    wins: dict[str, float] = defaultdict(float)
    for m in matches:
        if m.player_a == m.player_b:
            raise InvalidToolInput(f"a player cannot play themselves ({m.player_a})")
        games[m.player_a] += 1
        games[m.player_b] += 1
        wins[m.player_a] += m.score_a
        wins[m.player_b] += 1 - m.score_a
    board: list[PlayerRating] = []
    if inp.system == "elo":
        r = {p: inp.prior[p].rating if p in inp.prior else inp.initial_rating for p in games}
        for m in matches:
            r[m.player_a], r[m.player_b] = elo_update(
                r[m.player_a], r[m.player_b], m.score_a, inp.k_factor
            )
        board = [
            PlayerRating(player=p, rating=v, games=games[p], wins=wins[p]) for p, v in r.items()
        ]
    else:
        state = {
            p: GlickoPlayer(
                inp.prior[p].rating,
                inp.prior[p].rd or inp.initial_rd,
                inp.prior[p].volatility or inp.initial_volatility,
            )
            if p in inp.prior
            else GlickoPlayer(inp.initial_rating, inp.initial_rd, inp.initial_volatility)
            for p in games
        }
        for period in sorted({m.period for m in matches}):
            results: dict[str, list[tuple[GlickoPlayer, float]]] = defaultdict(list)
            for m in matches:
                if m.period == period:
                    results[m.player_a].append((state[m.player_b], m.score_a))
                    results[m.player_b].append((state[m.player_a], 1 - m.score_a))
            # everyone is updated from the ratings at the start of the period
            state = {p: glicko2_update(s, results.get(p, []), inp.tau) for p, s in state.items()}
        board = [
            PlayerRating(
                player=p, rating=s.rating, rd=s.rd, volatility=s.vol, games=games[p], wins=wins[p]
            )
            for p, s in state.items()
        ]
    board.sort(key=lambda x: -x.rating)
    writer = ArtifactWriter(inp, "skill_ratings")
    path = writer.json("ratings", [b.model_dump() for b in board])
    top = board[0]
    spread = top.rating - board[-1].rating
    return SkillRatingsOutput(
        headline=(
            f"{inp.system.upper()} ratings for {len(board)} players from {len(matches)} "
            f"{source}: #1 {top.player} at {top.rating:.0f}, spread {spread:.0f} "
            "points."
        ),
        metrics={
            "players": float(len(board)),
            "matches": float(len(matches)),
            "top_rating": top.rating,
            "rating_spread": spread,
        },
        recommendations=[
            "Matchmake within about 200 rating points (an expected score between 0.24 and 0.76).",
            "Show provisional badges for players with under 10 games.",
        ],
        artifacts=writer.written,
        system=inp.system,
        leaderboard=board[: inp.top_n],
        ratings_path=path,
    )


# --------------------------------------------------------------------------- game_balance


def wilson(wins: float, n: float, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a win rate."""
    if n <= 0:
        return 0.0, 1.0
    p = wins / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return centre - half, centre + half


class BalanceEntity(BaseModel):
    name: str
    wins: float = Field(ge=0)
    matches: float = Field(gt=0)
    picks: float | None = Field(default=None, ge=0, description="times picked (for pick rate)")


class BalanceVerdict(BaseModel):
    name: str
    win_rate: float
    ci_low: float
    ci_high: float
    matches: float
    pick_rate: float | None
    verdict: str  # overpowered | underpowered | balanced | needs_data
    suggested_power_change_pct: float


class GameBalanceInput(ToolInput):
    entities: list[BalanceEntity] = Field(
        default_factory=list, description="heroes / units / weapons with win counts"
    )
    target_win_rate: float = Field(default=0.5, gt=0, lt=1)
    tolerance: float = Field(
        default=0.02, ge=0, lt=0.5, description="deviation allowed before acting"
    )
    elasticity: float = Field(
        default=0.5, gt=0, description="win-rate points per 1% change in power"
    )
    max_change_pct: float = Field(default=10.0, gt=0, description="cap on one patch's change")
    min_matches: int = Field(default=100, ge=1)


class GameBalanceOutput(ToolOutput):
    verdicts: list[BalanceVerdict] = Field(default_factory=list)
    overpowered: list[str] = Field(default_factory=list)
    underpowered: list[str] = Field(default_factory=list)


@tool(
    "game_balance",
    (
        "Flag over/underpowered heroes or units from win rates (Wilson "
        "intervals) and suggest power changes"
    ),
)
def game_balance(inp: GameBalanceInput) -> GameBalanceOutput:
    entities = list(inp.entities)
    if not entities:
        rnd = rng(inp, "balance")
        for h in _HANDLES[:12]:
            true_wr = min(0.65, max(0.35, rnd.gauss(0.5, 0.035)))
            n = rnd.randint(300, 6000)
            entities.append(
                BalanceEntity(
                    name=h,
                    wins=sum(1 for _ in range(n) if rnd.random() < true_wr),
                    matches=n,
                    picks=n,
                )
            )
    total_picks = sum(e.picks for e in entities if e.picks is not None)
    verdicts = []
    for e in entities:
        if e.wins > e.matches:
            raise InvalidToolInput(f"{e.name}: wins ({e.wins}) exceed matches ({e.matches})")
        wr = e.wins / e.matches
        lo, hi = wilson(e.wins, e.matches)
        dev = wr - inp.target_win_rate
        if e.matches < inp.min_matches:
            verdict = "needs_data"
        elif lo > inp.target_win_rate and dev > inp.tolerance:
            verdict = "overpowered"
        elif hi < inp.target_win_rate and -dev > inp.tolerance:
            verdict = "underpowered"
        else:
            verdict = "balanced"
        change = 0.0
        if verdict in ("overpowered", "underpowered"):
            change = max(-inp.max_change_pct, min(inp.max_change_pct, -100 * dev / inp.elasticity))
        verdicts.append(
            BalanceVerdict(
                name=e.name,
                win_rate=wr,
                ci_low=lo,
                ci_high=hi,
                matches=e.matches,
                pick_rate=(e.picks / total_picks if e.picks is not None and total_picks else None),
                verdict=verdict,
                suggested_power_change_pct=round(change, 2),
            )
        )
    verdicts.sort(key=lambda v: -abs(v.win_rate - inp.target_win_rate))
    op = [v.name for v in verdicts if v.verdict == "overpowered"]
    up = [v.name for v in verdicts if v.verdict == "underpowered"]
    recs = [
        (
            f"{'Nerf' if v.suggested_power_change_pct < 0 else 'Buff'} {v.name} "
            f"by {abs(v.suggested_power_change_pct):.1f}% (win rate {v.win_rate:.1%}, "
            f"95% CI {v.ci_low:.1%}-{v.ci_high:.1%})."
        )
        for v in verdicts
        if v.verdict in ("overpowered", "underpowered")
    ]
    needs = [v.name for v in verdicts if v.verdict == "needs_data"]
    if needs:
        recs.append(f"Collect more matches for {', '.join(needs)} before judging.")
    return GameBalanceOutput(
        headline=(
            f"{len(op)} overpowered, {len(up)} underpowered of {len(verdicts)} "
            f"(target {inp.target_win_rate:.0%} ± {inp.tolerance:.0%}, 95% "
            "Wilson intervals)"
        )
        + (
            f"; biggest outlier {verdicts[0].name} at {verdicts[0].win_rate:.1%}."
            if verdicts
            else "."
        ),
        metrics={
            "entities": float(len(verdicts)),
            "overpowered": float(len(op)),
            "underpowered": float(len(up)),
            "max_deviation": max(
                (abs(v.win_rate - inp.target_win_rate) for v in verdicts), default=0.0
            ),
        },
        recommendations=recs or ["Everything is within tolerance: no changes this patch."],
        verdicts=verdicts,
        overpowered=op,
        underpowered=up,
    )
