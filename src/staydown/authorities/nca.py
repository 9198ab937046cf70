"""From a confirmed case to a report submitted to the UK National Crime Agency (UK-6, OSA 2023
s.66): draft one report per reported account, have a child-safety reviewer confirm it, then file
it from the outbox through a resumable state machine that commits after each step and repeats a
step whose answer was lost without ever making a second report.

The duty is the platform's only where it serves UK users (a UK provider, or a non-UK provider for
UK-linked content, and only for content not already covered by its reporting to a foreign agency
such as NCMEC: OSA s.66, s.70(5)). `uk_nca_reporting` says whether it applies; while it is off,
nothing is drafted, confirmed or filed. What a report carries is taken from the same places as the
CyberTipline plan (the case, the vault, the scan, the account and its measures); see
docs/nca-protocol.md for what is confirmed about the NCA's channel and what is assumed.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import SYSTEM, Actor, ActorKind
from staydown.audit import AuditTag
from staydown.authorities import nca_format as f
from staydown.authorities.models import NcaReport, NcaReportFile
from staydown.authorities.nca_client import NcaClient, NcaRejected
from staydown.cases import tracks
from staydown.cases.models import Case, Decision, TrackKind
from staydown.cases.queries import case_by_id, reported_contents_by_account
from staydown.db import now
from staydown.delivery.outbox import JobContext, enqueue
from staydown.enforcement.models import EnforcementAction
from staydown.errors import Conflict, InvalidInput, PermissionDenied, RuleViolation
from staydown.evidence.models import EvidenceItem
from staydown.evidence.vault import place_hold, read_item
from staydown.intake.models import Notice
from staydown.matching.models import ContentSignal, Scan
from staydown.policies.catalogue import Catalogue
from staydown.staff.permissions import Permission, require_staff_permission
from staydown.subjects.models import PlatformAccount, PlatformContent

FILE_NCA_REPORT = "nca:file"
STATES = ("draft", "confirmed", "opened", "finished")
# Notice kinds as the NCA is told how the content came to the provider's attention (s.70(4)).
_DETECTION = {
    "user_report": f.DetectionMethod.USER_REPORT,
    "public_report": f.DetectionMethod.PUBLIC_REPORT,
    "take_it_down": f.DetectionMethod.PUBLIC_REPORT,
    "dsa_notice": f.DetectionMethod.PUBLIC_REPORT,
    "trusted_flagger": f.DetectionMethod.TRUSTED_FLAGGER,
    "law_enforcement": f.DetectionMethod.LAW_ENFORCEMENT,
    "authority_order": f.DetectionMethod.AUTHORITY,
    "terrorist_order": f.DetectionMethod.AUTHORITY,
    "detection": f.DetectionMethod.HASH_MATCH,
}


@dataclass(frozen=True)
class NcaRules:
    """Whether this platform reports to the NCA, and as which kind of provider (OSA s.70(2))."""

    enabled: bool = False
    uk_provider: bool = True
    # Whether the files themselves go with the report, or only their hashes and details (the
    # files then stay held in the vault for the NCA to ask for). Whether the NCA's API takes
    # files is not public [U]: the operator settles it with the NCA.
    send_files: bool = True

    @classmethod
    def from_settings(cls, settings: Any) -> NcaRules:
        # Outside production an unset provider kind counts as UK (report everything detected);
        # production refuses to start without it (settings.production_problems).
        return cls(
            enabled=bool(getattr(settings, "uk_nca_reporting", False)),
            uk_provider=getattr(settings, "uk_nca_provider", None) != "non_uk",
            send_files=bool(getattr(settings, "uk_nca_send_files", True)),
        )


def _off() -> RuleViolation:
    return RuleViolation(
        "UK NCA reporting is off for this platform (STAYDOWN_UK_NCA_REPORTING): it applies only "
        "to a platform that serves UK users, so nothing is reported to the NCA"
    )


def _require(actor: Actor) -> None:
    require_staff_permission(
        actor, Permission.NCA_REPORTS, "NCA reports are handled by child-safety specialists and legal"
    )


# -- drafting ---------------------------------------------------------------------------------


def draft_reports(
    db: Session,
    *,
    actor: Actor,
    case: Case,
    catalogue: Catalogue,
    rules: NcaRules,
    priority: str | None = None,
    priority_reason: str | None = None,
    uk_link_basis: str | None = None,
    uk_link_facts: str | None = None,
) -> list[NcaReport]:
    """One draft per reported account of a case a person confirmed (actual knowledge), with the
    provider's priority assessment. A case with imminent danger is urgent and cannot be drafted
    as standard. A non-UK provider states the content's link to the UK (s.66(2), s.70(6))."""
    _require(actor)
    if not rules.enabled:
        raise _off()
    if case.actual_knowledge_at is None:
        raise RuleViolation(
            f"case {case.id} has not been confirmed as apparent child sexual exploitation or abuse: "
            "there is nothing to report yet"
        )
    policy = catalogue.get(case.policy_id) if case.policy_id is not None and case.policy_id in catalogue else None
    if policy is None or not policy.child_safety:
        raise RuleViolation(
            f"case {case.id} is not under a child-safety policy: only CSEA content is reported to the NCA"
        )
    level, reason = _priority(case, priority, priority_reason)
    uk_link = _uk_link(rules, uk_link_basis, uk_link_facts)

    existing = set(db.execute(sa.select(NcaReport.account_id).where(NcaReport.case_id == case.id)).scalars())
    by_account = reported_contents_by_account(db, case)
    if not by_account:
        raise RuleViolation(f"case {case.id} names no content on the platform: there is nothing to describe to the NCA")
    detection = _detection(db, case)
    findings = (
        db.execute(
            sa.select(Decision.facts)
            .where(Decision.case_id == case.id, Decision.outcome == "violates")
            .order_by(Decision.id.desc())
        )
        .scalars()
        .first()
    )
    drafts = []
    for account_id, items in by_account:
        if account_id in existing:
            continue
        evidence = (
            db.execute(
                sa.select(EvidenceItem)
                .where(EvidenceItem.content_id.in_([c.id for c in items]), EvidenceItem.state == "stored")
                .order_by(EvidenceItem.id)
            )
            .scalars()
            .all()
        )
        account = db.get(PlatformAccount, account_id) if account_id else None
        plan: dict[str, Any] = {
            # Our own reference, in the report and in the key the NCA knows it by: how a person on
            # either side matches a report to its case.
            "ref": secrets.token_hex(8),
            "case_id": case.id,
            "category": policy.title,
            "detection": detection,
            "findings": (findings or "")[:4000],
            "uk_link": uk_link,
            "send_files": rules.send_files,
            "user": _user(db, account, evidence),
            "content": [_content(db, c, [e for e in evidence if e.content_id == c.id]) for c in items][: f.MAX_ITEMS],
        }
        report = NcaReport(
            case_id=case.id,
            account_id=account_id,
            state="draft",
            plan=plan,
            priority=level,
            priority_reason=reason,
            created_at=now(db),
            created_by=actor.ref,
        )
        db.add(report)
        db.flush()
        for item in plan["content"]:
            for e in item["files"]:
                db.add(
                    NcaReportFile(
                        report_id=report.id,
                        evidence_item_id=e["evidence_item_id"],
                        file_ref=e["file_ref"],
                        viewed_by_provider=e["viewed_by_provider"],
                    )
                )
        db.flush()
        db.refresh(report, ["files"])
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.NCA_DRAFT,
            subject_type="case",
            subject_id=case.id,
            data={
                "report_id": report.id,
                "account": plan["user"]["platform_account_id"],
                "items": len(plan["content"]),
                "files": len(report.files),
                "priority": level,
                "uk_link": uk_link["basis"] if uk_link else None,
            },
        )
        drafts.append(report)
    return drafts


