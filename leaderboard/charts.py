"""Inline SVG charts drawn on the server (no JavaScript chart library; works from ``file://``).

Built with :mod:`xml.etree.ElementTree`, which escapes every label, so entry names
cannot inject markup. Values are percentages (NDS, RR) as on the index page.
Partial values (missing conditions) are never plotted; the caller lists them.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from corruptions.spec import CORRUPTIONS, LEVELS
from robobench.conditions import CLEAN, Condition

from leaderboard.model import Group, metric_getter

#: Categorical palette (colour-blind friendly, Okabe-Ito order, then a few extra).
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#8C6D31",
    "#000000",
    "#7F3C8D",
    "#11A579",
    "#3969AC",
    "#F2B701",
    "#E73F74",
    "#80BA5A",
)
FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"
AXIS = "#8a94a6"
GRID = "#e6e9ef"


@dataclass(frozen=True)
class Series:
    """One plotted group: its label, colour and whether it is a published reference."""

    group: Group
    label: str
    color: str


def series_for(groups: Sequence[Group]) -> list[Series]:
    """A stable colour per leaderboard line."""
    return [Series(g, label_of(g), PALETTE[i % len(PALETTE)]) for i, g in enumerate(groups)]


def label_of(g: Group) -> str:
    """Entry name, with the train mode when it is not clean training."""
    return g.entry if g.train_mode == "clean" else f"{g.entry} ({g.train_mode}-trained)"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi]."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks, t = [], start
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 10))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _svg(width: int, height: int, title: str) -> ET.Element:
    svg = ET.Element(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "viewBox": f"0 0 {width} {height}",
            "width": str(width),
            "height": str(height),
            "role": "img",
            "style": FONT,
            "class": "chart",
        },
    )
    ET.SubElement(svg, "title").text = title
    return svg


def _text(
    parent: ET.Element,
    x: float,
    y: float,
    text: str,
    size: int = 11,
    anchor: str = "start",
    color: str = "#3b4252",
    weight: str = "normal",
    **extra: str,
) -> ET.Element:
    el = ET.SubElement(
        parent,
        "text",
        {
            "x": f"{x:.1f}",
            "y": f"{y:.1f}",
            "font-size": str(size),
            "fill": color,
            "text-anchor": anchor,
            "font-weight": weight,
            **extra,
        },
    )
    el.text = text
    return el


def _line(parent: ET.Element, x1: float, y1: float, x2: float, y2: float, color: str = GRID, width: float = 1) -> None:
    ET.SubElement(
        parent,
        "line",
        {
            "x1": f"{x1:.1f}",
            "y1": f"{y1:.1f}",
            "x2": f"{x2:.1f}",
            "y2": f"{y2:.1f}",
            "stroke": color,
            "stroke-width": str(width),
        },
    )


def _y_axis(parent: ET.Element, ticks: list[float], y_of, x0: float, x1: float, label: str | None) -> None:
    for t in ticks:
        y = y_of(t)
        _line(parent, x0, y, x1, y)
        _text(parent, x0 - 6, y + 4, f"{t:g}", 10, "end", AXIS)
    if label:
        _text(parent, x0 - 36, y_of(ticks[-1]) - 10, label, 11, "start", AXIS)


def _to_str(svg: ET.Element) -> str:
    return ET.tostring(svg, encoding="unicode")


def empty_note(width: int, height: int, title: str, note: str) -> str:
    """A framed placeholder saying why a chart has nothing to draw."""
    svg = _svg(width, height, title)
    ET.SubElement(
        svg,
        "rect",
        {
            "x": "0.5",
            "y": "0.5",
            "width": str(width - 1),
            "height": str(height - 1),
            "fill": "#fafbfc",
            "stroke": GRID,
            "rx": "6",
        },
    )
    _text(svg, width / 2, height / 2, note, 13, "middle", AXIS)
    return _to_str(svg)


def scatter_nds_mrr(series: Sequence[Series]) -> str:
    """Clean NDS (x) against mRR (y), one labelled point per line with both values complete."""
    title = "Clean NDS against mRR"
    pts = [
        (s, 100 * s.group.metrics["nds"].mean, 100 * s.group.metrics["mrr"].mean)
        for s in series
        if s.group.metrics.get("nds")
        and s.group.metrics["nds"].complete
        and s.group.metrics.get("mrr")
        and s.group.metrics["mrr"].complete
    ]
    W, H, L, R, T, B = 860, 420, 56, 230, 20, 44
    if not pts:
        return empty_note(W, H, title, "No entry has a complete clean NDS and mRR yet")
    xs, ys = [p[1] for p in pts], [p[2] for p in pts]
    xt = nice_ticks(max(0.0, min(xs) - 3), max(xs) + 3)
    yt = nice_ticks(max(0.0, min(ys) - 3), max(ys) + 3)

    def x_of(v: float) -> float:
        return L + (v - xt[0]) / (xt[-1] - xt[0]) * (W - L - R)

    def y_of(v: float) -> float:
        return H - B - (v - yt[0]) / (yt[-1] - yt[0]) * (H - T - B)

    svg = _svg(W, H, title)
    _y_axis(svg, yt, y_of, L, W - R, None)
    for t in xt:
        _line(svg, x_of(t), T, x_of(t), H - B)
        _text(svg, x_of(t), H - B + 16, f"{t:g}", 10, "middle", AXIS)
    _text(svg, (L + W - R) / 2, H - 8, "clean NDS (%)", 11, "middle", AXIS)
    _text(
        svg,
        14,
        T + (H - T - B) / 2,
        "mRR (%)",
        11,
        "middle",
        AXIS,
        transform=f"rotate(-90 14 {T + (H - T - B) / 2:.1f})",
    )
    points = [(s, x, y, x_of(x), y_of(y)) for s, x, y in sorted(pts, key=lambda p: -p[2])]
    for s, x, y, cx, cy in points:
        attrs = {
            "cx": f"{cx:.1f}",
            "cy": f"{cy:.1f}",
            "r": "6",
            "stroke": s.color,
            "stroke-width": "2",
            "fill": "white" if s.group.reference else s.color,
        }
        if s.group.reference:
            attrs["stroke-dasharray"] = "2 2"
        circle = ET.SubElement(svg, "circle", attrs)
        ET.SubElement(circle, "title").text = f"{s.label}: NDS {x:.1f}, mRR {y:.1f}"
    boxes = [(cx - 7, cy - 7, cx + 7, cy + 7) for *_, cx, cy in points]
    for s, _x, _y, cx, cy in points:
        text = s.label + (" [ref]" if s.group.reference else "")
        box = _place_label(text, cx, cy, boxes, (L, T, W - 4, H - B))
        if box is not None:  # no free spot: the point keeps its tooltip only
            boxes.append(box)
            _text(svg, box[0], box[3] - 3, text, 11, "start", "#2e3440")
    return _to_str(svg)


def _place_label(
    text: str,
    cx: float,
    cy: float,
    taken: list[tuple[float, float, float, float]],
    area: tuple[float, float, float, float],
) -> tuple[float, float, float, float] | None:
    """The first box (right, left, above, below the point) that overlaps no taken box and stays inside ``area``."""
    w, h = 6.3 * len(text), 13.0
    for x0, y0 in (
        (cx + 9, cy - h / 2),
        (cx - 9 - w, cy - h / 2),
        (cx - w / 2, cy - 9 - h),
        (cx - w / 2, cy + 9),
        (cx + 9, cy - h - 2),
        (cx + 9, cy + 2),
    ):
        box = (x0, y0, x0 + w, y0 + h)
        inside = box[0] >= area[0] and box[1] >= area[1] and box[2] <= area[2] and box[3] <= area[3]
        if inside and not any(box[0] < t[2] and t[0] < box[2] and box[1] < t[3] and t[1] < box[3] for t in taken):
            return box
    return None


def top_series(series: Sequence[Series], limit: int = 12) -> list[Series]:
    """At most ``limit`` series for the crowded charts: the highest complete mRR first, in their original order."""
    if len(series) <= limit:
        return list(series)

    def rank(s: Series) -> float:
        st = s.group.metrics.get("mrr")
        return st.mean if st is not None and st.complete else -1.0

    keep = {id(s) for s in sorted(series, key=rank, reverse=True)[:limit]}
    kept = [s for s in series if id(s) in keep]
    return [Series(s.group, s.label, PALETTE[i % len(PALETTE)]) for i, s in enumerate(kept)]  # distinct colours


def _legend(svg: ET.Element, series: Sequence[Series], x: float, y: float, width: float) -> float:
    """Coloured swatches with labels, wrapped into rows; returns the y below the legend."""
    cx, cy = x, y
    for s in series:
        text = s.label + (" [ref]" if s.group.reference else "")
        w = 22 + 6.4 * len(text)
        if cx + w > x + width and cx > x:
            cx, cy = x, cy + 18
        ET.SubElement(
            svg,
            "rect",
            {
                "x": f"{cx:.1f}",
                "y": f"{cy - 9:.1f}",
                "width": "12",
                "height": "12",
                "rx": "2",
                "fill": "white" if s.group.reference else s.color,
                "stroke": s.color,
                "stroke-width": "2",
            },
        )
        _text(svg, cx + 17, cy + 1, text, 11)
        cx += w + 12
    return cy + 18


def rr_bars(series: Sequence[Series]) -> str:
    """Resilience rate per corruption as grouped bars, one bar per line with that RR complete."""
    title = "Resilience rate per corruption"
    shown = [
        s
        for s in series
        if any(s.group.metrics.get(f"rr:{c}") and s.group.metrics[f"rr:{c}"].complete for c in CORRUPTIONS)
    ]
    W = 1040
    if not shown:
        return empty_note(W, 200, title, "No entry has a complete resilience rate yet")
    svg = _svg(W, 400, title)
    top = _legend(svg, shown, 56, 16, W - 70) + 8
    H, L, B = 400, 56, 34
    vals = [
        100 * s.group.metrics[f"rr:{c}"].mean for s in shown for c in CORRUPTIONS if s.group.metrics[f"rr:{c}"].complete
    ]
    yt = nice_ticks(0.0, max(100.0, max(vals)))

    def y_of(v: float) -> float:
        return H - B - v / yt[-1] * (H - top - B)

    _y_axis(svg, yt, y_of, L, W - 10, "RR (%)")
    slot = (W - L - 20) / len(CORRUPTIONS)
    bar = min(18.0, (slot - 16) / len(shown))
    for i, name in enumerate(CORRUPTIONS):
        x0 = L + 10 + i * slot + (slot - bar * len(shown)) / 2
        _text(svg, L + 10 + i * slot + slot / 2, H - B + 16, name, 11, "middle", "#3b4252")
        for j, s in enumerate(shown):
            st = s.group.metrics[f"rr:{name}"]
            if not st.complete:
                continue
            v = 100 * st.mean
            attrs = {
                "x": f"{x0 + j * bar:.1f}",
                "y": f"{y_of(v):.1f}",
                "width": f"{max(bar - 2, 1):.1f}",
                "height": f"{y_of(0) - y_of(v):.1f}",
                "fill": s.color,
                "rx": "1.5",
            }
            if s.group.reference:
                attrs.update({"fill": "white", "stroke": s.color, "stroke-width": "1.5"})
            rect = ET.SubElement(svg, "rect", attrs)
            ET.SubElement(rect, "title").text = f"{s.label} · {name}: RR {v:.1f}%"
    _line(svg, L, y_of(100), W - 10, y_of(100), "#b48ead", 1)
    return _to_str(svg)


def severity_multiples(series: Sequence[Series]) -> str:
    """NDS against severity (clean, easy, mid, hard), one small panel per corruption, one line per entry.

    Only measured levels are drawn (references derived from per-corruption numbers are left out).
    """
    title = "NDS against severity level"
    steps: list[Condition] = [CLEAN]
    nds = metric_getter("nds")

    def values(s: Series, name: str) -> list[float | None]:
        conds = steps + [Condition(name, lvl) for lvl in LEVELS]
        out = []
        for c in conds:
            st = s.group.condition_stat(c, nds)
            exact = s.group.exact is None or c in s.group.exact
            out.append(100 * st.mean if st.complete and exact else None)
        return out

    data = {s.label: {n: values(s, n) for n in CORRUPTIONS} for s in series}
    shown = [s for s in series if any(v is not None for n in CORRUPTIONS for v in data[s.label][n][1:])]
    W = 1040
    if not shown:
        return empty_note(W, 200, title, "No per-level NDS to plot yet")
    flat = [v for s in shown for n in CORRUPTIONS for v in data[s.label][n] if v is not None]
    yt = nice_ticks(0.0, max(flat))
    svg = _svg(W, 10, title)
    top = _legend(svg, shown, 40, 16, W - 50) + 4
    cols, pw, ph, gap = 4, 250, 170, 10
    rows = math.ceil(len(CORRUPTIONS) / cols)
    H = int(top + rows * (ph + gap))
    svg.set("viewBox", f"0 0 {W} {H}")
    svg.set("height", str(H))
    for k, name in enumerate(CORRUPTIONS):
        ox, oy = 10 + (k % cols) * (pw + gap), top + (k // cols) * (ph + gap)
        L, R, T, B = ox + 34, ox + pw - 18, oy + 22, oy + ph - 22

        def y_of(v: float, T: float = T, B: float = B) -> float:
            return B - v / yt[-1] * (B - T)

        def x_of(i: int, L: float = L, R: float = R) -> float:
            return L + i * (R - L) / 3

        ET.SubElement(
            svg,
            "rect",
            {
                "x": str(ox),
                "y": f"{oy:.1f}",
                "width": str(pw),
                "height": str(ph),
                "fill": "#fbfcfd",
                "stroke": GRID,
                "rx": "6",
            },
        )
        _text(svg, ox + 10, oy + 15, name, 12, "start", "#2e3440", "600")
        _y_axis(svg, yt, y_of, L, R, None)
        for i, lab in enumerate(("clean",) + LEVELS):
            _text(svg, x_of(i), B + 14, lab, 10, "middle", AXIS)
        for s in shown:
            vals = data[s.label][name]
            pts = [(x_of(i), y_of(v)) for i, v in enumerate(vals) if v is not None]
            for i in range(len(vals) - 1):
                if vals[i] is not None and vals[i + 1] is not None:
                    _line(svg, x_of(i), y_of(vals[i]), x_of(i + 1), y_of(vals[i + 1]), s.color, 2)
            for px, py in pts:
                ET.SubElement(svg, "circle", {"cx": f"{px:.1f}", "cy": f"{py:.1f}", "r": "2.6", "fill": s.color})
    return _to_str(svg)
