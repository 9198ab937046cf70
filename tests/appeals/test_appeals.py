"""Appeals (DSA-4, UK-3, UK-4) and out-of-court disputes (DSA-5): who may appeal and until when,
who may decide, what a reversal or a modification does on the platform, and what the public sees."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from staydown.actors import SYSTEM, Actor
from staydown.app import worker_services
from staydown.appeals import deadlines, filing
from staydown.appeals.models import Appeal
from staydown.audit.models import AuditEvent
from staydown.cases.models import Case, Decision, StaffAlert
from staydown.cases.queries import case_by_id
from staydown.clock import FrozenClock
from staydown.db import Database
from staydown.delivery.messages import OutboundMessage
from staydown.delivery.signing import verify
from staydown.enforcement.models import AccountStrike, EnforcementAction
from staydown.errors import RuleViolation
from staydown.flows import appeals as appeal_flow
from staydown.flows.decisions import decide_case
from staydown.jobs import PERIODIC, build_registry
from staydown.matching.banks import entry_counts
from staydown.matching.models import BankEntry
from staydown.staff.models import StaffUser
from staydown.staff.permissions import Permission
from staydown.web.console.queries import bank_rows
from staydown.worker import Worker
from tests.appeals.factories import active_kinds, case_of, decide, report, statement_for
from tests.conftest import T0
from tests.helpers import auth, make_key, make_staff, sign_in
from tests.imagegen import jpeg


@pytest.fixture
def deciders(database: Database, client, staff):
    """The conftest's staff, plus two appeal deciders who took no part in any decision, and legal."""
    make_staff(database, "judge", "senior_moderator")
    make_staff(database, "judge_cs", "child_safety")
    make_staff(database, "counsel", "legal")
    return {**staff, **{name: sign_in(client, name) for name in ("judge", "judge_cs", "counsel")}}


def _appeal(
    client,
    *,
    statement: str | None = None,
    tracking: str | None = None,
    basis: str = "content_restriction",
    headers: dict | None = None,
    expect: int = 201,
    **extra,
) -> dict:
    body = {"basis": basis, "explanation": "the post was satire, read the whole thread", **extra}
    if statement:
        body["statement_code"] = statement
    if tracking:
        body["tracking_code"] = tracking
    url = "/v1/appeals" if headers else "/public/appeals"
    r = client.post(url, json=body, headers=headers or {})
    assert r.status_code == expect, r.text
    return r.json()


def _appeal_id(database: Database, code: str) -> int:
    with database.unit_of_work(write=False) as db:
        return db.execute(sa.select(Appeal.id).where(Appeal.code == code)).scalar_one()


def _claim_and_decide(
    client,
    headers,
    appeal_id: int,
    outcome: str,
    reasons: str = "on a second look the thread is satire",
    expect: int = 200,
    **extra,
):
    assert client.post(f"/v1/appeals/{appeal_id}/claim", headers=headers).status_code == 200
    r = client.post(
        f"/v1/appeals/{appeal_id}/decide", headers=headers, json={"outcome": outcome, "reasons": reasons, **extra}
    )
    assert r.status_code == expect, r.text
    return r.json()


def _removed_case(client, database: Database, headers, **report_args) -> tuple[int, str]:
    case_id = case_of(database, report(client, **report_args))
    decide(client, headers, case_id, "harassment@2")
    return case_id, statement_for(database, case_id, "remove")


# -- who decides ------------------------------------------------------------------------------


def test_dsa4_appeal_by_the_original_reviewer_is_refused(client, database: Database, deciders) -> None:
    """REQ DSA-4: never the same person. The senior who decided the case cannot claim or decide
    the appeal on it; a different senior can."""
    case_id, statement = _removed_case(client, database, deciders["senior"])
    appeal_id = _appeal_id(database, _appeal(client, statement=statement)["code"])
    r = client.post(f"/v1/appeals/{appeal_id}/claim", headers=deciders["senior"])
    assert r.status_code == 409 and r.json()["error"] == "appeal_by_original_decider"
    assert "different person" in r.json()["message"]
    r = client.post(
        f"/v1/appeals/{appeal_id}/decide",
        headers=deciders["senior"],
        json={"outcome": "reversed", "reasons": "I changed my mind"},
    )
    assert r.status_code == 409 and r.json()["error"] == "appeal_by_original_decider"
    assert active_kinds(database, case_id).count("remove") == 1  # nothing changed
    body = _claim_and_decide(client, deciders["judge"], appeal_id, "upheld", reasons="the threats are explicit")
    assert body["appeal"]["outcome"] == "upheld" and body["appeal"]["decided_by"].startswith("staff:")
    with database.unit_of_work(write=False) as db:
        senior_id = db.execute(sa.select(StaffUser.id).where(StaffUser.username == "senior")).scalar_one()
    assert body["appeal"]["original_deciders"] == [f"staff:{senior_id}"]
    assert body["appeal"]["decided_by"] != f"staff:{senior_id}"
    assert active_kinds(database, case_id).count("remove") == 1


