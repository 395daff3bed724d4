"""Creative tools: `ad_creatives` (3+ sizes, SVG/PNG/PDF, brand palette only) and
`palette_check` (does a creative stick to the palette?).

Every colour on a creative comes from the palette — text colour included, picked for the
best WCAG contrast — so a compliance check is meaningful rather than forgiving.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from pydantic import BaseModel, Field

from activities.tools.artifacts import ArtifactWriter
from activities.tools.colors import (
    RGB,
    best_text_color,
    contrast_ratio,
    distance,
    palette_from_hue,
    parse_color,
    require_palette,
    to_hex,
)
from activities.tools.errors import DataFileError, InvalidToolInput
from activities.tools.registry import ToolInput, ToolOutput, tool
from activities.tools.sampling import rng

DEFAULT_SIZES: list[tuple[str, int, int]] = [
    ("landscape", 1200, 628),
    ("square", 1080, 1080),
    ("medium_rectangle", 300, 250),
]
FORMATS = ("svg", "png", "pdf")
_CHAR_WIDTH = 0.56  # average glyph width / font size for DejaVu Sans, for wrapping
_CHAR_WIDTH_BOLD = 0.64
_CIRCLE = 0.24  # decorative circle radius / shorter side


class CreativeSize(BaseModel):
    name: str
    width: int = Field(ge=50, le=4000)
    height: int = Field(ge=50, le=4000)


class AdCreativesInput(ToolInput):
    brand: str = ""
    headline: str = ""
    body: str = ""
    cta: str = "Learn more"
    palette: list[str] = Field(
        default_factory=list, description="brand colours, hex; first is the primary"
    )
    sizes: list[CreativeSize] = Field(
        default_factory=lambda: [
            CreativeSize(name=n, width=w, height=h) for n, w, h in DEFAULT_SIZES
        ]
    )
    formats: list[str] = Field(default_factory=lambda: list(FORMATS))


class Creative(BaseModel):
    size: str
    width: int
    height: int
    files: dict[str, str]
    headline_contrast: float
    cta_contrast: float


class AdCreativesOutput(ToolOutput):
    creatives: list[Creative] = Field(default_factory=list)
    palette: list[str] = Field(default_factory=list)


class _Layout(BaseModel):
    """Everything both renderers (SVG text, matplotlib) need, computed once per size."""

    w: int
    h: int
    bg: str
    shape: str
    text: str
    cta_fill: str
    cta_text: str
    pad: float
    brand_size: float
    headline_size: float
    headline_lines: list[str]
    body_size: float
    body_lines: list[str]
    cta_w: float
    cta_h: float
    cta_size: float
    brand: str
    cta: str


def _wrap(text: str, size: float, width: float, max_lines: int, bold: bool = False) -> list[str]:
    per_line = max(4, int(width / (size * (_CHAR_WIDTH_BOLD if bold else _CHAR_WIDTH))))
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= per_line:
            lines[-1] += " " + word
        else:
            lines.append(word)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(1, per_line - 1)].rstrip() + "…"
    return lines


def layout(
    inp: AdCreativesInput, palette: list[RGB], w: int, h: int, brand: str, headline: str
) -> _Layout:
    bg = palette[0]
    others = palette[1:] or palette
    text = best_text_color(bg, palette)
    accent = max(others, key=lambda c: distance(c, bg))
    cta_text = best_text_color(accent, palette)
    unit = min(w, h)
    pad = unit * 0.07
    headline_size = max(12.0, unit * (0.085 if w >= h else 0.075))
    body_size = max(9.0, headline_size * 0.45)
    # Text stays left of the decorative quarter circle in the top-right corner.
    radius = unit * _CIRCLE
    usable = w - pad * 1.5 - radius
    head_lines = _wrap(
        headline, headline_size, usable, 4 if h >= w else 3 if h >= 400 else 2, bold=True
    )
    body_lines = _wrap(inp.body, body_size, usable, 2) if inp.body and h >= 300 else []
    cta_size = max(10.0, headline_size * 0.42)
    return _Layout(
        w=w,
        h=h,
        bg=to_hex(bg),
        shape=to_hex(palette[2] if len(palette) > 2 else accent),
        text=to_hex(text),
        cta_fill=to_hex(accent),
        cta_text=to_hex(cta_text),
        pad=pad,
        brand_size=max(9.0, headline_size * 0.4),
        headline_size=headline_size,
        headline_lines=head_lines,
        body_size=body_size,
        body_lines=body_lines,
        cta_w=min(w - 2 * pad, cta_size * _CHAR_WIDTH_BOLD * (len(inp.cta) + 4)),
        cta_h=cta_size * 2.4,
        cta_size=cta_size,
        brand=brand,
        cta=inp.cta,
    )


def render_svg(L: _Layout) -> str:
    y = L.pad + L.brand_size
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{L.w}" height="{L.h}" '
            f'viewBox="0 0 {L.w} {L.h}" font-family="DejaVu Sans, Arial, sans-serif">'
        ),
        f'<rect x="0" y="0" width="{L.w}" height="{L.h}" fill="{L.bg}"/>',
        f'<circle cx="{L.w}" cy="0" r="{min(L.w, L.h) * _CIRCLE:.1f}" fill="{L.shape}"/>',
        (
            f'<text x="{L.pad:.1f}" y="{y:.1f}" font-size="{L.brand_size:.1f}" '
            f'font-weight="bold" fill="{L.text}">{html.escape(L.brand)}</text>'
        ),
    ]
    y += L.pad * 0.6
    for line in L.headline_lines:
        y += L.headline_size * 1.15
        parts.append(
            f'<text x="{L.pad:.1f}" y="{y:.1f}" font-size="{L.headline_size:.1f}" '
            f'font-weight="bold" fill="{L.text}">{html.escape(line)}</text>'
        )
    y += L.body_size * 0.5 if L.body_lines else 0
    for line in L.body_lines:
        y += L.body_size * 1.4
        parts.append(
            f'<text x="{L.pad:.1f}" y="{y:.1f}" font-size="{L.body_size:.1f}" '
            f'fill="{L.text}">{html.escape(line)}</text>'
        )
    by = L.h - L.pad - L.cta_h
    parts += [
        (
            f'<rect x="{L.pad:.1f}" y="{by:.1f}" width="{L.cta_w:.1f}" height="{L.cta_h:.1f}" '
            f'rx="{L.cta_h * 0.25:.1f}" fill="{L.cta_fill}"/>'
        ),
        (
            f'<text x="{L.pad + L.cta_w / 2:.1f}" y="{by + L.cta_h * 0.64:.1f}" '
            f'font-size="{L.cta_size:.1f}" font-weight="bold" text-anchor="middle" '
            f'fill="{L.cta_text}">{html.escape(L.cta)}</text>'
        ),
        "</svg>",
    ]
    return "\n".join(parts)


def render_raster(L: _Layout, path: Path, fmt: str) -> None:
    """Same layout through matplotlib (PNG, PDF). Coordinates: pixels, origin top-left."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle, FancyBboxPatch, Rectangle

    fig = Figure(figsize=(L.w / 100, L.h / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, L.w)
    ax.set_ylim(L.h, 0)
    ax.axis("off")
    ax.add_patch(Rectangle((0, 0), L.w, L.h, color=L.bg))
    ax.add_patch(Circle((L.w, 0), min(L.w, L.h) * _CIRCLE, color=L.shape))
    pt = 0.72  # pixels -> points at 100 dpi
    y = L.pad + L.brand_size
    ax.text(
        L.pad,
        y,
        L.brand,
        fontsize=L.brand_size * pt,
        fontweight="bold",
        color=L.text,
        va="baseline",
    )
    y += L.pad * 0.6
    for line in L.headline_lines:
        y += L.headline_size * 1.15
        ax.text(
            L.pad,
            y,
            line,
            fontsize=L.headline_size * pt,
            fontweight="bold",
            color=L.text,
            va="baseline",
        )
    y += L.body_size * 0.5 if L.body_lines else 0
    for line in L.body_lines:
        y += L.body_size * 1.4
        ax.text(L.pad, y, line, fontsize=L.body_size * pt, color=L.text, va="baseline")
    by = L.h - L.pad - L.cta_h
    ax.add_patch(
        FancyBboxPatch(
            (L.pad, by),
            L.cta_w,
            L.cta_h,
            boxstyle=f"round,pad=0,rounding_size={L.cta_h * 0.25}",
            color=L.cta_fill,
        )
    )
    ax.text(
        L.pad + L.cta_w / 2,
        by + L.cta_h * 0.64,
        L.cta,
        fontsize=L.cta_size * pt,
        fontweight="bold",
        color=L.cta_text,
        ha="center",
        va="baseline",
    )
    fig.savefig(
        path,
        format=fmt,
        dpi=100,
        facecolor=L.bg,
        metadata={"Creator": "bizos ad_creatives"} if fmt == "pdf" else None,
    )


@tool("ad_creatives", "Ad creatives in 3+ sizes (SVG, PNG, PDF) using only the brand palette")
def ad_creatives(inp: AdCreativesInput) -> AdCreativesOutput:
    bad = [f for f in inp.formats if f not in FORMATS]
    if bad or not inp.formats:
        raise InvalidToolInput(
            f"unsupported format(s) {bad or '[]'}; use some of {', '.join(FORMATS)}"
        )
    if not inp.sizes:
        raise InvalidToolInput("give at least one size")
    rnd = rng(inp, "ad_creatives")
    palette_hex = list(inp.palette) or palette_from_hue(rnd.random())
    palette = require_palette(palette_hex)
    if len(palette) < 2:
        raise InvalidToolInput("a palette needs at least two colours (background and text)")
    brand = inp.brand or rnd.choice(("Nimbus", "Harbor", "Summit", "Kite", "Atlas"))
    headline = inp.headline or rnd.choice(
        (
            "Work smarter, not longer",
            "Launch faster with less effort",
            "Your data, finally in one place",
            "Grow without the guesswork",
        )
    )
    writer = ArtifactWriter(inp, "ad_creatives")
    creatives = []
    for size in inp.sizes:
        L = layout(inp, palette, size.width, size.height, brand, headline)
        files: dict[str, str] = {}
        stem = f"ad-{size.name}-{size.width}x{size.height}"
        for fmt in dict.fromkeys(inp.formats):
            if fmt == "svg":
                files["svg"] = writer.text(stem, "svg", render_svg(L))
            else:
                p = writer.path(stem, fmt)
                render_raster(L, p, fmt)
                files[fmt] = str(p)
        creatives.append(
            Creative(
                size=size.name,
                width=size.width,
                height=size.height,
                files=files,
                headline_contrast=round(
                    contrast_ratio(
                        parse_color(L.bg) or (0, 0, 0), parse_color(L.text) or (0, 0, 0)
                    ),
                    2,
                ),
                cta_contrast=round(
                    contrast_ratio(
                        parse_color(L.cta_fill) or (0, 0, 0), parse_color(L.cta_text) or (0, 0, 0)
                    ),
                    2,
                ),
            )
        )
    worst = min(min(c.headline_contrast, c.cta_contrast) for c in creatives)
    recs = [
        (
            f"Preview {creatives[0].files.get('png') or next(iter(creatives[0].files.values()))} "
            "before upload."
        )
    ]
    if worst < 4.5:
        recs.insert(
            0,
            (
                f"Lowest text contrast is {worst:.1f}:1 (WCAG AA wants 4.5:1): "
                "add a darker or lighter palette colour."
            ),
        )
    n_files = sum(len(c.files) for c in creatives)
    return AdCreativesOutput(
        headline=(
            f"{len(creatives)} creatives for {brand} "
            f"({', '.join(f'{c.width}x{c.height}' for c in creatives)}) "
            f"in {', '.join(dict.fromkeys(inp.formats))}: {n_files} files, "
            f"min contrast {worst:.1f}:1."
        ),
        metrics={
            "creatives": float(len(creatives)),
            "files": float(n_files),
            "min_contrast": worst,
            "palette_colors": float(len(palette)),
        },
        recommendations=recs,
        artifacts=writer.written,
        creatives=creatives,
        palette=[to_hex(c) for c in palette],
    )


# --------------------------------------------------------------------------- palette_check

_STYLE_COLOR = re.compile(
    r"(?:fill|stroke|stop-color|color|background(?:-color)?)\s*:\s*([^;\"'}]+)", re.I
)
_ATTRS = ("fill", "stroke", "stop-color", "color", "flood-color")


def svg_colors(path: str) -> list[RGB]:
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise DataFileError(f"cannot read SVG {path}: {e}") from e
    found: list[RGB] = []
    for el in root.iter():
        for a in _ATTRS:
            if a in el.attrib:
                c = parse_color(el.attrib[a])
                if c:
                    found.append(c)
        for m in _STYLE_COLOR.finditer(
            el.attrib.get("style", "") + " " + (el.text or "" if el.tag.endswith("style") else "")
        ):
            c = parse_color(m.group(1))
            if c:
                found.append(c)
    return found


def raster_compliance(path: str, palette: list[RGB], tol: float) -> tuple[float, dict[str, float]]:
    """Share of pixels that are a palette colour or an anti-aliasing blend of two of them
    (a point on the segment between two palette colours), within `tol` RGB units."""
    import numpy as np
    from PIL import Image

    try:
        img = Image.open(path).convert("RGB")
    except OSError as e:
        raise DataFileError(f"cannot read image {path}: {e}") from e
    px = np.asarray(img, dtype=np.uint32).reshape(-1, 3)
    # one integer per colour: a 1-D unique is far faster than unique rows
    packed, counts = np.unique((px[:, 0] << 16) | (px[:, 1] << 8) | px[:, 2], return_counts=True)
    colors = np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], axis=1).astype(
        np.float64
    )
    pal = np.array(palette, dtype=np.float64)
    best = np.full(len(colors), np.inf)
    for i in range(len(pal)):
        best = np.minimum(best, np.linalg.norm(colors - pal[i], axis=1))
        for j in range(i + 1, len(pal)):
            seg = pal[j] - pal[i]
            t = np.clip(((colors - pal[i]) @ seg) / (seg @ seg), 0, 1)
            best = np.minimum(best, np.linalg.norm(colors - (pal[i] + t[:, None] * seg), axis=1))
    ok = best <= tol
    share = float(counts[ok].sum() / counts.sum())
    # Report colours that matter (0.1%+ of the image), not single stray pixels.
    off = {
        to_hex((int(colors[k][0]), int(colors[k][1]), int(colors[k][2]))): float(
            counts[k] / counts.sum()
        )
        for k in np.argsort(-counts)
        if not ok[k] and counts[k] / counts.sum() >= 0.001
    }
    return share, dict(list(off.items())[:10])


