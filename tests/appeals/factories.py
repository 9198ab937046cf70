"""Factories for appeal tests: reports decided through the HTTP API, and statements of reasons."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from staydown.cases.models import Case
from staydown.db import Database
from staydown.enforcement.models import EnforcementAction
from staydown.intake.batch import new_tracking_code
from staydown.intake.models import Notice
from staydown.transparency.models import StatementOfReasons


def report(
    client,
    *,
    policy: str = "harassment",
    content: str = "post-1",
    account: str = "u-1",
    reporter_kind: str = "user",
    email: str | None = "reporter@example.org",
    **extra,
) -> str:
    body = {
        "kind": "public_report",
        "reporter_kind": reporter_kind,
        "policy_id": policy,
        "explanation": "reported on the platform",
        "items": [{"content_id": content, "account_id": account}],
        **extra,
    }
    if email:
        body["contact_email"] = email
    r = client.post("/public/notices", json=body)
    assert r.status_code == 201, r.text
    return r.json()["tracking_code"]


def case_of(database: Database, tracking_code: str) -> int:
    with database.unit_of_work(write=False) as db:
        case_id = db.execute(sa.select(Notice.case_id).where(Notice.tracking_code == tracking_code)).scalar_one()
    assert case_id is not None, tracking_code
    return case_id


def decide(client, headers, case_id: int, policy: str, outcome: str = "violates", **extra) -> dict:
    r = client.post(f"/v1/cases/{case_id}/claim", headers=headers)
    assert r.status_code == 200, r.text
    r = client.post(
        f"/v1/cases/{case_id}/decision",
        headers=headers,
        json={"policy": policy, "outcome": outcome, "facts": "reviewed the reported item", **extra},
    )
    assert r.status_code == 200, r.text
    return r.json()


def statement_for(database: Database, case_id: int, kind: str = "remove") -> str:
    """The statement of reasons for the case's `kind` action: the one the statements module issued
    if it did, else a minimal row of our own (the affected user's code is all an appeal needs)."""
    with database.unit_of_work() as db:
        action = db.execute(
            sa.select(EnforcementAction)
            .where(EnforcementAction.case_id == case_id, EnforcementAction.kind == kind)
            .order_by(EnforcementAction.id)
            .limit(1)
        ).scalar_one()
        found = db.execute(
            sa.select(StatementOfReasons).where(StatementOfReasons.action_id == action.id)
        ).scalar_one_or_none()
        if found is not None:
            return found.code
        code = "S-" + new_tracking_code()  # the statements module's format
        db.add(
            StatementOfReasons(
                code=code,
                action_id=action.id,
                case_id=case_id,
                content_id=action.content_id,
                account_id=action.account_id,
                measure=action.kind,
                target=action.target,
                policy_ref=action.policy_ref,
                decision_ground="incompatible_content",
                contractual_ground="terms",
                contractual_explanation="x",
                category="STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
                facts=action.facts,
                source="notice",
                automated_detection=False,
                automated_decision="not_automated",
                territorial_scope=[],
                starts_at=action.created_at,
                language="en",
                rendered={},
                redress={},
                appeal_deadline=action.created_at + timedelta(days=183),
                issued_at=action.created_at,
                tdb_state="pending",
                tdb_puid=f"test-{code}",
                tdb_attempts=0,
            )
        )
        return code


def case_row(database: Database, case_id: int) -> Case:
    with database.unit_of_work(write=False) as db:
        case = db.get_one(Case, case_id)
        db.expunge(case)
        return case


def active_kinds(database: Database, case_id: int) -> list[str]:
    with database.unit_of_work(write=False) as db:
        return sorted(
            db.execute(
                sa.select(EnforcementAction.kind).where(
                    EnforcementAction.case_id == case_id, EnforcementAction.state == "active"
                )
            ).scalars()
        )