def _ncii_refused_by_two(client, database: Database, deciders) -> tuple[int, str]:
    """An intimate-image report by the person depicted, found 'does not violate' by a moderator
    and a senior (the two-person rule): the person appeals."""
    code = report(
        client,
        policy="ncii",
        content="img-7",
        account="u-7",
        reporter_kind="affected_person",
        email="depicted@example.org",
    )
    case_id = case_of(database, code)
    first = decide(client, deciders["mo"], case_id, "ncii@2", "does_not_violate")
    assert first["state"] == "pending_second_review"
    r = client.post(
        f"/v1/cases/{case_id}/second-review",
        headers=deciders["senior"],
        json={"agree": True, "facts": "no intimate content visible"},
    )
    assert r.status_code == 200 and r.json()["effective"]
    return case_id, code


def test_dsa4_appeal_by_the_second_reviewer_is_refused(client, database: Database, deciders) -> None:
    """REQ DSA-4: the second reviewer took the decision too."""
    _case_id, code = _ncii_refused_by_two(client, database, deciders)
    appeal = _appeal(client, tracking=code, basis="no_action")
    appeal_id = _appeal_id(database, appeal["code"])
    r = client.post(f"/v1/appeals/{appeal_id}/claim", headers=deciders["senior"])
    assert r.status_code == 409 and r.json()["error"] == "appeal_by_original_decider"
    with database.unit_of_work(write=False) as db:
        stored = db.get_one(Appeal, appeal_id)
        assert len(stored.original_deciders) == 2 and stored.appellant_kind == "notifier"
    # A moderator holds no appeal permission at all.
    assert client.post(f"/v1/appeals/{appeal_id}/claim", headers=deciders["mo"]).status_code == 403


def test_dsa4_an_appeal_is_never_decided_by_automation(client, database: Database, deciders, api_key: str) -> None:
    """REQ DSA-4: decided by a qualified person, never solely by automated means."""
    _, statement = _removed_case(client, database, deciders["mo"])
    appeal_id = _appeal_id(database, _appeal(client, statement=statement)["code"])
    r = client.post(
        f"/v1/appeals/{appeal_id}/decide",
        headers=auth(api_key),
        json={"outcome": "reversed", "reasons": "model says so"},
    )
    assert r.status_code == 403
    robot = Actor.api_client(99, "robot", frozenset({Permission.APPEALS_DECIDE.value}))
    for actor in (SYSTEM, robot):
        with database.unit_of_work() as db:
            appeal = db.get_one(Appeal, appeal_id)
            with pytest.raises(RuleViolation) as refused:
                appeal_flow.decide_appeal(
                    db,
                    actor=actor,
                    appeal=appeal,
                    outcome="reversed",
                    reasons="automatic",
                    catalogue=client.app.state.catalogue,
                )
            assert refused.value.code == "appeal_needs_a_person"


def test_dsa4_decision_needs_reasons_and_a_claim(client, database: Database, deciders) -> None:
    _, statement = _removed_case(client, database, deciders["mo"])
    appeal_id = _appeal_id(database, _appeal(client, statement=statement)["code"])
    url = f"/v1/appeals/{appeal_id}/decide"
    r = client.post(url, headers=deciders["judge"], json={"outcome": "upheld", "reasons": "fine"})
    assert r.status_code == 409 and "claim" in r.json()["message"]
    client.post(f"/v1/appeals/{appeal_id}/claim", headers=deciders["judge"])
    r = client.post(url, headers=deciders["judge"], json={"outcome": "upheld", "reasons": "   "})
    assert r.status_code == 422 and "reasons" in r.json()["message"]
    r = client.post(url, headers=deciders["judge"], json={"outcome": "forgiven", "reasons": "x"})
    assert r.status_code == 422
    # Someone else cannot take a claimed appeal; releasing it frees it.
    r = client.post(f"/v1/appeals/{appeal_id}/claim", headers=deciders["judge_cs"])
    assert r.status_code == 409 and "claimed by someone else" in r.json()["message"]
    assert client.post(f"/v1/appeals/{appeal_id}/release", headers=deciders["judge"]).json()["state"] == "received"
    assert client.post(f"/v1/appeals/{appeal_id}/claim", headers=deciders["judge_cs"]).status_code == 200


# -- what a reversal does -----------------------------------------------------------------------


class _Receiver:
    def __init__(self) -> None:
        self.events: list[dict] = []
        self.bad = 0


@pytest.fixture
def receiver(app) -> Iterator[tuple[_Receiver, str]]:
    state = _Receiver()
    secret = app.state.settings.webhook_secret.get_secret_value()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            try:
                verify(body, self.headers.get("Staydown-Signature"), secret, tolerance=10**9)
                state.events.append(json.loads(body))
                self.send_response(204)
            except ValueError:
                state.bad += 1
                self.send_response(401)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def _run_worker(client, database: Database, webhook_url: str | None = None) -> int:
    services = worker_services(client.app)
    if webhook_url:
        services["settings"] = client.app.state.settings.model_copy(update={"webhook_url": webhook_url})
    return Worker(database, build_registry(), services=services).run_until_idle()