def _priority(case: Case, priority: str | None, reason: str | None) -> tuple[str, str | None]:
    """The provider's priority assessment. A person's marking of imminent danger makes it urgent."""
    if priority is not None and priority not in {p.value for p in f.Priority}:
        raise InvalidInput(f"priority is one of {', '.join(p.value for p in f.Priority)}")
    reason = (reason or "").strip() or None
    if reason is not None and not 10 <= len(reason) <= 2000:
        raise InvalidInput("the priority reason is 10 to 2,000 characters")
    if case.imminent_danger:
        if priority == f.Priority.STANDARD.value:
            raise InvalidInput(
                f"case {case.id} is marked as a threat to a child's life or safety: its report is urgent"
            )
        return f.Priority.URGENT.value, reason or "a reviewer marked a threat to a child's life or safety on this case"
    if priority == f.Priority.URGENT.value:
        if reason is None:
            raise InvalidInput("an urgent report says why a child may be at risk (priority_reason)")
        return f.Priority.URGENT.value, reason
    return f.Priority.STANDARD.value, reason


def _uk_link(rules: NcaRules, basis: str | None, facts: str | None) -> dict[str, str] | None:
    if basis is None and not facts:
        if not rules.uk_provider:
            raise InvalidInput(
                "a non-UK provider reports only UK-linked content to the NCA (OSA s.66(2)): give the "
                "link (uk_link_basis, one of "
                + ", ".join(b.value for b in f.UkLinkBasis)
                + ") and the facts that show it"
            )
        return None
    if basis not in {b.value for b in f.UkLinkBasis}:
        raise InvalidInput(f"uk_link_basis is one of {', '.join(b.value for b in f.UkLinkBasis)}")
    facts = (facts or "").strip()
    if not 10 <= len(facts) <= 2000:
        raise InvalidInput("the facts of the UK link are 10 to 2,000 characters")
    return {"basis": basis, "facts": facts}


