"""Single and double elimination brackets with standard seeding and byes.

Seeding follows the usual order (1 v 16, 8 v 9, ... for 16) so the top seeds can only meet
late; when the field is not a power of two the top seeds get the byes. A bye is not a match:
the player simply appears in round 2. In double elimination a bye's "loser" is nobody, so
the losers' bracket shrinks the same way. Totals obey the invariants the tests check:
single = n - 1 matches; double = 2n - 2, plus 1 if the grand final is reset.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def seed_order(size: int) -> list[int]:
    """Bracket positions of seeds 1..size, e.g. 8 -> [1, 8, 4, 5, 2, 7, 3, 6]."""
    order = [1]
    while len(order) < size:
        n = len(order) * 2
        order = [x for s in order for x in (s, n + 1 - s)]
    return order


@dataclass
class Match:
    id: str
    bracket: str  # winners | losers | grand_final
    round: int
    a: str  # a player name, or "W:<match id>" / "L:<match id>"
    b: str
    if_necessary: bool = False


@dataclass
class Bracket:
    players: list[str]
    size: int
    matches: list[Match] = field(default_factory=list)
    byes: list[str] = field(default_factory=list)

    def by_round(self, bracket: str) -> dict[int, list[Match]]:
        out: dict[int, list[Match]] = {}
        for m in self.matches:
            if m.bracket == bracket:
                out.setdefault(m.round, []).append(m)
        return out


# An entity in a slot: a player name, a match result reference, or None (nobody: a bye).
Entity = str | None


def _play(
    br: Bracket, bracket: str, rnd: int, a: Entity, b: Entity, counter: list[int]
) -> tuple[Entity, Entity]:
    """Winner and loser entities of a pairing; a real match only when both sides exist."""
    if a is None or b is None:
        return (a if b is None else b), None
    counter[0] += 1
    prefix = {"winners": "W", "losers": "L", "grand_final": "GF"}[bracket]
    m = Match(id=f"{prefix}{rnd}-{counter[0]}", bracket=bracket, round=rnd, a=a, b=b)
    br.matches.append(m)
    return f"W:{m.id}", f"L:{m.id}"


def build(players: list[str], double: bool = False, reset: bool = True) -> Bracket:
    n = len(players)
    if n < 2:
        raise ValueError("a bracket needs at least 2 players")
    size = 1
    while size < n:
        size *= 2
    br = Bracket(players=players, size=size)
    slots: list[Entity] = [players[s - 1] if s <= n else None for s in seed_order(size)]
    br.byes = [
        players[seed - 1]
        for i, seed in enumerate(seed_order(size))
        if seed <= n and (seed_order(size)[i ^ 1] > n)
    ]
    wb_losers: list[list[Entity]] = []
    rnd = 1
    while len(slots) > 1:
        counter = [0]
        nxt: list[Entity] = []
        losers: list[Entity] = []
        for i in range(0, len(slots), 2):
            w, lo = _play(br, "winners", rnd, slots[i], slots[i + 1], counter)
            nxt.append(w)
            losers.append(lo)
        wb_losers.append(losers)
        slots = nxt
        rnd += 1
    champion = slots[0]
    if not double:
        return br
    # Losers' bracket: round 1 pairs the winners-round-1 losers; then alternately a "drop"
    # round (survivors meet the next winners round's losers, in reversed order so recent
    # opponents do not meet again at once) and an internal round halving the survivors.
    lb: list[Entity] = []
    first = wb_losers[0]
    counter = [0]
    lr = 1
    if len(first) == 1:
        lb = first
    else:
        for i in range(0, len(first), 2):
            w, _ = _play(br, "losers", lr, first[i], first[i + 1], counter)
            lb.append(w)
        lr += 1
    for k, dropped in enumerate(wb_losers[1:], start=1):
        incoming = dropped[::-1] if k % 2 else dropped
        counter = [0]
        merged: list[Entity] = []
        for mine, theirs in zip(lb, incoming, strict=True):
            w, _ = _play(br, "losers", lr, mine, theirs, counter)
            merged.append(w)
        lr += 1
        lb = merged
        if len(lb) > 1:
            counter = [0]
            halved: list[Entity] = []
            for i in range(0, len(lb), 2):
                w, _ = _play(br, "losers", lr, lb[i], lb[i + 1], counter)
                halved.append(w)
            lr += 1
            lb = halved
    counter = [0]
    _play(br, "grand_final", 1, champion, lb[0], counter)
    if reset and champion is not None and lb[0] is not None:
        gf = br.matches[-1]
        br.matches.append(
            Match(
                id="GF2-1",
                bracket="grand_final",
                round=2,
                a=f"W:{gf.id}",
                b=f"L:{gf.id}",
                if_necessary=True,
            )
        )
    return br
