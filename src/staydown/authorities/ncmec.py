"""From a confirmed case to a finished CyberTipline report: draft one report per reported user,
have a child-safety reviewer confirm it, then file it through a resumable, idempotent state
machine that survives a crash at any step and never finishes the same report twice (NCMEC-2)."""

from __future__ import annotations

import secrets
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
            # Our own reference, printed in the report: NCMEC offers no look-up, so this is how a
            # person on either side matches a CyberTip to the case behind it.
            "ref": secrets.token_hex(8),
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


# -- filing: a resumable state machine ---------------------------------------------------------

def build_report(report: NcmecReport, settings: Any) -> Any:
    """The CyberTipline document for a report, from its stored plan and the provider's contact."""
    from staydown.authorities import ncmec_xml as x

    plan = report.plan
    reported = plan["reported"]
    when = datetime.fromisoformat(plan["incident"]["datetime"])
    events = []
    for e in reported.get("ip_events", []):
        at = e.get("at")
        events.append(x.IpCaptureEvent(ip_address=e["ip"], event_name=x.IpEventName.UPLOAD,
                                       date_time=datetime.fromisoformat(at) if at else None))
    urls = sorted({f["content_url"] for f in plan["files"] if f.get("content_url")}) or [settings.public_base_url]
    return x.Report(
        incident_summary=x.IncidentSummary(
            incident_type=x.IncidentType(plan["incident"]["type"]), incident_date_time=when,
            escalate_to_high_priority=("a reviewer flagged that a child may be in imminent danger"
                                       if report.escalate else None)),
        reporter=x.Reporter(reporting_person=x.Person(
            first_name=settings.ncmec_reporter_first_name, last_name=settings.ncmec_reporter_last_name,
            emails=[settings.ncmec_reporter_email] if settings.ncmec_reporter_email else [],
            phones=[settings.ncmec_reporter_phone] if settings.ncmec_reporter_phone else [])),
        internet_details=[x.InternetDetails(kind="web_page", urls=urls[:20])],
        person_or_user_reported=x.ReportedPerson(
            esp_identifier=reported.get("esp_identifier"), screen_name=reported.get("screen_name"),
            ip_capture_events=events,
            account_permanently_disabled=x.AccountDisabled() if reported.get("disabled_permanently") else None,
            account_temporarily_disabled=x.AccountDisabled() if reported.get("disabled_temporarily") else None),
        additional_info=f"staydown report ref: {plan['ref']} (case {report.case_id}, report {report.id})",
    )


def _client(ctx: JobContext) -> Any:
    client = ctx.services.get("ncmec_client")
    if client is not None:
        return client
    from staydown.authorities.ncmec_client import CyberTiplineClient

    settings = ctx.services["settings"]
    if not (settings.ncmec_url and settings.ncmec_username and settings.ncmec_password):
        raise RuntimeError("NCMEC is not configured (STAYDOWN_NCMEC_URL, _USERNAME, _PASSWORD); the report "
                           "stays queued and its track stays alarmed")
    return CyberTiplineClient(settings.ncmec_url, settings.ncmec_username,
                              settings.ncmec_password.get_secret_value(), timeout=60.0)


def _restart(db: Session, report: NcmecReport, why: str) -> None:
    """Start over with a fresh NCMEC report: the old one is never finished and NCMEC discards it."""
    report.plan = {**report.plan, "abandoned": [*report.plan.get("abandoned", []),
                                                  {"report_id": report.ncmec_report_id, "why": why}]}
    report.plan.pop("submitted_xml", None)
    report.ncmec_report_id = None
    report.state = "confirmed"
    for f in report.files:
        f.ncmec_file_id = f.md5 = None
        f.uploaded_at = f.fileinfo_at = None
    db.commit()