def test_dsa4_reversal_restores_content_through_a_webhook(
    client,
    database: Database,
    deciders,
    api_key: str,
    receiver,
) -> None:
    """REQ DSA-4, UK-4: the platform forwards its user's appeal; the reversal lifts the removal,
    restores the content and removes the strike, and the platform hears it by signed webhook."""
    state, url = receiver
    case_id, statement = _removed_case(client, database, deciders["mo"])
    _run_worker(client, database, url)  # the original removal reaches the platform first
    removal = next(e for e in state.events if e["kind"] == "remove")
    state.events.clear()
    filed = _appeal(client, statement=statement, headers=auth(api_key))
    assert filed["case_id"] == case_id
    body = _claim_and_decide(client, deciders["judge"], _appeal_id(database, filed["code"]), "reversed")
    assert body["appeal"]["outcome"] == "reversed" and body["applied"] and body["lifted"]
    _run_worker(client, database, url)
    assert state.bad == 0
    restore = next(e for e in state.events if e["kind"] == "restore")
    assert restore["event"] == "action.applied" and restore["content_id"] == "post-1"
    assert restore["details"]["restores_action"] == removal["id"] and restore["case_id"] == case_id
    lifted = next(e for e in state.events if e["kind"] == "remove")
    assert lifted["event"] == "action.lifted" and lifted["state"] == "lifted"
    with database.unit_of_work(write=False) as db:
        assert db.get_one(Case, case_id).outcome == "reversed"
        assert all(s.removed_at is not None for s in db.execute(sa.select(AccountStrike)).scalars())
        told = db.execute(sa.select(OutboundMessage).where(OutboundMessage.kind == "appeal_decision")).scalar_one()
        # Forwarded by the platform without an e-mail: the platform tells its user.
        assert told.channel == "platform" and told.recipient == "u-1"
        assert "satire" in told.body and "out-of-court" in told.body


def test_csam_is_never_restored_on_appeal(client, database: Database, deciders) -> None:
    """Confirmed CSAM: a reversal is refused and nothing is lifted; a modification must keep it
    down (it may lift the account measure); appeals on it are only for child-safety staff."""
    case_id = case_of(database, report(client, policy="csam", content="vid-1", account="u-9", email=None))
    decide(client, deciders["cs1"], case_id, "csam@2")
    before = active_kinds(database, case_id)
    assert "remove" in before and "terminate" in before
    appeal_id = _appeal_id(database, _appeal(client, statement=statement_for(database, case_id, "remove"))["code"])
    assert client.get(f"/v1/appeals/{appeal_id}", headers=deciders["judge"]).status_code == 404
    assert appeal_id not in [a["id"] for a in client.get("/v1/appeals", headers=deciders["judge"]).json()]
    r = client.post(f"/v1/appeals/{appeal_id}/claim", headers=deciders["cs2"])
    assert r.status_code == 200
    r = client.post(
        f"/v1/appeals/{appeal_id}/decide",
        headers=deciders["cs2"],
        json={"outcome": "reversed", "reasons": "the uploader says it is fine"},
    )
    assert r.status_code == 409 and r.json()["error"] == "csam_never_restored"
    r = client.post(
        f"/v1/appeals/{appeal_id}/decide",
        headers=deciders["cs2"],
        json={"outcome": "modified", "reasons": "label it instead", "actions": ["label"]},
    )
    assert r.status_code == 409 and r.json()["error"] == "csam_never_restored"
    assert active_kinds(database, case_id) == before
    r = client.post(
        f"/v1/appeals/{appeal_id}/decide",
        headers=deciders["cs2"],
        json={
            "outcome": "modified",
            "reasons": "the account was taken over; the upload stays removed",
            "actions": ["remove"],
        },
    )
    assert r.status_code == 200, r.text
    kinds = active_kinds(database, case_id)
    assert "remove" in kinds and "terminate" not in kinds and "restore" not in kinds and "restore_account" in kinds


# -- the window ----------------------------------------------------------------------------------


def test_dsa4_appeal_after_the_window_is_refused_with_the_reason(
    client,
    database: Database,
    deciders,
    clock: FrozenClock,
) -> None:
    """REQ DSA-4: open for six months (183 days by default); one day before the end is accepted, a
    day after is refused naming the decision date and the deadline."""
    _, early = _removed_case(client, database, deciders["mo"], content="post-a", account="u-a")
    _, late = _removed_case(client, database, deciders["mo"], content="post-b", account="u-b")
    clock.advance(days=182)
    with database.unit_of_work(write=False) as db:
        target = filing.appeal_target(db, statement_code=early.lower())  # what the public form shows first
        assert target.deadline == T0 + timedelta(days=183) and target.earlier is None
        assert "content_restriction" in target.bases and "no_action" not in target.bases
    assert _appeal(client, statement=early)["state"] == "received"
    clock.advance(days=2)
    refused = _appeal(client, statement=late, expect=409)
    assert refused["error"] == "appeal_window_closed"
    assert "2026-06-01 12:00 UTC" in refused["message"] and "2026-12-01 12:00 UTC" in refused["message"]
    assert refused["details"]["deadline"].startswith("2026-12-01T12:00")


