"""A backtest as the builder shows it: the progress bar while it runs, then its figures and the weekly chart's bars
(plain SVG, scaled here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.models import RuleBacktest

CHART_HEIGHT = 120


@dataclass(frozen=True)
class WeekBar:
    """One week of the chart: its Monday, the points with the draft and with the live rules, and the bar heights."""

    week: str
    points: int
    baseline_points: int
    height: int
    baseline_height: int


@dataclass(frozen=True)
class BacktestView:
    """What the backtest fragment renders."""

    running: bool
    percent: int
    done: int
    total: int | None
    weeks: list[WeekBar] = field(default_factory=list)
    result: dict[str, Any] | None = None


def view(run: RuleBacktest) -> BacktestView:
    """The run's progress, and once done its result with the weekly bars scaled to the chart."""
    running = run.status in ("queued", "running")
    total = run.events_total
    percent = 100 if run.status == "done" else (100 * run.events_done // total if total else 0)
    weeks: list[WeekBar] = []
    if run.result:
        rows = run.result.get("by_week", [])
        peak = max((max(points, baseline) for _, points, baseline in rows), default=0) or 1
        weeks = [
            WeekBar(week, points, baseline, CHART_HEIGHT * points // peak, CHART_HEIGHT * baseline // peak)
            for week, points, baseline in rows
        ]
    return BacktestView(running, percent, run.events_done, total, weeks, run.result)
