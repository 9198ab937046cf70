"""From a confirmed case to a finished CyberTipline report: draft one report per reported user,
have a child-safety reviewer confirm it, then file it through a resumable, idempotent state
machine that survives a crash at any step and never finishes the same report twice (NCMEC-2)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import SYSTEM, Actor, ActorKind
from staydown.audit import AuditTag
from staydown.authorities.models import NcmecReport, NcmecReportFile
from staydown.cases.models import Case, TrackKind
from staydown.db import now
from staydown.delivery.outbox import JobContext, enqueue
from staydown.enforcement.models import EnforcementAction
from staydown.errors import Conflict, InvalidInput, PermissionDenied, RuleViolation
from staydown.evidence.models import EvidenceItem
from staydown.policies.catalogue import Catalogue
from staydown.staff.permissions import Permission
from staydown.subjects.models import PlatformAccount, PlatformContent

FILE_REPORT = "ncmec:file"


def _require(actor: Actor) -> None:
    if actor.kind is ActorKind.staff and Permission.NCMEC_REPORTS.value not in actor.permissions:
        raise PermissionDenied("NCMEC reports are handled by child-safety specialists and legal")


def draft_reports(db: Session, *, actor: Actor, case: Case, catalogue: Catalogue) -> list[NcmecReport]:
    """One draft per reported account, grouping that account's files in the vault. A case no person
    has confirmed cannot be reported (CSAM-7: a match alone is not a report)."""
    _require(actor)
    if case.actual_knowledge_at is None:
        raise RuleViolation(f"case {case.id} has not been confirmed by a person as apparent CSAM, trafficking "
                            "or enticement: there is nothing to report yet")
    policy = catalogue.get(case.policy_id)
    if not policy.ncmec_incident_type:
        raise RuleViolation(f"policy {policy.ref} has no NCMEC incident type")
    from staydown.cases.actions import case_contents

    existing = {r.account_id for r in db.execute(sa.select(NcmecReport).where(
        NcmecReport.case_id == case.id, NcmecReport.state != "retracted")).scalars()}
    contents = case_contents(db, case)
    # Copies found by the stay-down sweep are part of the incident too, with their posters.
    sweep_ids = set(db.execute(sa.select(EnforcementAction.content_id).where(
        EnforcementAction.case_id == case.id, EnforcementAction.content_id.is_not(None))).scalars())
    contents += list(db.execute(sa.select(PlatformContent).where(
        PlatformContent.id.in_(sweep_ids - {c.id for c in contents} or {-1}))).scalars())
    by_account: dict[int | None, list[PlatformContent]] = {}
    for content in contents:
        by_account.setdefault(content.account_id, []).append(content)
    drafts = []
    for account_id, items in sorted(by_account.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
        if account_id in existing:
            continue
        evidence = db.execute(sa.select(EvidenceItem).where(
            EvidenceItem.content_id.in_([c.id for c in items]), EvidenceItem.state == "stored")
            .order_by(EvidenceItem.id)).scalars().all()
        account = db.get(PlatformAccount, account_id) if account_id else None
        disabled = {a.kind for a in db.execute(sa.select(EnforcementAction).where(
            EnforcementAction.account_id == account_id, EnforcementAction.state == "active")).scalars()} if account_id else set()
        ip_events = [e for item in evidence for e in (item.context or {}).get("ip_capture", []) if e.get("ip")]
        plan = {
            "case_id": case.id,
            "incident": {"type": policy.ncmec_incident_type,
                         "datetime": min((c.created_at or c.first_seen_at) for c in items).isoformat(),
                         "knowledge_at": case.actual_knowledge_at.isoformat()},
            "reported": {"esp_identifier": account.platform_id if account else None,
                         "screen_name": account.handle if account else None,
                         "ip_events": ip_events[:50],
                         "disabled_permanently": "terminate" in disabled,
                         "disabled_temporarily": "suspend" in disabled},
            "files": [{"evidence_item_id": e.id, "original_filename": e.original_filename or f"file-{e.id}",
                       "viewed_by_esp": e.first_human_view_at is not None, "publicly_available": True,
                       "content_url": next((c.url for c in items if c.id == e.content_id), None)} for e in evidence],
        }
        report = NcmecReport(case_id=case.id, account_id=account_id, state="draft", plan=plan,
                             escalate=case.imminent_danger, created_at=now(db), created_by=actor.ref)
        db.add(report)
        db.flush()
        for f in plan["files"]:
            db.add(NcmecReportFile(report_id=report.id, evidence_item_id=f["evidence_item_id"],
                                   viewed_by_esp=f["viewed_by_esp"]))
        audit.record(db, actor=actor, tag=AuditTag.NCMEC_DRAFT, subject_type="case", subject_id=case.id,
                     data={"report_id": report.id, "account": plan["reported"]["esp_identifier"],
                           "files": len(plan["files"]), "escalate": report.escalate})
        drafts.append(report)
    return drafts


def confirm_report(db: Session, *, actor: Actor, report: NcmecReport) -> NcmecReport:
    """A child-safety reviewer confirms the draft; only then is it filed."""
    _require(actor)
    if actor.kind is not ActorKind.staff or Permission.CHILD_SAFETY_CASES.value not in actor.permissions:
        raise PermissionDenied("a child-safety reviewer confirms a report before it is filed")
    if report.state != "draft":
        raise Conflict(f"report {report.id} is {report.state}, not a draft")
    report.state = "confirmed"
    report.confirmed_by = actor.ref
    report.confirmed_at = now(db)
    enqueue(db, kind=FILE_REPORT, payload={"report_id": report.id}, idempotency_key=f"ncmec:file:{report.id}",
            max_attempts=200)
    audit.record(db, actor=actor, tag=AuditTag.NCMEC_CONFIRM, subject_type="case", subject_id=report.case_id,
                 data={"report_id": report.id})
    return report
