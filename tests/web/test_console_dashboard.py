"""The console dashboard's figures, recomputed here from raw case, track and action rows (TID-2, DSA-8
median time to act), and their page: SVG charts without inline styles, refreshed by HTMX."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from staydown.cases.figures import dashboard_figures
from staydown.cases.models import Case, LegalTrack
from staydown.db import Database
from staydown.enforcement.models import EnforcementAction
from staydown.web.console.dashboard import duration
from tests.conftest import T0
from tests.web.console_helpers import console_user

H = timedelta(hours=1)


def _case(db, area: str, state: str, opened: datetime) -> Case:
    case = Case(state=state, area=area, severity="high", opened_at=opened, child_safety=area == "child_safety")
    db.add(case)
    db.flush()
    return case


def _track(db, case: Case, kind: str, state: str, due: datetime | None, met: datetime | None = None) -> None:
    db.add(LegalTrack(case_id=case.id, kind=kind, state=state, received_at=T0 - 10 * H, due_at=due, met_at=met))


def _action(db, case: Case, at: datetime, *, interim: bool = False) -> None:
    db.add(
        EnforcementAction(
            kind="remove",
            target="content",
            case_id=case.id,
            state="active",
            interim=interim,
            created_by="staff:1",
            created_at=at,
        )
    )


@pytest.fixture
def rows(database: Database) -> None:
    """A spread of cases around T0: open ones in three areas, tracks due soon, late and overdue,
    and first actions at known delays (interim restrictions must not count)."""
    with database.unit_of_work() as db:
        a = _case(db, "child_safety", "open", T0 - 5 * H)
        b = _case(db, "child_safety", "second_review", T0 - 2 * H)
        c = _case(db, "ncii", "open", T0 - 1 * H)
        d = _case(db, "spam", "open", T0 - 50 * H)
        e = _case(db, "spam", "decided", T0 - 30 * H)
        f = _case(db, "ncii", "decided", T0 - 10 * 24 * H)
        g = _case(db, "violence", "decided", T0 - 40 * 24 * H)
        _track(db, a, "take_it_down", "open", T0 + 2 * H)  # due in 4 h and 24 h
        _track(db, a, "ncmec", "waiting", None)  # no clock: not due
        _track(db, b, "take_it_down", "open", T0 + 3 * H + 59 * timedelta(minutes=1))
        _track(db, c, "uk_intimate_image", "open", T0 + 20 * H)  # 24 h only
        _track(db, c, "dsa_notice", "open", T0 + 30 * H)  # beyond 24 h
        _track(db, d, "dsa_notice", "open", T0 - 1 * H)  # overdue
        _track(db, e, "dsa_notice", "met", T0 - 3 * H, met=T0 - 2 * H)  # met late
        _track(db, f, "take_it_down", "met", T0 - 9 * 24 * H, met=T0 - 9 * 24 * H - H)  # met in time
        _track(db, g, "dsa_notice", "met", T0 - 39 * 24 * H, met=T0 - 38 * 24 * H)  # late, but 38 days ago
        _action(db, a, T0 - 5 * H, interim=True)  # interim: ignored
        _action(db, e, T0 - 30 * H + 30 * timedelta(minutes=1))  # 30 min, within 7 days
        _action(db, e, T0 - 20 * H)  # a later action on e: not the first
        _action(db, f, T0 - 10 * 24 * H + 5 * H)  # 5 h, within 30 days only
        _action(db, c, T0)  # 1 h, just now
        _action(db, g, T0 - 40 * 24 * H + 3 * H)  # outside 30 days


def _recompute(database: Database) -> dict[str, object]:
    """The figures from the raw rows, by plain Python over every row."""
    with database.unit_of_work(write=False) as db:
        cases = db.execute(sa.select(Case)).scalars().all()
        tracks = db.execute(sa.select(LegalTrack)).scalars().all()
        acts = db.execute(sa.select(EnforcementAction)).scalars().all()
        open_by_area = Counter(c.area for c in cases if c.state in ("open", "second_review"))
        due = [t for t in tracks if t.state == "open" and t.due_at is not None and T0 < t.due_at <= T0 + 24 * H]
        first: dict[int, datetime] = {}
        for act in acts:
            if not act.interim and act.case_id is not None:
                first[act.case_id] = min(first.get(act.case_id, act.created_at), act.created_at)
        opened = {c.id: c.opened_at for c in cases}

        def median(days: int) -> float | None:
            delays = [(at - opened[cid]).total_seconds() for cid, at in first.items() if T0 - days * 24 * H < at <= T0]
            return statistics.median(delays) if delays else None

        return {
            "open_by_area": dict(open_by_area),
            "due_4h": sum(1 for t in due if t.due_at is not None and t.due_at <= T0 + 4 * H),
            "due_24h": len(due),
            "overdue": sum(1 for t in tracks if t.state == "open" and t.due_at is not None and t.due_at <= T0),
            "late": sum(
                1
                for t in tracks
                if t.state == "met"
                and t.met_at is not None
                and t.due_at is not None
                and t.met_at > T0 - 30 * 24 * H
                and t.met_at > t.due_at
            ),
            "median7": median(7),
            "median30": median(30),
        }


def test_dsa8_dashboard_figures_match_the_raw_rows(database: Database, rows: None) -> None:
    expected = _recompute(database)
    with database.unit_of_work(write=False) as db:
        got = dashboard_figures(db)
    assert got.open_by_area == expected["open_by_area"] == {"child_safety": 2, "ncii": 1, "spam": 1}
    assert (got.due_4h, got.due_24h) == (expected["due_4h"], expected["due_24h"]) == (2, 3)
    assert got.overdue == expected["overdue"] == 1
    assert got.met_late_30d == expected["late"] == 1
    seven, thirty = got.time_to_action
    assert seven.median_seconds == expected["median7"] == 45 * 60  # median of 30 min and 1 h
    assert thirty.median_seconds == expected["median30"] == 60 * 60  # median of 30 min, 1 h, 5 h
    assert (seven.actions, thirty.actions) == (2, 3)
    assert (
        got.due_by_hour[2] == 1 and got.due_by_hour[3] == 1 and got.due_by_hour[20] == 1 and sum(got.due_by_hour) == 3
    )
    assert [t.due_at for t in got.due_soon] == sorted(t.due_at for t in got.due_soon)


def test_dashboard_page_shows_figures_and_svg_charts(client, database: Database, rows: None) -> None:
    mo = console_user(client, database, "mo", "moderator")
    r = mo.get("/console/dashboard")
    assert r.status_code == 200
    html = r.text
    assert re.search(r'id="fig-due-4h">2<', html) and re.search(r'id="fig-due-24h">3<', html)
    assert re.search(r'id="fig-overdue">1<', html) and re.search(r'id="fig-late">1<', html)
    assert 'id="fig-tta-7">45 min<' in html and 'id="fig-tta-30">1 h 00 min<' in html
    # One bar per open area, drawn with SVG attributes and classes: no style attribute anywhere (CSP).
    assert len(re.findall(r'<rect [^>]*class="bar area-', html)) == 3
    assert "style=" not in html and "<script>" not in html
    assert 'hx-trigger="every 30s"' in html and 'hx-get="/console/dashboard/figures"' in html
    part = mo.get("/console/dashboard/figures")
    assert part.status_code == 200 and part.text.lstrip().startswith('<div id="dashboard-figures"')
    assert "<html" not in part.text


def test_dashboard_with_nothing_open(client, database: Database) -> None:
    aud = console_user(client, database, "aud", "auditor")
    html = aud.get("/console/dashboard").text
    assert "No open cases." in html and "Nothing falls due in the next 24 hours." in html
    assert 'id="fig-tta-7">no actions<' in html


@pytest.mark.parametrize(
    "seconds,text",
    [
        (None, "no actions"),
        (0, "0 min"),
        (59 * 60, "59 min"),
        (3 * 3600 + 5 * 60, "3 h 05 min"),
        (50 * 3600, "2 d 2 h"),
    ],
)
def test_duration_wording(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text
