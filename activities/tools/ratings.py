"""Skill ratings: Elo (sequential) and Glicko-2 (rating periods), after Glickman's paper
"Example of the Glicko-2 system" (2012) whose worked example the tests reproduce."""

from __future__ import annotations

import math
from dataclasses import dataclass

GLICKO_SCALE = 173.7178


def elo_expected(ra: float, rb: float) -> float:
    return 1.0 / (1.0 + 10 ** ((rb - ra) / 400.0))


def elo_update(ra: float, rb: float, score_a: float, k: float) -> tuple[float, float]:
    ea = elo_expected(ra, rb)
    return ra + k * (score_a - ea), rb + k * ((1 - score_a) - (1 - ea))


@dataclass
class GlickoPlayer:
    rating: float = 1500.0
    rd: float = 350.0
    vol: float = 0.06


def _g(phi: float) -> float:
    return 1.0 / math.sqrt(1.0 + 3.0 * phi * phi / math.pi**2)


def glicko2_update(
    p: GlickoPlayer, results: list[tuple[GlickoPlayer, float]], tau: float = 0.5
) -> GlickoPlayer:
    """New rating of `p` after one rating period of (opponent, score) results."""
    mu, phi = (p.rating - 1500.0) / GLICKO_SCALE, p.rd / GLICKO_SCALE
    if not results:
        return GlickoPlayer(
            p.rating, min(350.0, math.sqrt(phi * phi + p.vol * p.vol) * GLICKO_SCALE), p.vol
        )
    v_inv = 0.0
    delta_sum = 0.0
    for opp, s in results:
        mu_j, phi_j = (opp.rating - 1500.0) / GLICKO_SCALE, opp.rd / GLICKO_SCALE
        g = _g(phi_j)
        e = 1.0 / (1.0 + math.exp(-g * (mu - mu_j)))
        v_inv += g * g * e * (1 - e)
        delta_sum += g * (s - e)
    v = 1.0 / v_inv
    delta = v * delta_sum
    # volatility by the Illinois algorithm (step 5 of the paper)
    a = math.log(p.vol**2)

    def f(x: float) -> float:
        ex = math.exp(x)
        return ex * (delta**2 - phi**2 - v - ex) / (2 * (phi**2 + v + ex) ** 2) - (x - a) / tau**2

    A = a
    if delta**2 > phi**2 + v:
        B = math.log(delta**2 - phi**2 - v)
    else:
        k = 1
        while f(a - k * tau) < 0:
            k += 1
        B = a - k * tau
    fa, fb = f(A), f(B)
    while abs(B - A) > 1e-6:
        C = A + (A - B) * fa / (fb - fa)
        fc = f(C)
        if fc * fb <= 0:
            A, fa = B, fb
        else:
            fa /= 2
        B, fb = C, fc
    vol = math.exp(A / 2)
    phi_star = math.sqrt(phi * phi + vol * vol)
    phi_new = 1.0 / math.sqrt(1.0 / phi_star**2 + 1.0 / v)
    mu_new = mu + phi_new**2 * delta_sum
    return GlickoPlayer(mu_new * GLICKO_SCALE + 1500.0, phi_new * GLICKO_SCALE, vol)
