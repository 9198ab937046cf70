"""Console dashboard: live figures (open cases by area, deadlines due, breaches, median time to action)
with SVG charts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from staydown.actors import Actor
from staydown.cases.figures import Figures, dashboard_figures
from staydown.http import DbSession, require
from staydown.i18n import gettext
from staydown.staff.permissions import Permission
from staydown.web.console.session import console_session
from staydown.web.console.words import word
from staydown.web.templating import render

router = APIRouter(prefix="/console", dependencies=[Depends(console_session)], include_in_schema=False)

Reader = Annotated[Actor, Depends(require(Permission.DASHBOARD_READ))]

# Chart geometry, in SVG user units; the SVG scales to its container (viewBox), so no inline style.
BAR_CHART_WIDTH = 600
BAR_HEIGHT = 26
BAR_GAP = 8
LABEL_WIDTH = 150
HOURS_CHART_HEIGHT = 160


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float


def area_bars(figures: Figures) -> list[Bar]:
    """Horizontal bars, one per area, scaled to the largest."""
    largest = max(figures.open_by_area.values(), default=0) or 1
    # Room for the longest area's name in the reader's language ("protection de l'enfance").
    label_width = max([LABEL_WIDTH] + [8 * len(word(area)) + 12 for area in figures.open_by_area])
    room = BAR_CHART_WIDTH - label_width - 50
    return [
        Bar(area, n, label_width, i * (BAR_HEIGHT + BAR_GAP), round(room * n / largest, 1), BAR_HEIGHT)
        for i, (area, n) in enumerate(sorted(figures.open_by_area.items(), key=lambda kv: (-kv[1], kv[0])))
    ]


def hour_bars(figures: Figures) -> list[Bar]:
    """Vertical bars: how many tracks fall due in each of the next 24 hours."""
    largest = max(figures.due_by_hour, default=0) or 1
    slot = BAR_CHART_WIDTH / 24
    top, bottom = 20, 26  # room for the value above a bar and the hour labels below
    room = HOURS_CHART_HEIGHT - top - bottom
    bars = []
    for hour, n in enumerate(figures.due_by_hour):
        height = round(room * n / largest, 1)
        bars.append(
            Bar(f"+{hour}h", n, round(hour * slot + 2, 1), round(top + room - height, 1), round(slot - 4, 1), height)
        )
    return bars


def duration(seconds: float | None) -> str:
    if seconds is None:
        return gettext("no actions")
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} d {hours % 24} h"


def _context(db: DbSession) -> dict[str, object]:
    figures = dashboard_figures(db)
    return {
        "f": figures,
        "area_bars": area_bars(figures),
        "hour_bars": hour_bars(figures),
        "duration": duration,
        "chart_width": BAR_CHART_WIDTH,
        "bar_height": BAR_HEIGHT,
        "bar_gap": BAR_GAP,
        "hours_height": HOURS_CHART_HEIGHT,
    }


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, db: DbSession, _: Reader) -> Response:
    return render(request, "console/dashboard.html", _context(db))


@router.get("/dashboard/figures", response_class=HTMLResponse)
def dashboard_partial(request: Request, db: DbSession, _: Reader) -> Response:
    """The figures alone, which the page swaps in every 30 seconds (HTMX)."""
    return render(request, "console/dashboard_figures.html", _context(db))
