"""Consistency (issue #8 item 5): reproducible sampling for a second opinion that changes nothing,
exceptions as recorded decisions with reasons, and the report and public figures over HTTP."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import sqlalchemy as sa

from staydown.actors import SYSTEM
from staydown.audit.models import AuditEvent
from staydown.cases.models import Case, Decision
from staydown.clock import FrozenClock
from staydown.db import Database
from staydown.delivery.outbox import JobContext
from staydown.enforcement.models import EnforcementAction
from staydown.errors import Conflict, InvalidInput, PermissionDenied, RuleViolation
from staydown.jobs import PERIODIC, build_registry
from staydown.policies import default_catalogue
from staydown.settings import Settings
from staydown.transparency import consistency
from staydown.transparency.consistency import ConsistencyCheck, DecisionException
from tests.helpers import make_staff, sign_in
from tests.transparency.scenario import decide, notice
from tests.transparency.scenario import make_staff as staff_actor

CATALOGUE = default_catalogue()
HARASSMENT: dict[str, Any] = {
    "kind": "public_report",
    "reporter_kind": "user",
    "policy_id": "harassment",
    "explanation": "threatening messages",
}


def _decided_cases(db, n: int, reviewer=None, outcome: str = "violates") -> list[Decision]:
    reviewer = reviewer or staff_actor(db, "rev", "moderator")
    out = []
    for i in range(n):
        case = notice(db, CATALOGUE, items=[{"content_id": f"c-{i}", "account_id": f"a-{i}"}], **HARASSMENT)
        out.append(decide(db, CATALOGUE, reviewer, case, "harassment", outcome).decision)
    return out


def _tags(database: Database, tag: str) -> list[AuditEvent]:
    with database.unit_of_work(write=False) as db:
        return list(db.execute(sa.select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.seq)).scalars())


def test_sample_is_reproducible_from_the_case_id_and_idempotent(database: Database) -> None:
    """Item 5: which cases get a second opinion is a public function of the case id and the rate,
    so an auditor can recompute the sample; running the sampler again adds nothing."""
    with database.unit_of_work() as db:
        decisions = _decided_cases(db, 24)
        created = consistency.sample_decisions(db, actor=SYSTEM, rate=0.5)
        again = consistency.sample_decisions(db, actor=SYSTEM, rate=0.5)
        assert again == []

        def point(case_id: int) -> float:
            return (
                int.from_bytes(hashlib.sha256(f"staydown-consistency:{case_id}".encode()).digest()[:8], "big") / 2**64
            )

        expected = {d.id for d in decisions if point(d.case_id) < 0.5}
        assert {c.decision_id for c in created} == expected
        assert 0 < len(expected) < 24  # the hash does split them
        assert consistency.sample_decisions(db, actor=SYSTEM, rate=0.0) == []
        with pytest.raises(InvalidInput):
            consistency.sample_decisions(db, actor=SYSTEM, rate=1.5)
    events = _tags(database, "transparency:consistency:sample")
    assert len(events) == len(expected) and all(e.data["rate"] == 0.5 for e in events)


def test_second_opinion_records_agreement_and_changes_nothing(database: Database) -> None:
    """Item 5: the sampled second opinion sits beside the decision; the decision, the case and the
    measures stay as they were, agree or not."""
    with database.unit_of_work() as db:
        first = staff_actor(db, "first", "moderator")
        other = staff_actor(db, "other", "moderator")
        auditor = staff_actor(db, "aud", "auditor")
        (decision,) = _decided_cases(db, 1, reviewer=first)
        (check,) = consistency.sample_decisions(db, actor=SYSTEM, rate=1.0)
        before = (
            decision.state,
            db.get_one(Case, decision.case_id).state,
            sorted((a.kind, a.state) for a in db.execute(sa.select(EnforcementAction)).scalars()),
        )
        with pytest.raises(RuleViolation, match="took no part"):
            consistency.record_second_opinion(
                db,
                actor=first,
                check=check,
                outcome="violates",
                policy_ref="harassment@2",
                facts="same",
                catalogue=CATALOGUE,
            )
        with pytest.raises(PermissionDenied):
            consistency.record_second_opinion(
                db,
                actor=auditor,
                check=check,
                outcome="violates",
                policy_ref="harassment@2",
                facts="x",
                catalogue=CATALOGUE,
            )
        with pytest.raises(InvalidInput, match="not a policy"):
            consistency.record_second_opinion(
                db, actor=other, check=check, outcome="violates", policy_ref="nonsense", facts="x", catalogue=CATALOGUE
            )
        with pytest.raises(InvalidInput, match="facts"):
            consistency.record_second_opinion(
                db,
                actor=other,
                check=check,
                outcome="violates",
                policy_ref="harassment@2",
                facts="  ",
                catalogue=CATALOGUE,
            )
        done = consistency.record_second_opinion(
            db,
            actor=other,
            check=check,
            outcome="does_not_violate",
            policy_ref="harassment@2",
            facts="banter between friends",
            catalogue=CATALOGUE,
        )
        assert done.agree is False and done.state == "done" and done.reviewer == other.ref
        after = (
            decision.state,
            db.get_one(Case, decision.case_id).state,
            sorted((a.kind, a.state) for a in db.execute(sa.select(EnforcementAction)).scalars()),
        )
        assert after == before
        with pytest.raises(Conflict):
            consistency.record_second_opinion(
                db,
                actor=other,
                check=check,
                outcome="violates",
                policy_ref="harassment@2",
                facts="again",
                catalogue=CATALOGUE,
            )
    (event,) = _tags(database, "transparency:consistency:opinion")
    assert event.data["agree"] is False and event.data["decision_id"] == decision.id


def test_an_exception_is_a_recorded_decision_with_reasons(database: Database) -> None:
    """Item 5: no exemption list. Departing from the policy's default needs reasons on the record;
    only the decision's reviewer or a senior reviewer may record them."""
    with database.unit_of_work() as db:
        first = staff_actor(db, "first", "moderator")
        other = staff_actor(db, "other", "moderator")
        senior = staff_actor(db, "boss", "senior_moderator")
        (decision,) = _decided_cases(db, 1, reviewer=first)
        with pytest.raises(InvalidInput, match="reasons"):
            consistency.record_exception(db, actor=first, decision=decision, kind="high_reach", reasons="VIP")
        with pytest.raises(InvalidInput, match="kind"):
            consistency.record_exception(db, actor=first, decision=decision, kind="vip", reasons="x" * 30)
        with pytest.raises(PermissionDenied):
            consistency.record_exception(db, actor=other, decision=decision, kind="other", reasons="x" * 30)
        row = consistency.record_exception(
            db,
            actor=senior,
            decision=decision,
            kind="high_reach",
            reasons="public-interest reporting by a head of state: label, not removal",
        )
        assert row.recorded_by == senior.ref and row.case_id == decision.case_id
    (event,) = _tags(database, "transparency:consistency:exception")
    assert event.data["kind"] == "high_reach" and event.data["reasons"].startswith("public-interest")