def file_report_job(db: Session, ctx: JobContext) -> None:
    """Submit -> upload each file -> fileinfo -> finish, committing after each step, so a crash
    at any point resumes where it stopped. An unknown outcome is reconciled as NCMEC's rules allow
    (see docs/ncmec-protocol.md): a lost submit is submitted again (the orphan expires unfinished),
    a lost upload restarts the report, a lost finish is asked again (5102 means it was filed)."""
    from staydown.authorities import ncmec_xml as x
    from staydown.authorities.ncmec_client import NcmecRejected
    from staydown.evidence.actions import NCMEC_HOLD, place_hold, read_item

    report = db.get(NcmecReport, ctx.payload["report_id"])
    if report is None or report.state in ("finished", "retracted", "draft"):
        return
    settings = ctx.services["settings"]
    vault = ctx.services["vault"]
    client = _client(ctx)
    try:
        if report.ncmec_report_id is None:
            document = report.plan.get("submitted_xml") or x.report_xml(build_report(report, settings)).decode()
            # Kept before the call: a resubmission after an unknown outcome sends the same bytes.
            report.plan = {**report.plan, "submitted_xml": document}
            db.commit()
            report.ncmec_report_id = client.submit(document.encode())
            report.state = "submitted"
            report.submitted_at = now(db)
            audit.record(db, actor=SYSTEM, tag=AuditTag.NCMEC_SUBMIT, subject_type="case", subject_id=report.case_id,
                         data={"report_id": report.id, "ncmec_report_id": report.ncmec_report_id})
            db.commit()
        for f in report.files:
            if f.ncmec_file_id:
                continue
            if f.uploaded_at is not None:
                # We started this upload and never learned its file id: uploading again would file
                # it twice, so this NCMEC report is abandoned and a new one made.
                _restart(db, report, f"upload of evidence {f.evidence_item_id} had an unknown outcome")
                raise RuntimeError("restarting the report after an upload with an unknown outcome")
            item = db.get(EvidenceItem, f.evidence_item_id)
            data = read_item(db, actor=SYSTEM, vault=vault, item=item,
                             purpose=f"filing CyberTipline report {report.ncmec_report_id}")
            f.uploaded_at = now(db)
            db.commit()
            upload = client.upload(report.ncmec_report_id, item.original_filename or f"file-{item.id}", data)
            f.ncmec_file_id, f.md5 = upload.file_id, upload.md5
            audit.record(db, actor=SYSTEM, tag=AuditTag.NCMEC_UPLOAD, subject_type="case", subject_id=report.case_id,
                         data={"report_id": report.id, "file_id": upload.file_id, "evidence_item_id": item.id})
            db.commit()
        for f in report.files:
            if f.fileinfo_at:
                continue
            item = db.get(EvidenceItem, f.evidence_item_id)
            # NCMEC-3: true only when a person's audited view of this very file exists.
            viewed = item.first_human_view_at is not None
            f.viewed_by_esp = viewed
            client.file_info(x.FileDetails(report_id=report.ncmec_report_id, file_id=f.ncmec_file_id,
                                           file_viewed_by_esp=viewed, original_file_name=item.original_filename,
                                           publicly_available=True, file_relevance=x.FileRelevance.REPORTED))
            f.fileinfo_at = now(db)
            db.commit()
        try:
            receipt = client.finish(report.ncmec_report_id)
            receipt_data = {"report_id": receipt.report_id, "file_ids": list(receipt.file_ids),
                            "raw": receipt.raw.decode(errors="replace")}
        except NcmecRejected as exc:
            if exc.code == x.ResponseCode.REPORT_ALREADY_FINISHED:
                receipt_data = {"report_id": report.ncmec_report_id,
                                "file_ids": [f.ncmec_file_id for f in report.files],
                                "raw": None, "note": "finish confirmed on retry (5102): the first answer was lost"}
            else:
                raise
    except NcmecRejected as exc:
        if exc.code == x.ResponseCode.REPORT_DOES_NOT_EXIST and report.ncmec_report_id is not None:
            _restart(db, report, "NCMEC no longer has the unfinished report (expired)")
        report.last_error = str(exc)[:2000]
        raise
    when = now(db)
    report.state = "finished"
    report.finished_at = when
    report.receipt = receipt_data
    # CSAM-4 / NCMEC-4: the receipt starts a one-year hold on what the report contained.
    for f in report.files:
        item = db.get(EvidenceItem, f.evidence_item_id)
        if item is not None and item.state == "stored":
            place_hold(db, actor=SYSTEM, item=item, kind="ncmec_report", starts_at=when,
                       until=when + timedelta(days=settings.ncmec_report_hold_days),
                       basis=f"CyberTipline report {report.ncmec_report_id} (18 U.S.C. 2258A(h))")
    _meet_ncmec_track(db, report)
    audit.record(db, actor=SYSTEM, tag=AuditTag.NCMEC_FINISH, subject_type="case", subject_id=report.case_id,
                 data={"report_id": report.id, "ncmec_report_id": report.ncmec_report_id,
                       "files": len(report.files), "confirmed_by": report.confirmed_by})


def _meet_ncmec_track(db: Session, report: NcmecReport) -> None:
    """The track is met when every report drafted for the case is finished."""
    from staydown.cases.actions import case_by_id, meet_track

    open_reports = db.scalar(sa.select(sa.func.count()).select_from(NcmecReport).where(
        NcmecReport.case_id == report.case_id, NcmecReport.state.not_in(["finished", "retracted"]),
        NcmecReport.id != report.id))
    if open_reports:
        return
    case = case_by_id(db, report.case_id)
    for track in case.tracks:
        if track.kind == TrackKind.ncmec.value:
            meet_track(db, actor=SYSTEM, track=track, resolution="report_finished",
                       facts=f"CyberTipline report {report.ncmec_report_id} finished")