def _detection(db: Session, case: Case) -> dict[str, Any]:
    notices = db.execute(sa.select(Notice.kind, Notice.received_at).where(Notice.case_id == case.id)).all()
    methods = sorted({_DETECTION[k].value for k, _ in notices if k in _DETECTION})
    first = min([at for _, at in notices] + [case.opened_at])
    counted = ", ".join(
        f"{sum(1 for k, _ in notices if k == kind)} {kind.replace('_', ' ')}"
        for kind in sorted({k for k, _ in notices})
    )
    description = (
        (f"{len(notices)} notice(s) ({counted})" if notices else "found by the provider")
        + f"; first detected {first.isoformat(timespec='seconds')}; confirmed by a person "
        f"{case.actual_knowledge_at.isoformat(timespec='seconds') if case.actual_knowledge_at else ''}"
    )
    return {
        "methods": methods or [f.DetectionMethod.PROVIDER_REVIEW.value],
        "first_detected_at": first.isoformat(),
        "knowledge_at": case.actual_knowledge_at.isoformat() if case.actual_knowledge_at else None,
        "description": description,
    }


def _ip_event(ip: Any, at: Any = None, port: Any = None) -> dict[str, Any] | None:
    """An IP capture as the report carries it; anything that is not an address is left out rather
    than sent as if it were one."""
    try:
        ipaddress.ip_address(str(ip))
    except ValueError:
        return None
    event: dict[str, Any] = {"ip": str(ip)}
    if isinstance(at, datetime):
        event["at"] = at.isoformat()
    elif isinstance(at, str):
        try:
            if datetime.fromisoformat(at).tzinfo is not None:
                event["at"] = at
        except ValueError:
            pass
    if isinstance(port, int) and not isinstance(port, bool) and 0 <= port <= 65535:
        event["port"] = port
    return event


def _user(db: Session, account: PlatformAccount | None, evidence: Sequence[EvidenceItem]) -> dict[str, Any]:
    measures = (
        {
            a.kind
            for a in db.execute(
                sa.select(EnforcementAction).where(
                    EnforcementAction.account_id == account.id, EnforcementAction.state == "active"
                )
            ).scalars()
        }
        if account
        else set()
    )
    status = (
        "terminated"
        if "terminate" in measures
        else "suspended"
        if "suspend" in measures
        else ("active" if account else "unknown")
    )
    events = [
        e
        for item in evidence
        for raw in (item.context or {}).get("ip_capture", [])
        if isinstance(raw, dict)
        for e in [_ip_event(raw.get("ip"), raw.get("at"), raw.get("port"))]
        if e
    ]
    meta = account.meta if account else {}
    return {
        "platform_account_id": account.platform_id if account else None,
        "username": account.handle if account else None,
        "display_name": str(meta.get("display_name"))[:200] if meta.get("display_name") else None,
        "profile_url": str(meta.get("profile_url"))[:2048] if meta.get("profile_url") else None,
        "account_status": status,
        "ip_events": events[: f.MAX_IP_EVENTS],
    }