def test_appeals_are_refused_before_a_decision_and_twice_on_the_same_one(client, database: Database, deciders) -> None:
    code = report(client)
    r = _appeal(client, tracking=code, basis="no_action", expect=409)
    assert r["error"] == "not_decided" and "still being reviewed" in r["message"]
    case_id = case_of(database, code)
    decide(client, deciders["mo"], case_id, "harassment@2", actions=["remove", "suspend"])
    statement = statement_for(database, case_id)
    first = _appeal(client, statement=statement)
    again = _appeal(client, statement=statement, expect=409)
    assert again["error"] == "appeal_already_open" and again["details"]["appeal_code"] == first["code"]
    # The same person through their account's other statement (the suspension) is the same appellant.
    other = statement_for(database, case_id, "suspend")
    assert other != statement
    assert _appeal(client, statement=other, basis="account_restriction", expect=409)["error"] == "appeal_already_open"
    # Each side has its own bases.
    r = _appeal(client, tracking=code, basis="content_restriction", expect=422)
    assert "no_action" in r["message"]
    r = _appeal(client, tracking=code, basis="no_action", expect=422)
    assert "insufficient_action" in r["message"]
    assert _appeal(client, statement=statement, basis="no_action", expect=422)["error"] == "invalid_input"
    # Once decided, the same appellant is pointed to the out-of-court option instead.
    _claim_and_decide(client, deciders["judge"], _appeal_id(database, first["code"]), "upheld", reasons="explicit")
    again = _appeal(client, statement=statement, expect=409)
    assert again["error"] == "appeal_already_decided" and "out-of-court" in again["message"]


# -- notifiers, the expedited route, modification -------------------------------------------------


def test_dsa4_uk3_notifier_appeal_against_no_action_is_expedited_and_leads_to_action(
    client, database: Database, deciders, clock: FrozenClock
) -> None:
    """REQ DSA-4 (notifiers, also against a decision not to act), UK-3 (expedited route): the
    appeal decider, who took no part, decides the case 'violates' under the policy in force."""
    ordinary_case, statement = _removed_case(client, database, deciders["mo"], content="post-o", account="u-o")
    ordinary = _appeal(client, statement=statement)
    clock.advance(minutes=5)
    case_id, code = _ncii_refused_by_two(client, database, deciders)
    appeal = _appeal(client, tracking=code, basis="no_action", explanation="it is me, and I never agreed to this")
    assert appeal["expedited"] and not ordinary["expedited"]
    assert appeal["due_at"].startswith((T0 + timedelta(minutes=5, hours=48)).strftime("%Y-%m-%dT%H:%M"))
    assert ordinary["due_at"].startswith((T0 + timedelta(days=14)).strftime("%Y-%m-%dT%H:%M"))
    queue = client.get("/v1/appeals", headers=deciders["judge"]).json()
    assert [a["code"] for a in queue][:2] == [appeal["code"], ordinary["code"]]
    body = _claim_and_decide(
        client,
        deciders["judge"],
        _appeal_id(database, appeal["code"]),
        "reversed",
        reasons="the image is intimate and the person depicted did not consent",
    )
    assert body["new_decision_id"] and "remove" in list(active_kinds(database, case_id))
    with database.unit_of_work(write=False) as db:
        case = db.get_one(Case, case_id)
        assert case.state == "decided" and case.outcome == "violates"
        decision = db.get_one(Decision, body["new_decision_id"])
        assert decision.reviewer == body["appeal"]["decided_by"] and decision.outcome == "violates"
        told = db.execute(sa.select(OutboundMessage).where(OutboundMessage.kind == "appeal_decision")).scalar_one()
        assert told.recipient == "depicted@example.org" and "did not consent" in told.body
        assert "out-of-court" in told.body and "removal of the content" in told.body
    # The ordinary appeal waits; on an upheld decision nothing changes.
    _claim_and_decide(
        client, deciders["judge"], _appeal_id(database, ordinary["code"]), "upheld", reasons="the threats are explicit"
    )
    assert "remove" in active_kinds(database, ordinary_case)


def test_dsa4_modified_outcome_replaces_the_measures(client, database: Database, deciders) -> None:
    """A removal and suspension become an age restriction and a warning: the removal and the
    suspension are lifted, the content and account restored, the new measures applied."""
    case_id = case_of(database, report(client))
    decide(client, deciders["mo"], case_id, "harassment@2", actions=["remove", "suspend"])
    appeal_id = _appeal_id(
        database,
        _appeal(client, statement=statement_for(database, case_id, "suspend"), basis="account_restriction")["code"],
    )
    r = client.post(f"/v1/appeals/{appeal_id}/claim", headers=deciders["judge"])
    assert r.status_code == 200
    r = client.post(
        f"/v1/appeals/{appeal_id}/decide",
        headers=deciders["judge"],
        json={"outcome": "modified", "reasons": "same", "actions": ["remove", "suspend"]},
    )
    assert r.status_code == 422 and "upheld" in r.json()["message"]
    r = client.post(
        f"/v1/appeals/{appeal_id}/decide",
        headers=deciders["judge"],
        json={
            "outcome": "modified",
            "reasons": "first offence, a warning is proportionate",
            "actions": ["age_restrict", "warn"],
        },
    )
    assert r.status_code == 200, r.text
    assert active_kinds(database, case_id) == ["age_restrict", "restore", "restore_account", "warn"]
    with database.unit_of_work(write=False) as db:
        lifted = (
            db.execute(
                sa.select(EnforcementAction.kind).where(
                    EnforcementAction.case_id == case_id, EnforcementAction.state == "lifted"
                )
            )
            .scalars()
            .all()
        )
        assert sorted(lifted) == ["remove", "suspend"]
        assert db.get_one(Appeal, appeal_id).details["measures"] == ["age_restrict", "warn"]


