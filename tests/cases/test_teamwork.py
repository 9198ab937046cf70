"""Working a case together and deciding a wave of them: the audit rows each action writes
(comments, assignment, escalation, bulk decisions), the queue's filters, and what each refuses."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from staydown.actors import SYSTEM, Actor
from staydown.audit.models import AuditEvent
from staydown.cases import teamwork
from staydown.cases.actions import claim_case
from staydown.cases.bulk import MAX_BULK, bulk_decide
from staydown.cases.models import Case, CaseComment, Decision, StaffAlert
from staydown.cases.queues import parse_filter
from staydown.db import Database
from staydown.errors import Conflict, InvalidInput, NotFound, PermissionDenied, RuleViolation
from staydown.policies.catalogue import default_catalogue
from staydown.staff.actions import create_staff_user
from staydown.staff.permissions import permissions_for_roles
from tests.helpers import PASSWORD

SPAM = {"kind": "public_report", "reporter_kind": "user", "policy_id": "spam", "explanation": "link spam"}


def _cases(client, database: Database, n: int, tag: str = "s", **extra) -> list[int]:
    ids = []
    for i in range(n):
        r = client.post(
            "/public/notices", json={**SPAM, **extra, "items": [{"content_id": f"{tag}-{i}", "account_id": f"b-{i}"}]}
        )
        assert r.status_code == 201, r.text
        with database.unit_of_work(write=False) as db:
            ids.append(db.execute(sa.select(Case.id).order_by(Case.id.desc()).limit(1)).scalar_one())
    return ids


def _person(database: Database, name: str, *roles: str) -> Actor:
    with database.unit_of_work() as db:
        user = create_staff_user(db, actor=SYSTEM, username=name, roles=list(roles), password=PASSWORD)
        return Actor.staff(user.id, name, permissions_for_roles(list(roles)))


def _events(db, case_id: int, tag: str) -> list[AuditEvent]:
    return list(
        db.execute(
            sa.select(AuditEvent)
            .where(AuditEvent.subject_type == "case", AuditEvent.subject_id == str(case_id), AuditEvent.tag == tag)
            .order_by(AuditEvent.seq)
        ).scalars()
    )


def test_a_comment_is_stored_and_audited_with_its_author(client, database: Database) -> None:
    case_id = _cases(client, database, 1)[0]
    mo = _person(database, "mo", "moderator")
    with database.unit_of_work() as db:
        comment = teamwork.add_comment(db, actor=mo, case=db.get_one(Case, case_id), body="  same bot as yesterday ")
        comment_id = comment.id
    with database.unit_of_work(write=False) as db:
        assert db.get_one(CaseComment, comment_id).body == "same bot as yesterday"
        (event,) = _events(db, case_id, "case:comment:add")
        assert event.actor_id == mo.id and event.data == {"comment_id": comment_id, "body": "same bot as yesterday"}
    with pytest.raises(InvalidInput, match="at most 5000"), database.unit_of_work() as db:
        teamwork.add_comment(db, actor=mo, case=db.get_one(Case, case_id), body="x" * 5001)


def test_assignment_and_escalation_write_their_events_and_alert_the_role(client, database: Database) -> None:
    case_id = _cases(client, database, 1)[0]
    mo = _person(database, "mo", "moderator")
    senior = _person(database, "senior", "senior_moderator")
    with database.unit_of_work() as db:
        case = db.get_one(Case, case_id)
        teamwork.assign_case(db, actor=mo, case=case, to=senior.ref, reason="you saw the first wave")
        with pytest.raises(Conflict, match="already given to them"):
            teamwork.assign_case(db, actor=mo, case=case, to=senior.ref)
        teamwork.escalate_case(db, actor=mo, case=case, to="role:senior_moderator", reason="possible campaign")
        teamwork.assign_case(db, actor=mo, case=case, to=None)
    with database.unit_of_work(write=False) as db:
        assert db.get_one(Case, case_id).assigned_to is None
        assigns = _events(db, case_id, "case:assignment:assign")
        assert [e.data for e in assigns] == [
            {"from": None, "to": senior.ref, "reason": "you saw the first wave"},
            {"from": "role:senior_moderator", "to": None, "reason": ""},
        ]
        (escalation,) = _events(db, case_id, "case:assignment:escalate")
        assert escalation.data == {"from": senior.ref, "to": "role:senior_moderator", "reason": "possible campaign"}
        alert = db.execute(sa.select(StaffAlert).where(StaffAlert.case_id == case_id)).scalar_one()
        assert alert.role == "senior_moderator" and alert.kind == "case_escalated"


def test_assignment_needs_a_reviewer_and_a_worker_target(client, database: Database) -> None:
    case_id = _cases(client, database, 1)[0]
    legal = _person(database, "legal", "legal")
    mo = _person(database, "mo", "moderator")
    with database.unit_of_work() as db:
        case = db.get_one(Case, case_id)
        with pytest.raises(PermissionDenied):
            teamwork.assign_case(db, actor=legal, case=case, to="role:moderator")
        for target, words in (
            ("role:legal", "can be given to the roles"),
            (legal.ref, "cannot work cases"),
            ("staff:abc", "choose a person or a role"),
            ("nonsense", "choose a person"),
        ):
            with pytest.raises(InvalidInput, match=words):
                teamwork.assign_case(db, actor=mo, case=case, to=target)
        with pytest.raises(InvalidInput, match="reason for the escalation"):
            teamwork.escalate_case(db, actor=mo, case=case, to="role:moderator", reason="  ")


def test_bulk_decision_claims_and_decides_each_case_with_one_event_each(app, client, database: Database) -> None:
    ids = _cases(client, database, 5)
    mo = _person(database, "mo", "moderator")
    catalogue = app.state.catalogue
    with database.unit_of_work() as db:
        result = bulk_decide(
            db,
            actor=mo,
            case_ids=[*ids, ids[0]],
            policy_ref=catalogue.get("spam").ref,
            outcome="violates",
            facts=" bot wave ",
            catalogue=catalogue,
        )
        assert result.case_ids == ids  # a case ticked twice is decided once
    with database.unit_of_work(write=False) as db:
        for case_id in ids:
            assert len(_events(db, case_id, "case:claim:take")) == 1
            (event,) = _events(db, case_id, "case:decision:violates")
            assert event.actor_id == mo.id and event.data["policy_ref"] == catalogue.get("spam").ref
            (decision,) = db.execute(sa.select(Decision).where(Decision.case_id == case_id)).scalars()
            assert decision.facts == "bot wave" and decision.note == "bulk decision of 5 cases"


def test_bulk_decision_refuses_the_two_person_rule_and_is_all_or_nothing(app, client, database: Database) -> None:
    spam = _cases(client, database, 2)
    minor = _cases(client, database, 1, tag="minor", minor_involved=True)[0]
    mo = _person(database, "mo", "moderator")
    other = _person(database, "mo2", "moderator")
    catalogue = app.state.catalogue
    ref = catalogue.get("spam").ref
    with database.unit_of_work() as db:
        claim_case(db, actor=other, case=db.get_one(Case, spam[1]))
    for ids, error, words in (
        ([spam[0], minor], RuleViolation, "two-person rule"),
        (spam, Conflict, "claimed by someone else"),
        ([], InvalidInput, "at least one"),
        (list(range(1, MAX_BULK + 2)), InvalidInput, f"at most {MAX_BULK}"),
    ):
        with pytest.raises(error, match=words), database.unit_of_work() as db:
            bulk_decide(
                db, actor=mo, case_ids=ids, policy_ref=ref, outcome="violates", facts="spam", catalogue=catalogue
            )
    with database.unit_of_work(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Decision)) == 0
        assert db.get_one(Case, spam[0]).claimed_by is None  # the refused batch claimed nothing
    r = client.post(
        "/public/notices",
        json={**SPAM, "policy_id": "csam", "explanation": "a child", "items": [{"content_id": "cs-1"}]},
    )
    assert r.status_code == 201, r.text
    with database.unit_of_work(write=False) as db:
        cs_case = db.execute(sa.select(Case.id).where(Case.child_safety.is_(True))).scalar_one()
    with pytest.raises(NotFound), database.unit_of_work() as db:
        bulk_decide(
            db,
            actor=mo,
            case_ids=[cs_case],
            policy_ref=catalogue.get("csam").ref,
            outcome="violates",
            facts="x",
            catalogue=catalogue,
        )


def test_queue_filter_reports_each_wrong_value_in_words() -> None:
    catalogue = default_catalogue()
    ids = [p.id for p in catalogue]
    assert parse_filter(state="decided", policies=ids).view == "closed"
    assert (
        parse_filter(view="mine", policy="spam", track="dsa_notice", reporter="user", sort="due", policies=ids).problems
        == []
    )
    found = parse_filter(view="x" * 300, reporter="\x00", policy="nope", policies=ids)
    assert len(found.problems) == 3 and found.view == "open"
    assert found.problems[0].startswith("\u201c" + "x" * 40 + "...\u201d is not a view")
    assert "is not a policy; choose one of: csam" in found.problems[1]
    assert "choose one of: affected_person" in found.problems[2]