def test_the_periodic_job_samples_with_the_configured_rate(database: Database, settings: Settings) -> None:
    assert (consistency.SAMPLE_JOB, 3600) in PERIODIC
    handler = build_registry().get(consistency.SAMPLE_JOB)
    assert handler is not None
    with database.unit_of_work() as db:
        _decided_cases(db, 6)
        ctx = JobContext(
            job_id=1,
            kind=consistency.SAMPLE_JOB,
            payload={},
            attempt=1,
            services={"settings": settings.model_copy(update={"consistency_sample_rate": 1.0})},
        )
        handler(db, ctx)
        assert db.scalar(sa.select(sa.func.count()).select_from(ConsistencyCheck)) == 6


# -- over HTTP --------------------------------------------------------------------------------------


def _decide_over_http(client, staff, content: str) -> int:
    r = client.post(
        "/public/notices", json={**HARASSMENT, "items": [{"content_id": content, "account_id": "u-" + content}]}
    )
    assert r.status_code in (200, 201, 202), r.text
    with client.app.state.database.unit_of_work(write=False) as db:
        case_id = db.execute(sa.select(Case.id).order_by(Case.id.desc()).limit(1)).scalar_one()
    client.post(f"/v1/cases/{case_id}/claim", headers=staff["mo"])
    r = client.post(
        f"/v1/cases/{case_id}/decision",
        headers=staff["mo"],
        json={"policy": "harassment@2", "outcome": "violates", "facts": "threats", "actions": ["remove"]},
    )
    assert r.status_code == 200, r.text
    return case_id