def _content(db: Session, content: PlatformContent, evidence: list[EvidenceItem]) -> dict[str, Any]:
    hashes: dict[tuple[str, str], None] = {}
    for e in evidence:
        hashes[("md5", e.md5)] = None
        hashes[("sha256", e.sha256)] = None
    for signal_type, signal in db.execute(
        sa.select(ContentSignal.signal_type, ContentSignal.signal)
        .where(ContentSignal.content_id == content.id, ContentSignal.purged.is_(False))
        .order_by(ContentSignal.id)
    ):
        if signal_type in {h.value for h in f.HashType} and len(signal) == f.HASH_HEX_LENGTH[f.HashType(signal_type)]:
            hashes[(signal_type, signal.lower())] = None
    scan = db.execute(sa.select(Scan).where(Scan.content_id == content.id).order_by(Scan.id.desc())).scalars().first()
    uploaded_at = (scan.uploaded_at if scan else None) or content.created_at
    upload_ip = _ip_event(scan.uploader_ip, uploaded_at) if scan and scan.uploader_ip else None
    if upload_ip is None:
        captured = [raw for e in evidence for raw in (e.context or {}).get("ip_capture", []) if isinstance(raw, dict)]
        upload_ip = next(
            (ev for raw in captured for ev in [_ip_event(raw.get("ip"), raw.get("at"), raw.get("port"))] if ev), None
        )
    visibility = (content.meta or {}).get("visibility")
    return {
        "content_id": content.id,
        "platform_content_id": content.platform_id,
        "url": content.url,
        "uploaded_at": uploaded_at.isoformat() if uploaded_at else None,
        "upload_ip": upload_ip,
        # Whether it was public is what the platform registered, never a guess.
        "publicly_available": {"public": True, "private": False}.get(str(visibility)) if visibility else None,
        "hashes": [{"type": t, "value": v} for t, v in hashes][: f.MAX_HASHES],
        "files": [
            {
                "evidence_item_id": e.id,
                "file_ref": f"item-{e.id}",
                "file_name": e.original_filename or f"file-{e.id}",
                "media_type": e.media_type,
                "size": e.size,
                # True only where an audited human view of this very file exists.
                "viewed_by_provider": e.first_human_view_at is not None,
            }
            for e in evidence
        ],
    }


# -- confirming -------------------------------------------------------------------------------


def confirm_report(db: Session, *, actor: Actor, report: NcaReport, rules: NcaRules) -> NcaReport:
    """A child-safety reviewer confirms the draft and makes the declaration the report carries
    (all information reasonably available is included; false information is an offence, s.69).
    Only then is it queued for filing."""
    _require(actor)
    if (
        actor.kind is not ActorKind.staff
        or not {Permission.CHILD_SAFETY_CASES.value, Permission.CASES_REVIEW.value} <= actor.permissions
    ):
        raise PermissionDenied("a child-safety reviewer confirms an NCA report before it is filed")
    if not rules.enabled:
        raise _off()
    if report.state != "draft":
        raise Conflict(f"NCA report {report.id} is {report.state}, not a draft")
    report.state = "confirmed"
    report.confirmed_by = actor.ref
    report.confirmed_at = now(db)
    enqueue(
        db,
        kind=FILE_NCA_REPORT,
        payload={"report_id": report.id},
        idempotency_key=f"nca:file:{report.id}",
        max_attempts=200,
    )
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.NCA_CONFIRM,
        subject_type="case",
        subject_id=report.case_id,
        data={
            "report_id": report.id,
            "priority": report.priority,
            "declaration": "all information reasonably available is included",
        },
    )
    return report


# -- filing: a resumable state machine ---------------------------------------------------------


