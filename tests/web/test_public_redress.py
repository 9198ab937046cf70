"""Public statement of reasons, appeal and transparency pages, without a browser (DSA-2, DSA-4, DSA-8)."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from staydown.actors import Actor
from staydown.appeals.models import Appeal
from staydown.cases.actions import claim_case
from staydown.cases.models import Case
from staydown.db import Database
from staydown.flows.decisions import decide_case
from staydown.intake.actions import submit_notice
from staydown.intake.schemas import NoticeIn
from staydown.staff.permissions import permissions_for_roles
from staydown.transparency.models import StatementOfReasons

MOD = Actor.staff(5, "mod", permissions_for_roles(["moderator"]))
CODE_RE = re.compile(r'id="tracking-code">([0-9A-Z-]+)<')


def token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def decided_report(client, database: Database, outcome: str = "violates") -> tuple[str, str | None]:
    """A public report on post-8, decided: (the report's tracking code, the statement code if any)."""
    catalogue = client.app.state.catalogue
    with database.unit_of_work() as db:
        receipt = submit_notice(
            db,
            actor=Actor.public(),
            catalogue=catalogue,
            notice=NoticeIn(
                kind="public_report",
                reporter_kind="affected_person",
                policy_id="harassment",
                items=[{"content_id": "post-8", "account_id": "acct-8"}],
                explanation="Daily insults about my family.",
                good_faith=True,
                contact_email="me@example.org",
            ),
        )
        code = receipt.notice.tracking_code
        case = db.get_one(Case, receipt.cases[0].id)
        claim_case(db, actor=MOD, case=case)
        decide_case(
            db,
            actor=MOD,
            case=case,
            policy_ref="harassment@2",
            outcome=outcome,
            facts="Repeated insults aimed at one person.",
            actions=["remove"] if outcome == "violates" else None,
            catalogue=catalogue,
        )
    with database.unit_of_work(write=False) as db:
        statement = db.execute(sa.select(StatementOfReasons.code).order_by(StatementOfReasons.id)).scalars().first()
    return code, statement


def test_dsa2_the_statement_of_reasons_page_shows_every_element_and_the_way_to_contest_it(
    client, database: Database
) -> None:
    _, code = decided_report(client, database)
    assert code is not None
    r = client.get(f"/statements/{code}")
    assert r.status_code == 200
    text = r.text
    for element in (
        "What we did",
        "From",
        "Until",
        "Where",
        "Rule",
        "Facts we relied on",
        "How we learned of it",
        "detected by automated means",
        "The decision was taken by a person",
        "How to contest it",
        "out-of-court dispute settlement body",
        "court",
    ):
        assert element in text, element
    assert f'href="/appeal?statement={code}"' in text
    assert "me@example.org" not in text and "acct-8" not in text and "post-8" not in text  # no personal data
    assert client.get("/statements/S0000000000").status_code == 404


def test_dsa4_an_affected_user_appeals_from_the_statement_and_follows_it(client, database: Database) -> None:
    _, code = decided_report(client, database)
    form = client.get(f"/appeal?statement={code}")
    assert form.status_code == 200 and "Ask for a review" in form.text
    assert re.search(r'value="content_restriction" checked', form.text)  # the measure was on content
    assert 'value="no_action"' not in form.text  # a notifier's basis is not offered to the affected user
    empty = client.post(
        "/appeal",
        data={
            "csrf_token": token(form.text),
            "kind": "statement",
            "code": code,
            "basis": "content_restriction",
            "explanation": "",
        },
    )
    assert empty.status_code == 422 and 'href="#f-explanation"' in empty.text
    done = client.post(
        "/appeal",
        data={
            "csrf_token": token(form.text),
            "kind": "statement",
            "code": code,
            "basis": "content_restriction",
            "contact_email": "poster@example.org",
            "explanation": "It was a quote from a film, not an insult.",
        },
    )
    assert done.status_code == 201, done.text
    appeal_code = CODE_RE.search(done.text).group(1)  # type: ignore[union-attr]
    with database.unit_of_work(write=False) as db:
        appeal = db.execute(sa.select(Appeal)).scalar_one()
        assert (appeal.code, appeal.appellant_kind, appeal.basis, appeal.contact_email) == (
            appeal_code,
            "affected_user",
            "content_restriction",
            "poster@example.org",
        )
    status = client.get(f"/appeal/{appeal_code}")
    assert status.status_code == 200 and 'id="state">Received: waiting for a reviewer<' in status.text
    # A second appeal on the same decision is refused with a reason the person can read, on the form.
    again = client.post(
        "/appeal",
        data={
            "csrf_token": token(form.text),
            "kind": "statement",
            "code": code,
            "basis": "content_restriction",
            "explanation": "Please look again.",
        },
    )
    assert again.status_code == 409 and f"already open under code {appeal_code}" in again.text
    assert 'value="Please look again."' not in again.text and ">Please look again.</textarea>" in again.text


def test_dsa4_a_notifier_appeals_a_decision_not_to_act(client, database: Database) -> None:
    tracking, _ = decided_report(client, database, outcome="does_not_violate")
    status = client.get(f"/status/{tracking}")
    assert f'href="/appeal?notice={tracking}"' in status.text
    form = client.get(f"/appeal?notice={tracking}")
    assert form.status_code == 200 and 'name="basis" value="no_action"' in form.text
    assert "We did not act on it." in form.text
    done = client.post(
        "/appeal",
        data={
            "csrf_token": token(form.text),
            "kind": "notice",
            "code": tracking,
            "basis": "no_action",
            "explanation": "The insults continue daily.",
        },
    )
    assert done.status_code == 201
    with database.unit_of_work(write=False) as db:
        appeal = db.execute(sa.select(Appeal)).scalar_one()
        assert appeal.appellant_kind == "notifier" and appeal.basis == "no_action"


def test_an_appeal_before_any_decision_is_refused_with_the_reason(client, database: Database) -> None:
    with database.unit_of_work() as db:
        receipt = submit_notice(
            db,
            actor=Actor.public(),
            catalogue=client.app.state.catalogue,
            notice=NoticeIn(
                kind="public_report", policy_id="spam", items=[{"content_id": "p-1"}], explanation="spam spam spam"
            ),
        )
        tracking = receipt.notice.tracking_code
    form = client.get(f"/appeal?notice={tracking}")
    r = client.post(
        "/appeal",
        data={
            "csrf_token": token(form.text),
            "kind": "notice",
            "code": tracking,
            "basis": "no_action",
            "explanation": "Why so slow?",
        },
    )
    assert r.status_code == 409 and "We could not take this appeal" in r.text
    with database.unit_of_work(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Appeal)) == 0


