"""Review: claims with leases, decisions under a policy version, the two-person rule, actual
knowledge, and deadlines escalated before they pass."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from staydown.actors import SYSTEM
from staydown.audit.models import AuditEvent
from staydown.cases.actions import sweep_deadlines
from staydown.cases.models import Case, LegalTrack, StaffAlert
from staydown.clock import FrozenClock
from staydown.db import Database
from staydown.enforcement.models import EnforcementAction
from tests.conftest import T0
from tests.intake.test_notices import MINOR_REPORT

HARASSMENT = {
    "kind": "public_report",
    "reporter_kind": "user",
    "policy_id": "harassment",
    "explanation": "threatening messages",
    "items": [{"content_id": "post-5", "account_id": "u-5"}],
}


def _case_id(database: Database) -> int:
    with database.unit_of_work(write=False) as db:
        return db.execute(sa.select(Case.id).order_by(Case.id.desc()).limit(1)).scalar_one()


def _tags(database: Database) -> list[str]:
    with database.unit_of_work(write=False) as db:
        return list(db.execute(sa.select(AuditEvent.tag).order_by(AuditEvent.seq)).scalars())


def test_claim_lease_blocks_others_until_it_expires(client, staff, database: Database, clock: FrozenClock) -> None:
    client.post("/public/notices", json=HARASSMENT)
    case_id = _case_id(database)
    r = client.post(f"/v1/cases/{case_id}/claim", headers=staff["mo"])
    assert r.status_code == 200 and r.json()["claimed_by"].startswith("staff:")
    r = client.post(f"/v1/cases/{case_id}/claim", headers=staff["senior"])
    assert r.status_code == 409 and "claimed by someone else" in r.json()["message"]
    r = client.post(
        f"/v1/cases/{case_id}/decision",
        headers=staff["senior"],
        json={"policy": "harassment@2", "outcome": "violates", "facts": "repeated threats"},
    )
    assert r.status_code == 409 and "claim" in r.json()["message"]
    clock.advance(minutes=31)
    assert client.post(f"/v1/cases/{case_id}/claim", headers=staff["senior"]).status_code == 200


def test_decision_violates_applies_policy_actions_with_audit(client, staff, database: Database) -> None:
    client.post("/public/notices", json=HARASSMENT)
    case_id = _case_id(database)
    client.post(f"/v1/cases/{case_id}/claim", headers=staff["mo"])
    r = client.post(
        f"/v1/cases/{case_id}/decision",
        headers=staff["mo"],
        json={"policy": "harassment@2", "outcome": "violates", "facts": "three threatening messages naming the victim"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["effective"] and r.json()["case"]["state"] == "decided"
    with database.unit_of_work(write=False) as db:
        actions = db.execute(sa.select(EnforcementAction)).scalars().all()
        kinds = sorted(a.kind for a in actions)
        assert kinds and all(a.policy_ref == "harassment@2" for a in actions)
        assert all(a.facts == "three threatening messages naming the victim" for a in actions)
        event = db.execute(sa.select(AuditEvent).where(AuditEvent.tag == "case:decision:violates")).scalar_one()
        assert event.data["policy_ref"] == "harassment@2" and event.actor_kind == "staff"


def test_decision_needs_facts_current_policy_and_known_actions(client, staff, database: Database) -> None:
    client.post("/public/notices", json=HARASSMENT)
    case_id = _case_id(database)
    client.post(f"/v1/cases/{case_id}/claim", headers=staff["mo"])
    url = f"/v1/cases/{case_id}/decision"
    r = client.post(url, headers=staff["mo"], json={"policy": "harassment@9", "outcome": "violates", "facts": "x"})
    assert r.status_code == 422 and "version in force" in r.json()["message"]
    r = client.post(url, headers=staff["mo"], json={"policy": "harassment@2", "outcome": "violates", "facts": " "})
    assert r.status_code == 422 and "facts" in r.json()["message"]
    r = client.post(
        url,
        headers=staff["mo"],
        json={"policy": "harassment@2", "outcome": "violates", "facts": "f", "actions": ["obliterate"]},
    )
    assert r.status_code == 422 and "obliterate" in r.json()["message"]
    r = client.post(
        url,
        headers=staff["mo"],
        json={"policy": "harassment@2", "outcome": "does_not_violate", "facts": "f", "actions": ["remove"]},
    )
    assert r.status_code == 422


def test_X2_single_no_violation_cannot_close_a_child_safety_case(client, staff, database: Database) -> None:
    """REQ X-2: one reviewer's 'does not violate' changes nothing and closes no clock; a second,
    different, senior reviewer must agree. Once they do, the decision is final: the DSA's timely
    decision is met, the removal clocks are closed as a refusal with both reviewers' reasons
    (which the reporter sees), and there is no knowledge for the NCMEC clock to report."""
    client.post("/public/notices", json=MINOR_REPORT)
    case_id = _case_id(database)
    assert client.post(f"/v1/cases/{case_id}/claim", headers=staff["mo"]).status_code == 403  # not a CS specialist
    client.post(f"/v1/cases/{case_id}/claim", headers=staff["cs1"])
    r = client.post(
        f"/v1/cases/{case_id}/decision",
        headers=staff["cs1"],
        json={"policy": "csam@2", "outcome": "does_not_violate", "facts": "looks like an adult to me"},
    )
    assert r.status_code == 200
    body = r.json()
    assert not body["effective"] and body["state"] == "pending_second_review"
    assert body["case"]["state"] == "second_review"
    assert all(t["state"] in ("open", "waiting") for t in body["case"]["tracks"])  # nothing closed by one reviewer
    with database.unit_of_work(write=False) as db:
        restriction = db.execute(sa.select(EnforcementAction)).scalar_one()
        assert restriction.state == "active"  # the interim restriction stays
    # The first reviewer cannot be their own second reviewer.
    r = client.post(
        f"/v1/cases/{case_id}/second-review", headers=staff["cs1"], json={"agree": True, "facts": "I still think so"}
    )
    assert r.status_code == 409 and "different person" in r.json()["message"]
    # A moderator has no second-review permission at all.
    assert (
        client.post(
            f"/v1/cases/{case_id}/second-review", headers=staff["mo"], json={"agree": True, "facts": "ok"}
        ).status_code
        == 403
    )
    r = client.post(
        f"/v1/cases/{case_id}/second-review",
        headers=staff["cs2"],
        json={"agree": True, "facts": "verified age documents show the person is 24"},
    )
    assert r.status_code == 200 and r.json()["effective"]
    tracks = {t["kind"]: t for t in r.json()["case"]["tracks"]}
    assert tracks["dsa_notice"]["state"] == "met" and tracks["dsa_notice"]["resolution"] == "decided"
    for kind in ("take_it_down", "uk_intimate_image", "priority_takedown"):
        assert tracks[kind]["state"] == "not_applicable" and tracks[kind]["resolution"] == "refused_on_review"
        assert "looks like an adult" in tracks[kind]["facts"] and "the person is 24" in tracks[kind]["facts"]
    assert tracks["ncmec"]["state"] == "not_applicable"
    assert tracks["ncmec"]["resolution"] == "no_apparent_abuse_on_review"
    # A closed track is not closed again by a finding.
    r = client.post(
        f"/v1/cases/{case_id}/tracks/{tracks['take_it_down']['id']}/not-applicable",
        headers=staff["cs2"],
        json={"facts": "age documents verified by legal: the person is 24"},
    )
    assert r.status_code == 409
    tags = _tags(database)
    assert "case:decision:second_review" in tags and "case:track:not_applicable" in tags


def test_X3_confirming_csam_records_actual_knowledge_and_starts_the_ncmec_clock(
    client, staff, database: Database, clock: FrozenClock
) -> None:
    """REQ X-3, CSAM-1: the NCMEC track's clock starts at the confirming decision (default 24 h)."""
    client.post("/public/notices", json=MINOR_REPORT)
    case_id = _case_id(database)
    clock.advance(hours=2)
    client.post(f"/v1/cases/{case_id}/claim", headers=staff["cs1"])
    r = client.post(
        f"/v1/cases/{case_id}/decision",
        headers=staff["cs1"],
        json={"policy": "csam@2", "outcome": "violates", "facts": "apparent CSAM: a minor in sexual content"},
    )
    assert r.status_code == 200, r.text
    case = r.json()["case"]
    knowledge = T0 + timedelta(hours=2)
    assert case["actual_knowledge_at"].startswith(knowledge.isoformat()[:19])
    ncmec = next(t for t in case["tracks"] if t["kind"] == "ncmec")
    assert ncmec["state"] == "open" and ncmec["due_at"].startswith((knowledge + timedelta(hours=24)).isoformat()[:19])
    with database.unit_of_work(write=False) as db:
        actions = {a.kind: a for a in db.execute(sa.select(EnforcementAction)).scalars()}
        assert actions["restrict_distribution"].state == "lifted"  # replaced by the final measure
        assert actions["remove"].state == "active"
    assert "case:knowledge:csam" in _tags(database)