def build_report(report: NcaReport, settings: Any) -> f.Report:
    """The document for a report, from its stored plan, the confirmation and the provider's
    registration with the NCA."""
    plan = report.plan
    confirmed_at = report.confirmed_at
    assert confirmed_at is not None  # only a confirmed report is filed
    missing = [
        f"STAYDOWN_{name.upper()}"
        for name in ("uk_nca_organisation_id", "uk_nca_authorised_person_name", "uk_nca_authorised_person_email")
        if not getattr(settings, name)
    ]
    if missing:
        # The report names who submits it (Schedule 1): never a placeholder.
        raise ValueError(f"the NCA registration is not configured ({', '.join(missing)}); the report stays queued")

    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    def ip(event: dict[str, Any] | None, kind: str = "upload") -> f.IpEvent | None:
        return (
            f.IpEvent(ip=event["ip"], at=when(event.get("at")), port=event.get("port"), event=kind) if event else None
        )

    user = plan["user"]
    send_files = plan.get("send_files", True)
    items = []
    for c in plan["content"]:
        files = c["files"]
        # One content item may be held as several files; each is its own entry, sharing the item's
        # identifiers, so that every uploaded file is described.
        for file in files or [None]:
            items.append(
                f.ContentItem(
                    platform_content_id=c.get("platform_content_id"),
                    url=c.get("url"),
                    file_ref=file["file_ref"] if file and send_files else None,
                    file_name=file["file_name"] if file else None,
                    media_type=file["media_type"] if file else None,
                    size=file["size"] if file else None,
                    uploaded_at=when(c.get("uploaded_at")),
                    upload_ip=ip(c.get("upload_ip")),
                    publicly_available=c.get("publicly_available"),
                    viewed_by_provider=bool(file and file["viewed_by_provider"]),
                    hashes=tuple(f.FileHash(f.HashType(h["type"]), h["value"]) for h in c.get("hashes", [])),
                )
            )
    detection = plan["detection"]
    link = plan.get("uk_link")
    return f.Report(
        provider_reference=plan["ref"],
        organisation=f.Organisation(
            registration_id=settings.uk_nca_organisation_id,
            name=settings.platform_name,
            provider_kind="non_uk" if settings.uk_nca_provider == "non_uk" else "uk",
        ),
        authorised_person=f.Person(
            name=settings.uk_nca_authorised_person_name,
            email=settings.uk_nca_authorised_person_email,
            phone=settings.uk_nca_authorised_person_phone,
        ),
        priority=f.Priority(report.priority),
        priority_reason=report.priority_reason,
        category=plan["category"],
        detection=f.Detection(
            methods=tuple(f.DetectionMethod(m) for m in detection["methods"]),
            first_detected_at=datetime.fromisoformat(detection["first_detected_at"]),
            knowledge_at=datetime.fromisoformat(detection["knowledge_at"]),
            description=detection["description"],
        ),
        uk_link=f.UkLink(f.UkLinkBasis(link["basis"]), link["facts"]) if link else None,
        reported_user=f.ReportedUser(
            platform_account_id=user.get("platform_account_id"),
            username=user.get("username"),
            display_name=user.get("display_name"),
            profile_url=user.get("profile_url"),
            account_status=user.get("account_status", "unknown"),
            ip_events=tuple(e for e in (ip(raw) for raw in user.get("ip_events", [])) if e),
        ),
        content=tuple(items)[: f.MAX_ITEMS],
        additional_information=(
            f"staydown case {report.case_id}, report {report.id}. Reviewer's finding: "
            f"{plan.get('findings') or 'not recorded'}"
        ),
        declaration=f.Declaration(confirmed_by=report.confirmed_by or "", confirmed_at=confirmed_at),
    )


def _client(ctx: JobContext) -> Any:
    client = ctx.services.get("nca_client")
    if client is not None:
        return client

    settings = ctx.services["settings"]
    if not (settings.uk_nca_url and settings.uk_nca_token):
        raise RuntimeError(
            "the NCA is not configured (STAYDOWN_UK_NCA_URL, STAYDOWN_UK_NCA_TOKEN); the report stays "
            "queued and its track stays alarmed"
        )
    return NcaClient(
        settings.uk_nca_url, settings.uk_nca_token.get_secret_value(), timeout=settings.uk_nca_timeout_seconds
    )


def _restart(db: Session, report: NcaReport, why: str) -> None:
    """The NCA no longer holds the unfinished report: make it again under a new key. The old one
    was never submitted, so it never counts as a report."""
    report.plan = {
        **report.plan,
        "abandoned": [*report.plan.get("abandoned", []), {"nca_report_id": report.nca_report_id, "why": why}],
    }
    report.idempotency_key = f"{report.plan['ref']}-{len(report.plan['abandoned'])}"
    report.nca_report_id = None
    report.document = None
    report.state = "confirmed"
    for file in report.files:
        file.nca_file_id = file.sha256 = None
        file.uploaded_at = None
    audit.record(
        db,
        actor=SYSTEM,
        tag=AuditTag.NCA_RESTART,
        subject_type="case",
        subject_id=report.case_id,
        data={"report_id": report.id, "why": why},
    )


