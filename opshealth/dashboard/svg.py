"""Charts drawn on the server as inline SVG: sparkline, bars, stacked bars, lineage graph.

Every chart is an `<svg role="img">` whose `<title>` (named by `aria-labelledby`) says
what it shows, and every bar or node has its own `<title>` (a tooltip, read by screen
readers), so the page needs no script and no chart library. Colours are CSS classes
(`dashboard.css`), never inline styles. All text is escaped here: callers pass plain
strings.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Element ids must be unique in a page that shows several charts.
_ids = itertools.count(1)


def _svg(width: float, height: float, label: str, body: list[str], css: str, ident: str = "") -> SafeString:
    ident = ident or f"chart-{next(_ids)}"
    # Charts stretch to their box (CSS width: 100%); a graph keeps its proportions.
    aspect = "" if css == "lineage" else ' preserveAspectRatio="none"'
    return mark_safe(
        f'<svg class="chart {css}" role="img" aria-labelledby="{ident}" viewBox="0 0 {_fmt(width)} {_fmt(height)}" '
        f'width="{_fmt(width)}" height="{_fmt(height)}"{aspect}>'
        f'<title id="{ident}">{escape(label)}</title>{"".join(body)}</svg>'
    )


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def sparkline(
    values: Sequence[float | None],
    *,
    label: str,
    width: int = 240,
    height: int = 40,
    lo: float | None = None,
    hi: float | None = None,
) -> SafeString:
    """A line through `values` (oldest first); None leaves a gap. The y range is
    [lo, hi] when given (a score is drawn on 0..100), else the values' own range."""
    present = [v for v in values if v is not None]
    if not present:
        return _svg(width, height, f"{label}: no data", [], "sparkline")
    lo = min(present) if lo is None else lo
    hi = max(present) if hi is None else hi
    span = (hi - lo) or 1.0
    step = width / max(len(values) - 1, 1)
    pad = 2

    def y(v: float) -> float:
        return pad + (height - 2 * pad) * (1 - (v - lo) / span)

    segments, current = [], []
    for i, v in enumerate(values):
        if v is None:
            if current:
                segments.append(current)
            current = []
        else:
            current.append(f"{_fmt(i * step)},{_fmt(y(v))}")
    if current:
        segments.append(current)
    body = [f'<polyline points="{" ".join(seg)}"/>' if len(seg) > 1 else _dot(seg[0]) for seg in segments]
    last_index = max(i for i, v in enumerate(values) if v is not None)
    body.append(_dot(f"{_fmt(last_index * step)},{_fmt(y(values[last_index]))}", "last"))
    summary = f"{label}: from {_fmt(present[0])} to {_fmt(present[-1])}, lowest {_fmt(min(present))}"
    return _svg(width, height, summary, body, "sparkline")


def _dot(point: str, css: str = "") -> str:
    x, y = point.split(",")
    return f'<circle class="{css}" cx="{x}" cy="{y}" r="2"/>'


def bars(
    items: Sequence[tuple[str, float]],
    *,
    label: str,
    width: int = 480,
    height: int = 80,
    unit: str = "",
    slots: int = 0,
) -> SafeString:
    """One bar per (label, value), left to right, scaled to the largest value."""
    return stacked_bars(
        [name for name, _ in items],
        {"value": [value for _, value in items]},
        label=label,
        width=width,
        height=height,
        unit=unit,
        slots=slots,
    )


def stacked_bars(
    labels: Sequence[str],
    series: dict[str, Sequence[float]],
    *,
    label: str,
    width: int = 480,
    height: int = 80,
    unit: str = "",
    slots: int = 0,
) -> SafeString:
    """A bar per label, its segments stacked bottom-up in the order of `series`
    (name → one value per label). Each segment gets the CSS class `s-<name>`. With
    `slots`, the bars keep the width of that many and sit at the right (a short history
    does not draw as one fat bar)."""
    count = len(labels)
    if not count:
        return _svg(width, height, f"{label}: no data", [], "bars")
    offset = max(slots - count, 0)
    # Numbers from SQL sums arrive as Decimal.
    series = {kind: [float(v or 0) for v in values] for kind, values in series.items()}
    totals = [sum(values[i] for values in series.values()) for i in range(count)]
    top = max(totals) or 1
    slot = width / (count + offset)
    gap = min(2.0, slot / 4)
    body = []
    for i, name in enumerate(labels):
        base = float(height)
        parts = []
        for kind, values in series.items():
            value = values[i]
            if not value:
                continue
            h = height * value / top
            base -= h
            text = f"{name}: {_fmt(value)}{unit}" + (f" {kind}" if len(series) > 1 else "")
            body.append(
                f'<rect class="s-{escape(kind)}" x="{_fmt((offset + i) * slot + gap / 2)}" y="{_fmt(base)}" '
                f'width="{_fmt(slot - gap)}" height="{_fmt(h)}"><title>{escape(text)}</title></rect>'
            )
            parts.append(f"{_fmt(value)} {kind}")
        if not parts:
            # An empty slot still says so to a screen reader.
            body.append(
                f'<rect class="s-none" x="{_fmt((offset + i) * slot)}" y="0" width="{_fmt(slot)}" height="{height}">'
                f"<title>{escape(name)}: 0{escape(unit)}</title></rect>"
            )
    peak = max(range(count), key=lambda i: totals[i])
    summary = f"{label}: {count} bars, highest {_fmt(totals[peak])}{unit} on {labels[peak]}"
    return _svg(width, height, summary, body, "bars")