def test_second_reviewer_can_overturn_into_a_violation(client, staff, database: Database) -> None:
    client.post("/public/notices", json=MINOR_REPORT)
    case_id = _case_id(database)
    client.post(f"/v1/cases/{case_id}/claim", headers=staff["cs1"])
    client.post(
        f"/v1/cases/{case_id}/decision",
        headers=staff["cs1"],
        json={"policy": "csam@2", "outcome": "does_not_violate", "facts": "unclear"},
    )
    r = client.post(
        f"/v1/cases/{case_id}/second-review",
        headers=staff["cs2"],
        json={"agree": False, "facts": "the boy is visibly a minor; the video is sexual"},
    )
    assert r.status_code == 200 and r.json()["effective"]
    assert r.json()["case"]["outcome"] == "violates" and r.json()["case"]["actual_knowledge_at"]


def test_deadlines_escalate_before_breach_and_breaches_are_recorded(
    client, database: Database, clock: FrozenClock
) -> None:
    """REQ TID-2, UK-1: each clock escalates with a quarter of its time left (raise priority,
    alert the roles) and records its breach, once each. A parent's report about their child runs
    the 24 h priority takedown, the 48 h TAKE IT DOWN and UK clocks and the 72 h DSA clock."""
    client.post("/public/notices", json=MINOR_REPORT)
    case_id = _case_id(database)
    with database.unit_of_work(write=False) as db:
        start_priority = db.get_one(Case, case_id).priority

    def sweep(hours: float) -> tuple[set[str], set[str]]:
        clock.advance(hours=hours)
        with database.unit_of_work() as db:
            before = {t.id: (t.escalated_at, t.breached_at) for t in db.execute(sa.select(LegalTrack)).scalars()}
            sweep_deadlines(db, actor=SYSTEM)
            db.flush()
            rows = db.execute(sa.select(LegalTrack)).scalars().all()
            escalated = {t.kind for t in rows if t.escalated_at and not before[t.id][0]}
            breached = {t.kind for t in rows if t.breached_at and not before[t.id][1]}
        return escalated, breached

    assert sweep(17) == (set(), set())  # 7 h left of 24: not yet
    assert sweep(2) == ({"priority_takedown"}, set())  # 5 h left: under a quarter
    with database.unit_of_work(write=False) as db:
        alerts = db.execute(sa.select(StaffAlert)).scalars().all()
        assert {a.role for a in alerts} == {"senior_moderator", "child_safety"}
        assert all(a.kind == "deadline_near" and a.case_id == case_id for a in alerts)
        assert db.get_one(Case, case_id).priority > start_priority
    assert sweep(0) == (set(), set())  # once only
    assert sweep(6) == (set(), {"priority_takedown"})
    assert sweep(12) == ({"take_it_down", "uk_intimate_image"}, set())  # 11 h left of 48
    assert sweep(12) == (set(), {"take_it_down", "uk_intimate_image"})  # 23 h left of 72: not yet
    assert sweep(6) == ({"dsa_notice"}, set())  # 17 h left of 72
    with database.unit_of_work(write=False) as db:
        breached = db.execute(sa.select(LegalTrack).where(LegalTrack.breached_at.is_not(None))).scalars().all()
        assert {t.kind for t in breached} == {"take_it_down", "uk_intimate_image", "priority_takedown"}
        assert all(t.state == "open" for t in breached)  # a breach is recorded; the duty remains
    assert _tags(database).count("case:track:breach") == 3


def test_queue_orders_by_priority_then_deadline(client, staff, database: Database) -> None:
    client.post("/public/notices", json={**HARASSMENT, "items": [{"content_id": "low"}], "policy_id": "spam"})
    client.post("/public/notices", json=HARASSMENT)
    client.post("/public/notices", json=MINOR_REPORT)
    queue = client.get("/v1/queue", headers=staff["cs1"]).json()
    assert next(c["policy_id"] for c in queue) == "csam"
    priorities = [c["priority"] for c in queue]
    assert priorities == sorted(priorities, reverse=True)
    # A moderator without child-safety access does not see the child-safety case at all.
    assert all(not c["child_safety"] for c in client.get("/v1/queue", headers=staff["mo"]).json())


def test_staff_sign_in_throttled_from_the_failing_source(client, staff) -> None:
    for _ in range(5):
        assert (
            client.post("/v1/auth/sign-in", json={"username": "mo", "password": "wrong password!!"}).status_code == 401
        )
    r = client.post("/v1/auth/sign-in", json={"username": "mo", "password": "correct horse battery staple"})
    assert r.status_code == 429 and "try again in" in r.json()["message"] and r.headers["retry-after"]