def file_report_job(db: Session, ctx: JobContext) -> None:
    """Create -> upload each file -> submit, committing after each step, so that a crash anywhere
    resumes where it stopped. Every call is safe to repeat (the same key names the same report,
    the same file reference the same file, a second submit the same receipt), so an answer lost
    in transit is resolved by asking again: no second report is ever made."""
    report = db.get(NcaReport, ctx.payload["report_id"])
    if report is None or report.state in ("finished", "draft"):
        return
    settings = ctx.services["settings"]
    if not NcaRules.from_settings(settings).enabled:
        # Turned off after confirmation: nothing leaves; the job waits and retries, visibly.
        report.last_error = "UK NCA reporting is turned off (STAYDOWN_UK_NCA_REPORTING): not filed"
        db.commit()
        raise RuntimeError(report.last_error)
    client = _client(ctx)
    try:
        if report.nca_report_id is None:
            if report.document is None:
                report.idempotency_key = report.idempotency_key or report.plan["ref"]
                report.document = f.report_json(build_report(report, settings)).decode("utf-8")
                # Kept before the call: a repeat after a lost answer sends these bytes under this key.
                db.commit()
            created = client.create_report(report.document.encode("utf-8"), idempotency_key=report.idempotency_key)
            report.nca_report_id = created.report_id
            report.state = "opened"
            report.opened_at = now(db)
            audit.record(
                db,
                actor=SYSTEM,
                tag=AuditTag.NCA_OPEN,
                subject_type="case",
                subject_id=report.case_id,
                data={
                    "report_id": report.id,
                    "nca_report_id": created.report_id,
                    "repeated_after_a_lost_answer": created.replayed,
                },
            )
            db.commit()
        vault = ctx.services["vault"]
        for file in report.files:
            if file.nca_file_id or not report.plan.get("send_files", True):
                continue
            item = db.get(EvidenceItem, file.evidence_item_id)
            assert item is not None  # a report file names a vault item (foreign key)
            data = read_item(
                db, actor=SYSTEM, vault=vault, item=item, purpose=f"filing NCA report {report.nca_report_id}"
            )
            upload = client.upload_file(
                report.nca_report_id,
                file.file_ref,
                media_type=item.media_type,
                file_name=item.original_filename or file.file_ref,
                data=data,
            )
            file.nca_file_id, file.sha256, file.uploaded_at = upload.file_id, upload.sha256, now(db)
            audit.record(
                db,
                actor=SYSTEM,
                tag=AuditTag.NCA_UPLOAD,
                subject_type="case",
                subject_id=report.case_id,
                data={
                    "report_id": report.id,
                    "file_id": upload.file_id,
                    "evidence_item_id": item.id,
                    "repeated_after_a_lost_answer": upload.replayed,
                },
            )
            db.commit()
        receipt = client.submit(report.nca_report_id)
    except NcaRejected as exc:
        if exc.status == 404 and report.nca_report_id is not None:
            _restart(db, report, f"the NCA no longer holds unfinished report {report.nca_report_id}")
        report.last_error = str(exc)[:2000]
        db.commit()
        raise
    except Exception as exc:
        report.last_error = str(exc)[:2000]
        db.commit()
        raise
    when = now(db)
    report.state = "finished"
    report.finished_at = when
    report.nca_reference = receipt.nca_reference[:100]
    report.receipt = receipt.raw
    report.last_error = None
    # What the report contained is retained from its receipt (OSA s.67(3); the period is the
    # regulations', configured as uk_nca_report_hold_days).
    for file in report.files:
        item = db.get(EvidenceItem, file.evidence_item_id)
        if item is not None and item.state == "stored":
            place_hold(
                db,
                actor=SYSTEM,
                item=item,
                kind="nca_report",
                starts_at=when,
                until=when + timedelta(days=settings.uk_nca_report_hold_days),
                basis=f"NCA report {receipt.nca_reference} (Online Safety Act 2023 s.66, s.67(3))",
            )
    audit.record(
        db,
        actor=SYSTEM,
        tag=AuditTag.NCA_SUBMIT,
        subject_type="case",
        subject_id=report.case_id,
        data={
            "report_id": report.id,
            "nca_report_id": report.nca_report_id,
            "nca_reference": report.nca_reference,
            "files": len(report.files),
            "priority": report.priority,
            "confirmed_by": report.confirmed_by,
        },
    )
    _meet_nca_track(db, report)


def _meet_nca_track(db: Session, report: NcaReport) -> None:
    """The case's `uk_nca` track is met when every NCA report drafted for the case is finished."""
    unfinished = db.scalar(
        sa.select(sa.func.count())
        .select_from(NcaReport)
        .where(NcaReport.case_id == report.case_id, NcaReport.state != "finished", NcaReport.id != report.id)
    )
    if unfinished:
        return
    tracks.meet_kind(
        db,
        actor=SYSTEM,
        case=case_by_id(db, report.case_id),
        kind=TrackKind.uk_nca.value,
        resolution=tracks.REPORT_FINISHED,
        facts=f"NCA report {report.nca_reference} submitted; every NCA report drafted for this case is now submitted",
    )
