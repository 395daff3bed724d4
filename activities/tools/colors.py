"""Colour maths for the creative tools: parsing, contrast (WCAG 2.x) and palette distance."""

from __future__ import annotations

import colorsys
import re

from activities.tools.errors import InvalidToolInput

NAMED = {
    "white": "#ffffff",
    "black": "#000000",
    "red": "#ff0000",
    "green": "#008000",
    "blue": "#0000ff",
    "gray": "#808080",
    "grey": "#808080",
    "yellow": "#ffff00",
    "orange": "#ffa500",
}
_HEX = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_RGB = re.compile(r"^rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)")

RGB = tuple[int, int, int]


def parse_color(value: str) -> RGB | None:
    """#abc, #aabbcc, rgb(r,g,b) or a few CSS names; None for none/transparent/url(...)."""
    v = value.strip().lower()
    if v in NAMED:
        v = NAMED[v]
    m = _HEX.match(v)
    if m:
        h = m.group(1)
        if len(h) == 3:
            h = "".join(c * 2 for c in h)
        return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16))
    m = _RGB.match(v)
    if m:
        return (int(m.group(1)), int(m.group(2)), int(m.group(3)))
    return None


def require_palette(values: list[str]) -> list[RGB]:
    out = []
    for v in values:
        c = parse_color(v)
        if c is None:
            raise InvalidToolInput(f"palette colour {v!r} is not a hex (#1a2b3c) or rgb() colour")
        out.append(c)
    return out


def to_hex(c: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*c)


def luminance(c: RGB) -> float:
    def channel(x: int) -> float:
        s = x / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(x) for x in c)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: RGB, b: RGB) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def best_text_color(background: RGB, candidates: list[RGB]) -> RGB:
    return max(candidates, key=lambda c: contrast_ratio(background, c))


def distance(a: RGB, b: RGB) -> float:
    return float(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) ** 0.5)


def palette_from_hue(hue: float) -> list[str]:
    """A four-colour brand palette from one hue: primary, dark, accent (complement), light."""

    def hls(h: float, light: float, sat: float) -> str:
        r, g, b = colorsys.hls_to_rgb(h % 1.0, light, sat)
        return to_hex((round(r * 255), round(g * 255), round(b * 255)))

    return [
        hls(hue, 0.45, 0.65),
        hls(hue, 0.15, 0.5),
        hls(hue + 0.5, 0.55, 0.85),
        hls(hue, 0.96, 0.6),
    ]
