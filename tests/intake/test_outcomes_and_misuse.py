"""Notices out (DSA-1), trusted flaggers (DSA-6) and misuse measures (DSA-7)."""

from __future__ import annotations

import email
from datetime import timedelta
from email import policy

import sqlalchemy as sa

from staydown.actors import SYSTEM
from staydown.cases.models import Case
from staydown.clock import FrozenClock
from staydown.db import Database
from staydown.delivery.messages import FileMailer, OutboundMessage
from staydown.errors import RuleViolation
from staydown.intake.misuse import suspend_notifier, warn_notifier
from staydown.intake.models import Notice, Notifier
from staydown.jobs import build_registry
from staydown.staff.models import ApiClient
from staydown.worker import Worker
from tests.helpers import auth, make_key, make_staff, sign_in

REPORT = {
    "kind": "public_report",
    "reporter_kind": "user",
    "policy_id": "harassment",
    "explanation": "threatening messages",
    "items": [{"content_id": "post-1", "account_id": "u-1"}],
    "contact_email": "reporter@example.org",
}


def _decide(client, headers, case_id: int, outcome: str, **extra) -> dict:
    assert client.post(f"/v1/cases/{case_id}/claim", headers=headers).status_code == 200
    r = client.post(
        f"/v1/cases/{case_id}/decision",
        headers=headers,
        json={"policy": "harassment@2", "outcome": outcome, "facts": "reviewed the thread", **extra},
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_DSA1_receipt_and_decision_are_sent_with_reasons_and_redress(client, database: Database, app, tmp_path) -> None:
    make_staff(database, "mo", "moderator")
    mo = sign_in(client, "mo")
    code = client.post("/public/notices", json=REPORT).json()["tracking_code"]
    with database.unit_of_work(write=False) as db:
        case_id = db.execute(sa.select(Notice.case_id)).scalar_one()
    assert case_id is not None
    _decide(client, mo, case_id, "does_not_violate")
    mailer = FileMailer(tmp_path / "mail")
    worker = Worker(database, build_registry(), services={"settings": app.state.settings, "mailer": mailer})
    assert worker.run_until_idle() == 2
    mails = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(mails) == 2

    parsed = [email.message_from_bytes(m.read_bytes(), policy=policy.default) for m in mails]
    texts = [p["Subject"] + "\n" + p.get_content() for p in parsed]
    assert parsed[0]["To"] == "reporter@example.org"
    assert "we received your report" in texts[0].lower() and code in texts[0]
    decision = texts[1]
    assert "does not break our rule" in decision and "reviewed the thread" in decision
    assert "within six months" in decision and f"/appeal?notice={code}" in decision and "out-of-court" in decision
    with database.unit_of_work(write=False) as db:
        assert all(m.sent_at is not None for m in db.execute(sa.select(OutboundMessage)).scalars())
        assert db.execute(sa.select(Notice.state)).scalar_one() == "decided"
    assert worker.run_until_idle() == 0  # sent once


def test_anonymous_reporters_get_no_mail_but_the_status_page(client, database: Database) -> None:
    client.post("/public/notices", json={k: v for k, v in REPORT.items() if k != "contact_email"})
    with database.unit_of_work(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(OutboundMessage)) == 0


def test_DSA6_trusted_flagger_notices_get_priority_in_their_field(client, database: Database) -> None:
    make_staff(database, "admin", "admin")
    admin = sign_in(client, "admin")
    key = make_key(database, ["notices:submit"])
    with database.unit_of_work(write=False) as db:
        client_id = db.execute(sa.select(ApiClient.id).where(ApiClient.name == "scoped")).scalar_one()
    r = client.post(
        "/v1/trusted-flaggers",
        headers=admin,
        json={
            "name": "Hotline Example",
            "areas": ["hate_harassment"],
            "designated_by": "DSC of Ireland",
            "api_client_id": client_id,
        },
    )
    assert r.status_code == 201, r.text
    ordinary = make_key(database, ["notices:submit"])
    body = {"policy_id": "harassment", "explanation": "x", "items": [{"content_id": "a"}]}
    client.post("/v1/notices", headers=auth(ordinary), json=body)
    client.post("/v1/notices", headers=auth(key), json={**body, "items": [{"content_id": "b"}]})
    with database.unit_of_work(write=False) as db:
        cases = {c.content_id: c for c in db.execute(sa.select(Case)).scalars()}
        notices = db.execute(sa.select(Notice).order_by(Notice.id)).scalars().all()
    assert notices[1].kind == "trusted_flagger" and notices[1].reporter_kind == "trusted_flagger"
    flagged, plain = sorted(cases.values(), key=lambda c: -c.priority)
    assert flagged.trusted_flagger_in_field and not plain.trusted_flagger_in_field
    r = client.post(
        "/v1/trusted-flaggers", headers=admin, json={"name": "Other", "areas": ["astrology"], "designated_by": "DSC"}
    )
    assert r.status_code == 422 and "expertise" in r.json()["message"]
    make_staff(database, "mo", "moderator")
    figures = client.get("/v1/trusted-flaggers", headers=sign_in(client, "mo")).json()
    assert figures[0]["name"] == "Hotline Example" and figures[0]["notices"] == 1


def test_DSA7_suspension_needs_warning_and_more_than_a_count(client, database: Database, clock: FrozenClock) -> None:
    make_staff(database, "mo", "moderator")
    make_staff(database, "senior", "senior_moderator")
    mo, senior = sign_in(client, "mo"), sign_in(client, "senior")
    for i in range(6):
        client.post("/public/notices", json={**REPORT, "items": [{"content_id": f"p{i}"}]})
        with database.unit_of_work(write=False) as db:
            case_id = db.execute(sa.select(Notice.case_id).order_by(Notice.id.desc()).limit(1)).scalar_one()
        assert case_id is not None
        _decide(client, mo, case_id, "does_not_violate", manifestly_unfounded=True)
    with database.unit_of_work(write=False) as db:
        notifier = db.execute(sa.select(Notifier)).scalar_one()
        assert (notifier.notices, notifier.manifestly_unfounded) == (6, 6)
    until = (clock.now() + timedelta(days=90)).isoformat()
    words = {
        "gravity": "floods of false harassment reports against one journalist",
        "intent": "the same text pasted daily, after a warning, against the same person",
    }
    r = client.post(f"/v1/notifiers/{notifier.id}/suspend", headers=senior, json={**words, "until": until})
    assert r.status_code == 409 and "warned" in r.json()["message"], r.text
    assert client.post(f"/v1/notifiers/{notifier.id}/warn", headers=mo, json={"reasons": "x" * 30}).status_code == 403
    r = client.post(
        f"/v1/notifiers/{notifier.id}/warn",
        headers=senior,
        json={"reasons": "six reports found manifestly unfounded this week"},
    )
    assert r.status_code == 204
    r = client.post(
        f"/v1/notifiers/{notifier.id}/suspend", headers=senior, json={"gravity": "bad", "intent": "bad", "until": until}
    )
    assert r.status_code == 422
    r = client.post(f"/v1/notifiers/{notifier.id}/suspend", headers=senior, json={**words, "until": until})
    assert r.status_code == 204
    # Their notices are kept and acknowledged but not processed, except a report about a child.
    r = client.post("/public/notices", json={**REPORT, "items": [{"content_id": "p9"}]})
    assert r.status_code == 201 and r.json()["state"] == "not_processed"
    r = client.post(
        "/public/notices",
        json={**REPORT, "policy_id": "csam", "minor_involved": True, "items": [{"content_id": "p10"}]},
    )
    assert r.json()["state"] == "received"


def test_suspension_is_never_on_count_alone(database: Database) -> None:
    """A prolific reporter who is mostly right is not suspended, however many unfounded notices."""

    with database.unit_of_work() as db:
        n = Notifier(
            key="platform:busy", notices=100, founded=80, manifestly_unfounded=20, created_at=db.info["clock"].now()
        )
        db.add(n)
        db.flush()
        warn_notifier(db, actor=SYSTEM, notifier=n, reasons="twenty reports found manifestly unfounded")
        try:
            suspend_notifier(
                db,
                actor=SYSTEM,
                notifier=n,
                gravity="g" * 30,
                intent="i" * 30,
                until=db.info["clock"].now() + timedelta(days=10),
            )
        except RuleViolation as exc:
            assert "count alone" in exc.message
        else:
            raise AssertionError("a suspension on count alone went through")