# -- out-of-court disputes ---------------------------------------------------------------------


def test_dsa5_out_of_court_dispute_with_outcome_and_implementation(client, database: Database, deciders) -> None:
    """REQ DSA-5: the dispute, the body's outcome, and whether the platform implemented it (here by
    lifting the measures, as an appeal reversal does)."""
    case_id, statement = _removed_case(client, database, deciders["mo"])
    appeal_id = _appeal_id(database, _appeal(client, statement=statement)["code"])
    _claim_and_decide(client, deciders["judge"], appeal_id, "upheld", reasons="threats are explicit")
    r = client.post("/v1/disputes", headers=deciders["mo"], json={"body": "ADR Body", "appeal_id": appeal_id})
    assert r.status_code == 403
    r = client.post(
        "/v1/disputes",
        headers=deciders["counsel"],
        json={"body": "User Rights ADR (certified, IE)", "appeal_id": appeal_id, "reference": "UR-2026-41"},
    )
    assert r.status_code == 201, r.text
    dispute = r.json()
    assert dispute["case_id"] == case_id and dispute["outcome"] is None and dispute["implemented"] is None
    url = f"/v1/disputes/{dispute['id']}"
    r = client.post(f"{url}/implementation", headers=deciders["counsel"], json={"implemented": True})
    assert r.status_code == 409 and "no outcome" in r.json()["message"]
    r = client.post(f"{url}/outcome", headers=deciders["counsel"], json={"outcome": "for_user"})
    assert r.status_code == 200 and r.json()["outcome"] == "for_user" and r.json()["decided_at"]
    assert (
        client.post(f"{url}/outcome", headers=deciders["counsel"], json={"outcome": "for_platform"}).status_code == 409
    )
    assert [d["id"] for d in client.get("/v1/disputes?open_only=true", headers=deciders["counsel"]).json()] == [
        dispute["id"]
    ]
    r = client.post(f"{url}/implementation", headers=deciders["counsel"], json={"implemented": False})
    assert r.status_code == 422 and "why" in r.json()["message"]
    r = client.post(
        f"{url}/implementation",
        headers=deciders["counsel"],
        json={"implemented": True, "reverse_measures": True, "notes": "restored as the body decided"},
    )
    assert r.status_code == 200 and r.json()["implemented"] is True and r.json()["implemented_at"]
    assert "restore" in active_kinds(database, case_id) and "remove" not in active_kinds(database, case_id)
    assert client.get("/v1/disputes?open_only=true", headers=deciders["counsel"]).json() == []
    r = client.post("/v1/disputes", headers=deciders["counsel"], json={"body": "X", "case_id": 999999})
    assert r.status_code == 404


# -- the public routes ----------------------------------------------------------------------------


def test_public_appeal_routes_reveal_nothing_about_other_people(client, database: Database, deciders) -> None:
    _, statement = _removed_case(client, database, deciders["mo"])
    filed = _appeal(client, statement=statement, contact_email="me@example.org")
    assert filed["case_id"] is None and filed["status_url"].endswith("/appeal/" + filed["code"])
    r = client.get(f"/public/appeals/{filed['code'].lower()}")
    assert r.status_code == 200
    shown = r.json()
    assert set(shown) == {
        "code",
        "state",
        "basis",
        "received_at",
        "due_at",
        "expedited",
        "outcome",
        "decided_at",
        "reasons",
        "redress",
    }
    assert shown["outcome"] is None and shown["reasons"] is None
    _claim_and_decide(
        client,
        deciders["judge"],
        _appeal_id(database, filed["code"]),
        "upheld",
        reasons="the messages threaten a named person",
    )
    shown = client.get(f"/public/appeals/{filed['code']}").json()
    assert shown["outcome"] == "upheld" and shown["reasons"] == "the messages threaten a named person"
    assert "out-of-court" in shown["redress"]
    text = json.dumps(shown)
    for private in ("staff:", "me@example.org", "reporter@example.org", "u-1", "satire"):
        assert private not in text
    r = client.get("/public/appeals/AAAAA-AAAAA-AAAAA-AAAAA")
    assert r.status_code == 404 and r.json()["message"] == "no appeal with that code"
    assert (
        _appeal(client, statement="S-AAAAA-AAAAA-AAAAA-AAAAA", expect=404)["message"]
        == "no statement of reasons with that code"
    )