class PaletteCheckInput(ToolInput):
    creative_path: str | None = Field(default=None, description="SVG or PNG")
    palette: list[str] = Field(default_factory=list)
    tolerance: float = Field(
        default=12.0, ge=0, le=100, description="RGB distance that still counts as on-palette"
    )
    allow_neutrals: bool = Field(
        default=False, description="treat pure white and black as on-palette"
    )
    min_compliance: float = Field(default=0.98, ge=0, le=1)


class PaletteCheckOutput(ToolOutput):
    compliant: bool = False
    compliance: float = 0.0
    off_palette: dict[str, float] = Field(
        default_factory=dict, description="colour -> share of uses/pixels"
    )
    colors_found: int = 0


@tool("palette_check", "Check that a creative (SVG or PNG) uses only brand palette colours")
def palette_check(inp: PaletteCheckInput) -> PaletteCheckOutput:
    path, palette_hex = inp.creative_path, list(inp.palette)
    if not path:
        made = ad_creatives(
            AdCreativesInput(
                output_dir=inp.output_dir,
                palette=palette_hex,
                formats=["svg"],
                sizes=[CreativeSize(name="square", width=1080, height=1080)],
            )
        )
        path, palette_hex = made.creatives[0].files["svg"], made.palette
    if not palette_hex:
        raise InvalidToolInput("give the brand palette to check against")
    palette = require_palette(palette_hex)
    if inp.allow_neutrals:
        palette += [(255, 255, 255), (0, 0, 0)]
    suffix = Path(path).suffix.lower()
    if suffix == ".svg":
        used = svg_colors(path)
        if not used:
            raise DataFileError(f"no colours found in {path}")
        off_list = [to_hex(c) for c in used if min(distance(c, p) for p in palette) > inp.tolerance]
        compliance = 1 - len(off_list) / len(used)
        off = {c: off_list.count(c) / len(used) for c in dict.fromkeys(off_list)}
        found = len(set(used))
    elif suffix == ".png":
        compliance, off = raster_compliance(path, palette, inp.tolerance)
        found = len(off)
    else:
        raise InvalidToolInput(
            f"palette_check reads SVG or PNG, not {suffix or 'a file without extension'}"
        )
    ok = compliance >= inp.min_compliance
    return PaletteCheckOutput(
        headline=(
            f"{'Compliant' if ok else 'Not compliant'}: {compliance:.1%} of "
            f"colour {'uses' if suffix == '.svg' else 'pixels'} on the {len(palette_hex)}-colour "
            "palette"
        )
        + (f"; off-palette {', '.join(list(off)[:3])}." if off else "."),
        metrics={
            "compliance": compliance,
            "off_palette_colors": float(len(off)),
            "compliant": float(ok),
        },
        recommendations=[f"Replace {c} with the nearest palette colour." for c in list(off)[:5]]
        or ["The creative stays on palette."],
        compliant=ok,
        compliance=compliance,
        off_palette=off,
        colors_found=found,
    )
