"""A track's chart history as small SVG lines: one per chart, position 1 at the top."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.db.read_models import ChartPosition

WIDTH = 320
HEIGHT = 80
PAD = 8


@dataclass(frozen=True)
class PositionLine:
    chart_key: str
    title: str
    points: str  # the polyline's "x,y x,y …"
    dots: list[tuple[float, float, str]]  # x, y and a tooltip per snapshot
    latest: int
    best: int
    deepest: int
    width: int = WIDTH
    height: int = HEIGHT


def _line(chart_key: str, history: list[ChartPosition]) -> PositionLine:
    deepest = max(max(p.position for p in history), 10)
    span = max(len(history) - 1, 1)

    def x(index: int) -> float:
        return round(PAD + (WIDTH - 2 * PAD) * (index / span if len(history) > 1 else 0.5), 1)

    def y(position: int) -> float:
        return round(PAD + (HEIGHT - 2 * PAD) * (position - 1) / max(deepest - 1, 1), 1)

    dots = [
        (x(i), y(p.position), f"#{p.position} on {p.collected_at:%Y-%m-%d %H:%M}")
        for i, p in enumerate(history)
    ]
    return PositionLine(
        chart_key=chart_key,
        title=history[-1].title or chart_key,
        points=" ".join(f"{dx},{dy}" for dx, dy, _ in dots),
        dots=dots,
        latest=history[-1].position,
        best=min(p.position for p in history),
        deepest=deepest,
    )


def position_line(history: Iterable[ChartPosition]) -> list[PositionLine]:
    charts: dict[str, list[ChartPosition]] = {}
    for entry in sorted(history, key=lambda p: (p.collected_at, p.snapshot_id)):
        charts.setdefault(entry.chart_key, []).append(entry)
    return [_line(key, entries) for key, entries in charts.items()]
