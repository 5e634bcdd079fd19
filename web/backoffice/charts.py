"""Chart geometry for the dashboard's server-rendered SVG (drawn by backoffice/_chart.html).

No JavaScript and no style attributes: the CSP allows neither inline script nor inline style,
so the template draws with SVG presentation attributes (x, y, width, points) and CSS classes
from app.css. The viewBox scales the drawing to the card's width, phone or desktop.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

WIDTH = 400
HEIGHT = 180
LEFT = 44  # room for the y-axis labels
RIGHT = 8
TOP = 10
BOTTOM = 24  # room for the x-axis labels


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Line:
    css: str  # chart-line-1, chart-line-2: colours in app.css
    label: str
    points: str  # "x,y x,y …" for <polyline points>


@dataclass(frozen=True)
class XLabel:
    x: float
    label: str


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    left: int
    right: float
    top: int
    bottom: float
    ticks: list[Tick]
    x_labels: list[XLabel]
    bars: list[Bar]
    lines: list[Line]
    empty: bool


def _nice_step(maximum: float, steps: int = 4) -> float:
    raw = maximum / steps
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _axis(maximum: float, fmt: Callable[[float], str]) -> tuple[float, list[Tick]]:
    top = max(maximum, 1)
    step = _nice_step(top)
    if step < 1:
        step = 1
    ceiling = step * math.ceil(top / step)
    plot = HEIGHT - TOP - BOTTOM
    ticks = []
    value = 0.0
    while value <= ceiling + 1e-9:
        ticks.append(Tick(y=round(HEIGHT - BOTTOM - plot * value / ceiling, 1), label=fmt(value)))
        value += step
    return ceiling, ticks


def short_number(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{value / 1_000:g}k"
    return f"{value:g}"


def _x_labels(days: Sequence[date], slot: float, count: int = 4) -> list[XLabel]:
    if not days:
        return []
    every = max(1, math.ceil(len(days) / count))
    return [
        XLabel(x=round(LEFT + slot * (i + 0.5), 1), label=day.strftime("%d %b"))
        for i, day in enumerate(days)
        if i % every == 0
    ]


def bar_chart(
    title: str,
    days: Sequence[date],
    values: Sequence[int],
    *,
    fmt: Callable[[float], str] = short_number,
    unit: str = "",
) -> Chart:
    ceiling, ticks = _axis(max(values, default=0), fmt)
    slot = (WIDTH - LEFT - RIGHT) / max(len(values), 1)
    plot = HEIGHT - TOP - BOTTOM
    gap = min(2.0, slot * 0.2)
    bars = []
    for i, (day, value) in enumerate(zip(days, values, strict=True)):
        height = plot * value / ceiling
        bars.append(
            Bar(
                x=round(LEFT + slot * i + gap / 2, 2),
                y=round(HEIGHT - BOTTOM - height, 2),
                width=round(max(slot - gap, 0.5), 2),
                height=round(height, 2),
                title=f"{day.strftime('%d %b %Y')}: {fmt(value)}{unit}",
            )
        )
    return Chart(
        title=title,
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=WIDTH - RIGHT,
        top=TOP,
        bottom=HEIGHT - BOTTOM,
        ticks=ticks,
        x_labels=_x_labels(days, slot),
        bars=bars,
        lines=[],
        empty=not any(values),
    )


def line_chart(
    title: str,
    days: Sequence[date],
    series: Sequence[tuple[str, Sequence[int]]],
    *,
    fmt: Callable[[float], str] = short_number,
) -> Chart:
    ceiling, ticks = _axis(max((max(values, default=0) for _, values in series), default=0), fmt)
    slot = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    plot = HEIGHT - TOP - BOTTOM
    lines = []
    for n, (label, values) in enumerate(series, start=1):
        points = " ".join(
            f"{LEFT + slot * (i + 0.5):.1f},{HEIGHT - BOTTOM - plot * value / ceiling:.1f}"
            for i, value in enumerate(values)
        )
        lines.append(Line(css=f"chart-line-{n}", label=label, points=points))
    return Chart(
        title=title,
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=WIDTH - RIGHT,
        top=TOP,
        bottom=HEIGHT - BOTTOM,
        ticks=ticks,
        x_labels=_x_labels(days, slot),
        bars=[],
        lines=lines,
        empty=not any(any(values) for _, values in series),
    )