@dataclass(frozen=True)
class Node:
    """An object of the lineage graph. `depth` < 0 upstream, 0 the object, > 0 downstream."""

    id: int
    label: str
    depth: int
    href: str
    css: str = ""  # a status class: ok, warn, error, gone
    hint: str = ""  # more words for the tooltip


NODE_W, NODE_H, COL_GAP, ROW_GAP = 170, 26, 44, 10
ARC_W = COL_GAP - 8  # how far an arc between nodes of one column bends out


def lineage_graph(
    nodes: Sequence[Node], edges: Sequence[tuple[int, int]], *, label: str, more: dict[int, int] | None = None
) -> SafeString:
    """Columns by depth (upstream left), an arrow per edge (upstream id, downstream id)
    between drawn nodes, titled "a → b", each node a link to its object page. `more`
    counts, per depth, the nodes left out of a crowded column.

    An edge between two nodes of one column (a diamond's short side: both are one hop
    from the object) is an arc out of the column's right side; one that runs right to
    left (its downstream placed nearer the object by a shorter path) leaves its upstream
    on the left, dashed: neither crosses a node of its own column."""
    more = more or {}
    depths = sorted({n.depth for n in nodes} | set(more))
    if not depths:
        return _svg(NODE_W, NODE_H, f"{label}: nothing", [], "lineage")
    columns = {d: [n for n in nodes if n.depth == d] for d in depths}
    names = {n.id: n.label for n in nodes}
    depth_of = {n.id: n.depth for n in nodes}
    drawn = [(u, d) for u, d in edges if u in names and d in names]
    rows = max(len(col) + (1 if more.get(d) else 0) for d, col in columns.items())
    # Arcs of the last column need room on its right.
    arc_room = ARC_W if any(depth_of[u] == depth_of[d] == depths[-1] for u, d in drawn) else 0
    width = len(depths) * NODE_W + (len(depths) - 1) * COL_GAP + arc_room
    height = rows * (NODE_H + ROW_GAP) - ROW_GAP
    ident = f"chart-{next(_ids)}"
    where: dict[int, tuple[float, float]] = {}
    body: list[str] = [
        f'<defs><marker id="{ident}-arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0 0 L8 4 L0 8 z"/></marker></defs>'
    ]
    for ci, depth in enumerate(depths):
        x = ci * (NODE_W + COL_GAP)
        for ri, node in enumerate(columns[depth]):
            where[node.id] = (x, ri * (NODE_H + ROW_GAP))
        if more.get(depth):
            y = len(columns[depth]) * (NODE_H + ROW_GAP)
            body.append(
                f'<text class="more" x="{x + 6}" y="{y + NODE_H * 0.65:.0f}">+{more[depth]} more</text>'
            )
    for up, down in drawn:
        (x1, y1), (x2, y2) = where[up], where[down]
        y1, y2 = y1 + NODE_H / 2, y2 + NODE_H / 2
        if depth_of[up] == depth_of[down]:
            css, right = "edge inner", x1 + NODE_W
            bend = right + min(ARC_W, 12 + abs(y2 - y1) / 6)
            d = f"M{_fmt(right)} {_fmt(y1)} C{_fmt(bend)} {_fmt(y1)} {_fmt(bend)} {_fmt(y2)} {_fmt(right)} {_fmt(y2)}"
        else:
            css = "edge" if depth_of[up] < depth_of[down] else "edge back"
            if depth_of[up] < depth_of[down]:
                x1 += NODE_W
            else:
                x2 += NODE_W
            mid = (x1 + x2) / 2
            d = f"M{_fmt(x1)} {_fmt(y1)} C{_fmt(mid)} {_fmt(y1)} {_fmt(mid)} {_fmt(y2)} {_fmt(x2)} {_fmt(y2)}"
        body.append(
            f'<path class="{css}" marker-end="url(#{ident}-arrow)" d="{d}">'
            f"<title>{escape(names[up])} → {escape(names[down])}</title></path>"
        )
    for node in nodes:
        x, y = where[node.id]
        text = node.label if len(node.label) <= 25 else node.label[:24] + "…"
        tip = node.label + (f" — {node.hint}" if node.hint else "")
        css = " ".join(c for c in ("node", node.css, "center" if node.depth == 0 else "") if c)
        body.append(
            f'<a href="{escape(node.href)}" class="{escape(css)}"><title>{escape(tip)}</title>'
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="4"/>'
            f'<text x="{x + 8}" y="{y + NODE_H * 0.65:.0f}">{escape(text)}</text></a>'
        )
    ups = sum(1 for n in nodes if n.depth < 0) + sum(v for d, v in more.items() if d < 0)
    downs = sum(1 for n in nodes if n.depth > 0) + sum(v for d, v in more.items() if d > 0)
    summary = f"{label}: {ups} upstream and {downs} downstream objects"
    return _svg(width, height, summary, body, "lineage", ident)