def test_consistency_checks_and_exceptions_over_http(client, staff, database: Database) -> None:
    """Item 5: reviewers see the sampled checks, give their opinion, and record exceptions."""
    case_id = _decide_over_http(client, staff, "p-1")
    with database.unit_of_work() as db:
        consistency.sample_decisions(db, actor=SYSTEM, rate=1.0)
        decision_id = db.execute(sa.select(Decision.id).where(Decision.case_id == case_id)).scalar_one()
    r = client.get("/v1/consistency/checks", headers=staff["senior"])
    assert r.status_code == 200 and [c["decision_id"] for c in r.json()] == [decision_id]
    check_id = r.json()[0]["id"]
    r = client.post(
        f"/v1/consistency/checks/{check_id}/opinion",
        headers=staff["mo"],
        json={"outcome": "violates", "policy": "harassment@2", "facts": "mine"},
    )
    assert r.status_code == 409  # the first reviewer
    r = client.post(
        f"/v1/consistency/checks/{check_id}/opinion",
        headers=staff["senior"],
        json={"outcome": "maybe", "policy": "harassment@2", "facts": "x"},
    )
    assert r.status_code == 422
    r = client.post(
        f"/v1/consistency/checks/{check_id}/opinion",
        headers=staff["senior"],
        json={"outcome": "violates", "policy": "harassment@2", "facts": "clear threats"},
    )
    assert r.status_code == 200 and r.json()["agree"] is True
    assert client.get("/v1/consistency/checks", headers=staff["senior"]).json() == []
    r = client.post(
        f"/v1/decisions/{decision_id}/exceptions",
        headers=staff["mo"],
        json={"kind": "measures_differ", "reasons": "short"},
    )
    assert r.status_code == 422
    r = client.post(
        f"/v1/decisions/{decision_id}/exceptions",
        headers=staff["mo"],
        json={"kind": "measures_differ", "reasons": "removal only: the account had no earlier strike"},
    )
    assert r.status_code == 201 and r.json()["kind"] == "measures_differ"
    assert (
        client.post(
            "/v1/decisions/999999/exceptions", headers=staff["mo"], json={"kind": "other", "reasons": "x" * 25}
        ).status_code
        == 404
    )
    with database.unit_of_work(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(DecisionException)) == 1


def test_report_api_needs_transparency_read_and_speaks_each_format(client, staff, database: Database) -> None:
    """REQ DSA-8: GET /v1/transparency/report for staff with transparency:read."""
    _decide_over_http(client, staff, "p-2")
    make_staff(database, "aud", "auditor")
    auditor = sign_in(client, "aud")
    url = "/v1/transparency/report?from=2026-06-01&to=2026-06-02"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=staff["mo"]).status_code == 403
    r = client.get(url, headers=auditor)
    assert r.status_code == 200 and r.json()["consistency"]["total"]["decided"] == 1
    assert r.json()["consistency"]["per_reviewer"] == {"mo": r.json()["consistency"]["total"]}
    r = client.get(url + "&format=csv", headers=auditor)
    assert r.status_code == 200 and r.text.startswith("section,dimension,value")
    assert "attachment" in r.headers["content-disposition"]
    r = client.get(url + "&format=html", headers=auditor)
    assert r.status_code == 200 and "<svg" in r.text and "<style" not in r.text
    assert "style-src 'self'" in r.headers["content-security-policy"]  # so the page links the stylesheet
    assert client.get(url + "&format=pdf", headers=auditor).status_code == 422
    assert client.get("/v1/transparency/report?from=2026-06-02&to=2026-06-01", headers=auditor).status_code == 422
    assert client.get("/v1/transparency/report?from=June&to=2026-06-01", headers=auditor).status_code == 422


def test_public_figures_are_aggregate_cached_and_rate_limited(
    client,
    staff,
    database: Database,
    clock: FrozenClock,
) -> None:
    """REQ DSA-8: anyone may read the figures; small counts are suppressed, nothing names a
    reviewer; the answer is cached and the endpoint is rate limited."""
    _decide_over_http(client, staff, "p-3")
    url = "/public/transparency?from=2026-06-01&to=2026-06-02"
    r = client.get(url)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["notices"]["total"] == "< 5" and body["parameters"]["min_count"] == 5
    assert "per_reviewer" not in body["consistency"] and '"mo"' not in r.text
    assert "max-age=300" in r.headers["cache-control"]
    _decide_over_http(client, staff, "p-4")
    assert client.get(url).json() == body  # served from the cache
    limit = client.app.state.settings.public_report_rate_per_minute
    statuses = [client.get(url).status_code for _ in range(limit)]
    assert statuses[-1] == 429
    assert client.get("/public/transparency?from=2026-06-02&to=2026-06-01").status_code in (422, 429)