def test_public_appeal_input_limits(client, database: Database, deciders) -> None:
    _, statement = _removed_case(client, database, deciders["mo"])
    r = _appeal(client, statement=statement, explanation="x" * 5001, expect=422)
    assert "explanation" in r["message"]
    r = _appeal(client, statement=statement, tracking_code="AAAAA-AAAAA-AAAAA-AAAAA", expect=422)
    assert "exactly one" in r["message"]
    assert _appeal(client, statement=statement, contact_email="not-an-address", expect=422)["error"] == "invalid_input"
    assert _appeal(client, statement=statement, surprise=True, expect=422)["error"] == "invalid_input"

    r = client.post(
        "/v1/appeals",
        headers=auth(make_key(database, ["scan"])),
        json={"statement_code": statement, "basis": "content_restriction", "explanation": "x"},
    )
    assert r.status_code == 403 and "appeals:submit" in r.json()["message"]
    r = client.post(
        "/public/appeals", content=b"{" + b" " * (2 * 1024 * 1024) + b"}", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413


# -- the audit trail --------------------------------------------------------------------------


def test_every_appeal_step_writes_its_audit_event(client, database: Database, deciders) -> None:
    _, statement = _removed_case(client, database, deciders["mo"])
    appeal_id = _appeal_id(database, _appeal(client, statement=statement)["code"])
    client.post(f"/v1/appeals/{appeal_id}/claim", headers=deciders["judge"])
    client.post(f"/v1/appeals/{appeal_id}/release", headers=deciders["judge"])
    _claim_and_decide(client, deciders["judge"], appeal_id, "reversed")
    d = client.post("/v1/disputes", headers=deciders["counsel"], json={"body": "ADR", "appeal_id": appeal_id}).json()
    client.post(f"/v1/disputes/{d['id']}/outcome", headers=deciders["counsel"], json={"outcome": "for_platform"})
    with database.unit_of_work(write=False) as db:
        events = (
            db.execute(sa.select(AuditEvent).where(AuditEvent.tag.like("appeal:%")).order_by(AuditEvent.seq))
            .scalars()
            .all()
        )
        tags = [e.tag for e in events]
        assert tags == [
            "appeal:appeal:file",
            "appeal:appeal:claim",
            "appeal:appeal:release",
            "appeal:appeal:claim",
            "appeal:appeal:decide",
            "appeal:dispute:open",
            "appeal:dispute:outcome",
        ]
        filed, decided = events[0], events[4]
        assert filed.actor_kind == "public" and filed.data["appellant_kind"] == "affected_user"
        assert "explanation" not in filed.data  # the appellant's words stay out of the permanent log
        assert decided.actor_kind == "staff" and decided.data["outcome"] == "reversed"
        assert decided.data["reasons"] == "on a second look the thread is satire" and decided.data["lifted"]
        assert "enforcement:decision:reverse" in db.execute(sa.select(AuditEvent.tag)).scalars().all()
    assert (
        client.post(
            f"/v1/disputes/{d['id']}/implementation", headers=deciders["counsel"], json={"implemented": True}
        ).status_code
        == 422
    )  # for_platform asks nothing


# -- more appellants ------------------------------------------------------------------------------


def test_dsa4_notifier_finding_the_measure_too_weak_gets_a_stronger_one(client, database: Database, deciders) -> None:
    """A notifier whose report led only to a label appeals for removal: granted as 'modified'."""
    code = report(client)
    case_id = case_of(database, code)
    decide(client, deciders["mo"], case_id, "harassment@2", actions=["label"])
    appeal = _appeal(
        client,
        tracking=code,
        basis="insufficient_action",
        explanation="a label does nothing, the posts name and threaten me",
    )
    assert not appeal["expedited"]
    appeal_id = _appeal_id(database, appeal["code"])
    client.post(f"/v1/appeals/{appeal_id}/claim", headers=deciders["judge"])
    r = client.post(
        f"/v1/appeals/{appeal_id}/decide", headers=deciders["judge"], json={"outcome": "reversed", "reasons": "x"}
    )
    assert r.status_code == 422 and "modified" in r.json()["message"]
    r = client.post(
        f"/v1/appeals/{appeal_id}/decide",
        headers=deciders["judge"],
        json={
            "outcome": "modified",
            "reasons": "direct threats against a named person",
            "actions": ["remove", "strike"],
        },
    )
    assert r.status_code == 200, r.text
    assert active_kinds(database, case_id) == ["remove", "warn"]  # the label lifted; the first strike warns
    with database.unit_of_work(write=False) as db:
        assert db.execute(sa.select(AccountStrike).where(AccountStrike.case_id == case_id)).scalar_one()
        told = db.execute(sa.select(OutboundMessage).where(OutboundMessage.kind == "appeal_decision")).scalar_one()
        assert (
            told.recipient == "reporter@example.org" and "removal of the content, a strike on the account" in told.body
        )


def test_a_report_of_several_items_is_appealed_per_case(client, database: Database, deciders) -> None:
    r = client.post(
        "/public/notices",
        json={
            "kind": "public_report",
            "reporter_kind": "user",
            "policy_id": "harassment",
            "explanation": "two posts",
            "contact_email": "two@example.org",
            "items": [{"content_id": "p-1", "account_id": "u-1"}, {"content_id": "p-2", "account_id": "u-2"}],
        },
    )
    code = r.json()["tracking_code"]
    with database.unit_of_work(write=False) as db:
        first, second = db.execute(sa.select(Case.id).order_by(Case.id)).scalars().all()
    decide(client, deciders["mo"], first, "harassment@2", "does_not_violate")
    decide(client, deciders["mo"], second, "harassment@2", "does_not_violate")
    one = _appeal(client, tracking=code, basis="no_action")
    two = _appeal(client, tracking=code, basis="no_action", case_id=second)
    assert one["code"] != two["code"]
    with database.unit_of_work(write=False) as db:
        assert {a.case_id for a in db.execute(sa.select(Appeal)).scalars()} == {first, second}
    assert (
        _appeal(client, tracking=code, basis="no_action", case_id=999999, expect=404)["message"]
        == "your report has no case 999999"
    )


def test_uk4_complaint_against_an_automated_decision(client, database: Database, deciders) -> None:
    """REQ UK-4 (complaints against proactive technology), DSA-4: the automated decision is marked
    on the appeal, and any qualified person may decide it (no human took the decision)."""

    case_id = case_of(database, report(client, content="auto-1", account="u-auto", email=None))
    with database.unit_of_work() as db:
        decide_case(
            db,
            actor=SYSTEM,
            case=case_by_id(db, case_id),
            policy_ref="harassment@2",
            outcome="violates",
            facts="matched a known harassment campaign image",
            automated=True,
            catalogue=client.app.state.catalogue,
        )
    filed = _appeal(client, statement=statement_for(database, case_id), basis="proactive_technology")
    appeal_id = _appeal_id(database, filed["code"])
    shown = client.get(f"/v1/appeals/{appeal_id}", headers=deciders["judge"]).json()
    assert shown["decision_automated"] and shown["original_deciders"] == ["system:staydown"]
    assert shown["basis"] == "proactive_technology" and shown["policy_ref"] == "harassment@2"
    _claim_and_decide(client, deciders["judge"], appeal_id, "reversed", reasons="the match was a false positive")
    assert "restore" in active_kinds(database, case_id) and "remove" not in active_kinds(database, case_id)


def test_uk3_overdue_appeals_alert_their_deciders_once(
    client,
    database: Database,
    deciders,
    clock: FrozenClock,
) -> None:
    """REQ UK-3, DSA-4: an expedited appeal 12 h before its 48 h alerts the senior moderators, and
    again once overdue; each alert once, however often the worker sweeps."""

    assert deadlines.APPEAL_DEADLINES in dict(PERIODIC)
    assert deadlines.APPEAL_DEADLINES in build_registry().kinds
    _, code = _ncii_refused_by_two(client, database, deciders)
    appeal_id = _appeal_id(database, _appeal(client, tracking=code, basis="no_action")["code"])

    def sweep() -> tuple[int, int]:
        with database.unit_of_work() as db:
            done = deadlines.sweep_appeal_deadlines(db, actor=SYSTEM)
            return done.escalated, done.breached

    clock.advance(hours=35)
    assert sweep() == (0, 0)
    clock.advance(hours=2)
    assert sweep() == (1, 0) and sweep() == (0, 0)
    clock.advance(hours=12)
    assert sweep() == (0, 1) and sweep() == (0, 0)
    with database.unit_of_work(write=False) as db:
        alerts = db.execute(sa.select(StaffAlert).order_by(StaffAlert.id)).scalars().all()
        assert [(a.role, a.kind) for a in alerts] == [
            ("senior_moderator", "appeal_due_soon"),
            ("senior_moderator", "appeal_overdue"),
        ]
        assert f"expedited appeal {appeal_id}" in alerts[1].message
        tags = db.execute(sa.select(AuditEvent.tag).where(AuditEvent.subject_type == "appeal")).scalars().all()
        assert "appeal:appeal:escalate" in tags and "appeal:appeal:breach" in tags


def test_x2_parent_appeal_against_no_action_on_a_child_safety_case(client, database: Database, deciders) -> None:
    """REQ X-2, X-3, DSA-4: a parent's report refused by two specialists is appealed; a third
    specialist, who took no part, confirms it: actual knowledge is recorded and the NCMEC clock
    starts. Only child-safety specialists see the appeal, and it is on the expedited route."""
    code = report(
        client,
        policy="csam",
        content="vid-3",
        account="u-3",
        reporter_kind="parent_or_representative",
        email="parent@example.org",
        minor_involved=True,
    )
    case_id = case_of(database, code)
    decide(client, deciders["cs1"], case_id, "csam@2", "does_not_violate")
    r = client.post(
        f"/v1/cases/{case_id}/second-review",
        headers=deciders["cs2"],
        json={"agree": True, "facts": "appears to be an adult"},
    )
    assert r.status_code == 200 and r.json()["effective"]
    appeal = _appeal(client, tracking=code, basis="no_action", explanation="he is 16, I am his mother")
    assert appeal["expedited"]
    appeal_id = _appeal_id(database, appeal["code"])
    assert client.get(f"/v1/appeals/{appeal_id}", headers=deciders["judge"]).status_code == 404
    for original in ("cs1", "cs2"):
        r = client.post(f"/v1/appeals/{appeal_id}/claim", headers=deciders[original])
        assert r.status_code == 409 and r.json()["error"] == "appeal_by_original_decider"
    body = _claim_and_decide(
        client, deciders["judge_cs"], appeal_id, "reversed", reasons="school records confirm the person depicted is 16"
    )
    assert body["new_decision_id"]
    with database.unit_of_work(write=False) as db:
        case = db.get_one(Case, case_id)
        assert case.outcome == "violates" and case.actual_knowledge_at is not None
        ncmec = next(t for t in case.tracks if t.kind == "ncmec")
        assert ncmec.state == "open" and ncmec.due_at is not None
    assert "remove" in active_kinds(database, case_id)


def test_an_appellant_may_withdraw_an_open_appeal(client, database: Database, deciders) -> None:
    _, statement = _removed_case(client, database, deciders["mo"])
    filed = _appeal(client, statement=statement)
    r = client.post(f"/public/appeals/{filed['code']}/withdraw")
    assert r.status_code == 200 and r.json()["state"] == "withdrawn"
    assert client.get("/v1/appeals", headers=deciders["judge"]).json() == []
    r = client.post(f"/public/appeals/{filed['code']}/withdraw")
    assert r.status_code == 409 and "withdrawn" in r.json()["message"]
    assert _appeal(client, statement=statement)["code"] != filed["code"]  # may appeal again within the window
    with database.unit_of_work(write=False) as db:
        assert "appeal:appeal:withdraw" in db.execute(sa.select(AuditEvent.tag)).scalars().all()


def test_dsa4_eui1_a_reversal_asks_whether_the_bank_entry_was_wrong_and_disables_it(
    client, database: Database, deciders
) -> None:
    """REQ DSA-4, EUI-1: a decision that rested on a bank match is reversed on appeal; the decider
    must say whether the entry was wrong; "yes" disables it (audited, the appeal as its reason),
    so the same picture uploaded again is no longer held, and the counts agree everywhere."""

    key = make_key(database, ["banks:read", "banks:write", "scan", "match"])
    r = client.post(
        "/v1/banks",
        headers=auth(key),
        json={
            "name": "shared-list",
            "source": "tech_coalition",
            "permitted_purpose": "hashes shared for upload screening",
            "policy_id": "violence-glorification",
            "action_on_match": "hold",
        },
    )
    assert r.status_code == 201, r.text
    picture = jpeg(11)
    signals = client.post("/v1/scan", headers=auth(key), files={"file": ("a.jpg", picture, "image/jpeg")}).json()[
        "signals"
    ]
    r = client.post(
        "/v1/banks/shared-list/entries",
        headers=auth(key),
        json={"entries": [{"signal_type": "md5", "signal": signals["md5"], "note": "benign stand-in"}]},
    )
    entry_id = r.json()["entry_ids"][0]
    client.app.state.match_engine.catch_up()

    def upload(content: str) -> str:
        r = client.post(
            "/v1/scan",
            headers=auth(key),
            files={"file": ("a.jpg", picture, "image/jpeg")},
            data={"content_id": content, "account_id": "acct-7"},
        )
        assert r.status_code == 200, r.text
        return r.json()["verdict"]

    assert upload("img-1") == "hold"
    with database.unit_of_work(write=False) as db:
        case_id = db.execute(sa.select(Case.id).order_by(Case.id.desc()).limit(1)).scalar_one()
    decide(client, deciders["mo"], case_id, "violence-glorification@2")
    statement = statement_for(database, case_id, "remove")
    appeal = _appeal(client, statement=statement)
    appeal_id = _appeal_id(database, appeal["code"])
    # Reversing without saying whether the entry was wrong is refused: the question must be answered.
    _claim_and_decide(client, deciders["judge"], appeal_id, "reversed", expect=422)
    r = client.post(
        f"/v1/appeals/{appeal_id}/decide",
        headers=deciders["judge"],
        json={"outcome": "reversed", "reasons": "a news photograph, not glorification", "bank_entry_wrong": True},
    )
    assert r.status_code == 200, r.text
    assert r.json()["disabled_bank_entries"] == [entry_id]
    with database.unit_of_work(write=False) as db:
        entry = db.get_one(BankEntry, entry_id)
        assert entry.enabled is False and entry.disabled_reason is not None and appeal["code"] in entry.disabled_reason
        event = db.execute(sa.select(AuditEvent).where(AuditEvent.tag == "matching:entry:disable")).scalar_one()
        assert appeal["code"] in event.data["reason"]
    client.app.state.match_engine.catch_up()
    assert upload("img-2") == "allow"  # the same upload is no longer held: no new case
    # One count of entries: the API, the CLI's query and the console agree.
    bank = next(b for b in client.get("/v1/banks", headers=auth(key)).json() if b["name"] == "shared-list")

    with database.unit_of_work(write=False) as db:
        counts = entry_counts(db)[bank["id"]] if "id" in bank else next(iter(entry_counts(db).values()))
        row = next(r for r in bank_rows(db) if r.bank.name == "shared-list")
    assert bank["entries"] == counts.active == row.enabled_entries == 0
    assert counts.disabled == row.disabled_entries == 1