def test_the_appeal_start_page_asks_for_the_code_and_csrf_is_checked(client) -> None:
    r = client.get("/appeal")
    assert r.status_code == 200 and '<form method="get" action="/appeal"' in r.text
    r = client.get("/appeal?kind=&code=")
    assert r.status_code == 422 and 'href="#f-kind"' in r.text and 'href="#f-code"' in r.text
    assert client.get("/appeal?kind=notice&code=ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ").status_code == 404
    forged = client.post(
        "/appeal",
        data={"csrf_token": "0" * 64, "kind": "notice", "code": "x", "basis": "no_action", "explanation": "x"},
    )
    assert forged.status_code == 403 and "did not come from this site" in forged.text
    assert client.get("/appeal/ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ").status_code == 404


def test_dsa8_the_transparency_page_shows_the_public_figures_with_small_counts_suppressed(
    client, database: Database, clock
) -> None:
    decided_report(client, database)
    r = client.get("/transparency")
    assert r.status_code == 200
    assert re.search(r'id="notices-total">&lt; 5<', r.text)  # one report: shown as "< 5", not as 1
    assert 'href="/public/transparency?from=' in r.text
    assert "style=" not in r.text and "<script" not in r.text
    # With a threshold of 1 the same page shows the exact counts, and a bar drawn to scale.
    client.app.state.settings = client.app.state.settings.model_copy(update={"public_report_min_count": 1})
    start, end = (clock.now() - timedelta(days=1)).date(), (clock.now() + timedelta(days=1)).date()
    r = client.get(f"/transparency?from={start}&to={end}")
    assert re.search(r'id="notices-total">1<', r.text) and re.search(r'id="actions-total">1<', r.text)
    by_source = r.text.split('id="notices-by-source"', 1)[1].split("</table>", 1)[0]
    assert "Reports from people" in by_source and 'class="bar-fill" x="0" y="0" width="100.0"' in by_source
    bad = client.get("/transparency?from=2026-02-30&to=2025-01-01")
    assert bad.status_code == 422 and "Enter a date as YYYY-MM-DD" in bad.text
    backwards = client.get("/transparency?from=2026-03-01&to=2026-02-01")
    assert backwards.status_code == 422 and "must be after its start" in backwards.text
