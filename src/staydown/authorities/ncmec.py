"""From a confirmed case to a finished CyberTipline report: draft one report per reported user,
with everything known about each file and the file itself (asked of the platform when staydown
never held it, and waited for), have a child-safety reviewer confirm it, then file it through a
resumable, idempotent state machine that survives a crash at any step and never finishes the same
report twice (NCMEC-2, NCMEC-3). Drafting, and filing without a file, ask the platform for files
and settle those requests, so they run in flows.authorities."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import SYSTEM, Actor, ActorKind
from staydown.audit import AuditTag
from staydown.authorities import ncmec_xml as x
from staydown.authorities.models import NcmecReport, NcmecReportFile
from staydown.authorities.ncmec_client import CyberTiplineClient, NcmecRejected
from staydown.cases import tracks
from staydown.cases.models import TrackKind
from staydown.cases.queries import case_by_id
from staydown.db import now
from staydown.delivery.outbox import JobContext, enqueue
from staydown.errors import Conflict, PermissionDenied
from staydown.evidence.models import EvidenceItem
from staydown.evidence.vault import place_hold, read_item
from staydown.matching.models import Scan
from staydown.staff.permissions import Permission, require_staff_permission
from staydown.subjects.models import PlatformContent
from staydown.subjects.schemas import PUBLIC_VISIBILITIES, VISIBILITIES

FILE_REPORT = "ncmec:file"
# Registered as open only to some (the poster's followers, named recipients): not publicly available.
RESTRICTED_VISIBILITIES = frozenset(VISIBILITIES) - PUBLIC_VISIBILITIES - {"unknown"}
EVENT_NAMES = frozenset({"Login", "Registration", "Purchase", "Upload", "Other", "Unknown"})
MAX_URLS = 200


def require_reporter(actor: Actor) -> None:
    require_staff_permission(
        actor, Permission.NCMEC_REPORTS, "NCMEC reports are handled by child-safety specialists and legal"
    )


# -- what a report says about each file -----------------------------------------------------


def upload_scan(db: Session, content_id: int) -> Scan | None:
    """The scan of the upload itself: the first that recorded where or when it came from (a later
    rescan records neither), else the first."""
    scans = (
        db.execute(sa.select(Scan).where(Scan.content_id == content_id).order_by(Scan.scanned_at, Scan.id).limit(20))
        .scalars()
        .all()
    )
    return next((s for s in scans if s.uploader_ip or s.uploaded_at), scans[0] if scans else None)


def publicly_available(content: PlatformContent) -> bool | None:
    """True if the platform ever registered the content as open to anyone (public or unlisted),
    False if it registered it as restricted and never as open, None if it never said: then
    `publiclyAvailable` is left out of the report rather than guessed."""
    if content.public_since is not None:
        return True
    if content.visibility in RESTRICTED_VISIBILITIES:
        return False
    return None


def _ip(value: Any) -> str | None:
    try:
        return str(ipaddress.ip_address(str(value).strip())) if value else None
    except ValueError:
        return None


def _port(value: Any) -> int | None:
    # The platform's deposit context is free JSON: a port may come as a number or as digits.
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 5:
        value = int(value.strip())
    return value if type(value) is int and 1 <= value <= 65535 else None


def _when(value: Any) -> str | None:
    """An ISO time with a UTC offset, or None (the platform's context is free JSON)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return parsed.isoformat() if parsed.tzinfo is not None and parsed.utcoffset() is not None else None


def file_facts(db: Session, content: PlatformContent, item: EvidenceItem | None) -> dict[str, Any]:
    """What a report says about one file (NCMEC-3, CSAM-3), and where each fact came from: the scan
    of the upload first (staydown's own record, made when it happened), then the context the
    platform deposited with the file, then the content record. Nothing is filled in by guess."""
    scan = upload_scan(db, content.id)
    context = (item.context or {}) if item is not None else {}
    deposited = next((e for e in context.get("ip_capture") or [] if isinstance(e, dict) and _ip(e.get("ip"))), None)
    facts: dict[str, Any] = {
        "content_id": content.id,
        "content": content.platform_id,
        "content_url": content.url,
        "content_kind": content.kind,
        "visibility": content.visibility,
        "publicly_available": publicly_available(content),
        "sources": {},
    }
    sources = facts["sources"]
    uploaded_at = None
    if scan is not None and scan.uploaded_at is not None:
        uploaded_at, sources["uploaded_at"] = scan.uploaded_at.isoformat(), f"scan {scan.id}"
    elif _when(context.get("uploaded_at")):
        uploaded_at, sources["uploaded_at"] = _when(context.get("uploaded_at")), "the platform's deposit"
    elif content.created_at is not None:
        uploaded_at, sources["uploaded_at"] = content.created_at.isoformat(), "the content record"
    ip = port = ip_at = None
    if scan is not None and _ip(scan.uploader_ip):
        ip, port, ip_at, sources["ip"] = (
            _ip(scan.uploader_ip),
            _port(scan.uploader_port),
            uploaded_at,
            f"scan {scan.id}",
        )
    elif deposited is not None:
        ip, port, sources["ip"] = _ip(deposited.get("ip")), _port(deposited.get("port")), "the platform's deposit"
        ip_at = _when(deposited.get("at")) or uploaded_at
    signals = (scan.signals or {}) if scan is not None else {}
    md5, sha256, pdq = signals.get("md5"), signals.get("sha256"), signals.get("pdq")
    if md5 or sha256:
        sources["hashes"] = f"scan {scan.id}" if scan is not None else None
    elif item is not None:
        md5, sha256, sources["hashes"] = item.md5, item.sha256, f"evidence item {item.id}"
    same = None
    if item is not None and (signals.get("md5") or signals.get("sha256")):
        same = item.md5 == signals.get("md5") or item.sha256 == signals.get("sha256")
    original = (
        (scan.original_filename if scan is not None else None)
        or (item.original_filename if item is not None else None)
        or (context.get("original_filename") if isinstance(context.get("original_filename"), str) else None)
    )
    facts.update(
        {
            "evidence_item_id": item.id if item is not None else None,
            "original_filename": original[:300] if original else None,
            "uploaded_at": uploaded_at,
            "ip": ip,
            "port": port if ip else None,
            "ip_at": ip_at if ip else None,
            "md5": md5,
            "sha256": sha256,
            "pdq": pdq if isinstance(pdq, str) and len(pdq) == 64 else None,
            "same_as_upload": same,
            "held_since": item.created_at.isoformat() if item is not None else None,
        }
    )
    return facts


def _account_events(files: list[dict[str, Any]], items: list[EvidenceItem]) -> list[dict[str, Any]]:
    """The reported account's IP capture events: each file's upload, and any other events the
    platform deposited with its files (logins...), once each, at most 50."""
    events: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()

    def add(ip: str | None, port: int | None, at: str | None, event: str) -> None:
        key = (ip, port, at, event)
        if ip and key not in seen and len(events) < 50:
            seen.add(key)
            events.append({"ip": ip, "port": port, "at": at, "event": event})

    for f in files:
        add(f.get("ip"), f.get("port"), f.get("ip_at"), "Upload")
    for item in items:
        for e in (item.context or {}).get("ip_capture") or []:
            if isinstance(e, dict):
                name = str(e.get("event")) if e.get("event") in EVENT_NAMES else "Upload"
                add(_ip(e.get("ip")), _port(e.get("port")), _when(e.get("at")), name)
    return events


def plan_files(db: Session, report: NcmecReport) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    files, items = [], []
    for row in report.files:
        content = db.get(PlatformContent, row.content_id) if row.content_id else None
        item = db.get(EvidenceItem, row.evidence_item_id) if row.evidence_item_id else None
        if item is not None:
            items.append(item)
        facts: dict[str, Any] = (
            file_facts(db, content, item) if content is not None else {"evidence_item_id": row.evidence_item_id}
        )
        facts.update(
            {
                "row_id": row.id,
                "file_request_id": row.file_request_id,
                "viewed_by_esp": bool(item is not None and item.first_human_view_at is not None),
                "waived": row.waived_reason,
            }
        )
        files.append(facts)
    return files, _account_events(files, items)


def refresh_plan(db: Session, report: NcmecReport) -> None:
    """Read each file's facts again (a requested file may have arrived since the draft)."""
    files, events = plan_files(db, report)
    report.plan = {**report.plan, "files": files, "reported": {**report.plan["reported"], "ip_events": events}}


def waiting_files(report: NcmecReport) -> list[NcmecReportFile]:
    """Files the report still waits for: no vault item yet, and nobody decided to file without."""
    return [f for f in report.files if f.evidence_item_id is None and f.waived_at is None]


def confirm_report(db: Session, *, actor: Actor, report: NcmecReport) -> NcmecReport:
    """A child-safety reviewer confirms the draft; only then is it filed."""
    require_reporter(actor)
    if actor.kind is not ActorKind.staff or Permission.CHILD_SAFETY_CASES.value not in actor.permissions:
        raise PermissionDenied("a child-safety reviewer confirms a report before it is filed")
    if report.state != "draft":
        raise Conflict(f"report {report.id} is {report.state}, not a draft")
    report.state = "confirmed"
    report.confirmed_by = actor.ref
    report.confirmed_at = now(db)
    waiting = waiting_files(report)
    if not waiting:
        _enqueue_filing(db, report, "confirmed")
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.NCMEC_CONFIRM,
        subject_type="case",
        subject_id=report.case_id,
        data={"report_id": report.id, "awaiting_platform": len(waiting)},
    )
    return report


def _enqueue_filing(db: Session, report: NcmecReport, why: str) -> None:
    # One ordering key per report: two filing jobs of the same report never run at once, so a
    # report is never submitted twice by two workers.
    enqueue(
        db,
        kind=FILE_REPORT,
        payload={"report_id": report.id},
        idempotency_key=f"ncmec:file:{report.id}" if why == "confirmed" else f"ncmec:file:{report.id}:{why}",
        ordering_key=f"ncmec:{report.id}",
        max_attempts=200,
    )


def resume_when_ready(db: Session, *, report_id: int, reason: str) -> bool:
    """A file the report waited for arrived (or a specialist decided to file without it): a
    confirmed report with nothing left to wait for is filed, by itself."""
    report = db.get(NcmecReport, report_id)
    if report is None or report.state != "confirmed" or waiting_files(report):
        return False
    _enqueue_filing(db, report, reason)
    return True


# -- filing: a resumable state machine ---------------------------------------------------------


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def build_report(report: NcmecReport, settings: Any) -> Any:
    """The CyberTipline document for a report, from its stored plan and the provider's contact.
    Where the content is, is the address the platform gave; never staydown's own."""
    plan = report.plan
    reported = plan["reported"]
    when = datetime.fromisoformat(plan["incident"]["datetime"])
    events = [
        x.IpCaptureEvent(
            ip_address=e["ip"],
            event_name=x.IpEventName(e.get("event") or "Upload"),
            date_time=_time(e.get("at")),
            port=e.get("port"),
        )
        for e in reported.get("ip_events", [])
        if e.get("ip")
    ]
    files = plan["files"]
    urls = sorted({f["content_url"] for f in files if f.get("content_url")})[:MAX_URLS]
    unaddressed = sorted(
        {
            f"{f['content']} ({f.get('content_kind') or 'unknown kind'})"
            for f in files
            if f.get("content") and not f.get("content_url")
        }
    )
    where = None
    if unaddressed:
        # A web page incident may carry no URL; what identifies the content then is the
        # platform's own id, which law enforcement can ask the platform about.
        where = (
            (
                "Also reported, without an address from the platform: "
                if urls
                else "The platform gave no address for the reported content. "
            )
            + "the platform's content ids: "
            + ", ".join(unaddressed[:200])
        )
    without = [f for f in files if f.get("waived")]
    notes = [f"staydown report ref: {plan['ref']} (case {report.case_id}, report {report.id})"]
    if without:
        notes.append(
            "Reported without the file: "
            + "; ".join(f"content {f.get('content')}: {f['waived']}" for f in without[:50])
        )
    return x.Report(
        incident_summary=x.IncidentSummary(
            incident_type=x.IncidentType(plan["incident"]["type"]),
            incident_date_time=when,
            escalate_to_high_priority=(
                "a reviewer flagged that a child may be in imminent danger" if report.escalate else None
            ),
        ),
        reporter=x.Reporter(
            reporting_person=x.Person(
                first_name=settings.ncmec_reporter_first_name,
                last_name=settings.ncmec_reporter_last_name,
                emails=[settings.ncmec_reporter_email] if settings.ncmec_reporter_email else [],
                phones=[settings.ncmec_reporter_phone] if settings.ncmec_reporter_phone else [],
            )
        ),
        internet_details=[x.InternetDetails(kind="web_page", urls=urls, additional_info=where)],
        person_or_user_reported=x.ReportedPerson(
            esp_identifier=reported.get("esp_identifier"),
            screen_name=reported.get("screen_name"),
            ip_capture_events=events,
            account_permanently_disabled=x.AccountDisabled() if reported.get("disabled_permanently") else None,
            account_temporarily_disabled=x.AccountDisabled() if reported.get("disabled_temporarily") else None,
        ),
        additional_info="\n".join(notes),
    )


def build_file_details(report: NcmecReport, facts: dict[str, Any], *, file_id: str, viewed: bool) -> Any:
    """The `<fileDetails>` of one uploaded file: its name, upload time and address, whether it was
    publicly available (only when the platform said), its hashes as uploaded, and the upload's IP
    and port (NCMEC-3)."""
    hashes = [x.FileHash(kind, facts[key]) for kind, key in (("MD5", "md5"), ("SHA256", "sha256")) if facts.get(key)]
    metadata = [x.FileMetadata("PDQ", facts["pdq"], "HASH")] if facts.get("pdq") else []
    event = None
    if facts.get("ip"):
        event = x.IpCaptureEvent(
            ip_address=facts["ip"],
            event_name=x.IpEventName.UPLOAD,
            date_time=_time(facts.get("ip_at")),
            port=facts.get("port"),
        )
    info = [f"The platform's content id: {facts.get('content')}"]
    if facts.get("same_as_upload") is False:
        info.append(
            f"The file attached is the copy the platform held ({facts.get('held_since')}); it is not "
            "byte-identical to the upload as scanned, whose hashes are the originalFileHash values."
        )
    if facts.get("publicly_available") is None:
        info.append("Whether the file was publicly available is not known: the platform did not say.")
    assert report.ncmec_report_id is not None  # a file's details follow its upload to an opened report
    return x.FileDetails(
        report_id=report.ncmec_report_id,
        file_id=file_id,
        file_viewed_by_esp=viewed,
        original_file_name=facts.get("original_filename"),
        uploaded_to_esp_at=_time(facts.get("uploaded_at")),
        location_of_file=facts.get("content_url"),
        publicly_available=facts.get("publicly_available"),
        file_relevance=x.FileRelevance.REPORTED,
        original_file_hashes=hashes,
        ip_capture_event=event,
        metadata=metadata,
        additional_info=info,
    )


def _client(ctx: JobContext) -> Any:
    client = ctx.services.get("ncmec_client")
    if client is not None:
        return client

    settings = ctx.services["settings"]
    if not (settings.ncmec_url and settings.ncmec_username and settings.ncmec_password):
        raise RuntimeError(
            "NCMEC is not configured (STAYDOWN_NCMEC_URL, _USERNAME, _PASSWORD); the report "
            "stays queued and its track stays alarmed"
        )
    return CyberTiplineClient(
        settings.ncmec_url, settings.ncmec_username, settings.ncmec_password.get_secret_value(), timeout=60.0
    )


def _restart(db: Session, report: NcmecReport, why: str) -> None:
    """Start over with a fresh NCMEC report: the old one is never finished and NCMEC discards it."""
    report.plan = {
        **report.plan,
        "abandoned": [*report.plan.get("abandoned", []), {"report_id": report.ncmec_report_id, "why": why}],
    }
    report.plan.pop("submitted_xml", None)
    report.ncmec_report_id = None
    report.state = "confirmed"
    for f in report.files:
        f.ncmec_file_id = f.md5 = None
        f.uploaded_at = f.fileinfo_at = None
    db.commit()


def _skip_gone(db: Session, report: NcmecReport, row: NcmecReportFile, item: EvidenceItem | None) -> bool:
    """A vault item destroyed or purged after the draft is not uploaded; the report says so."""
    if item is not None and item.state == "stored":
        return False
    row.waived_reason = f"the vault's copy was {item.state if item else 'missing'} before it could be uploaded"
    row.waived_by = SYSTEM.ref
    row.waived_at = now(db)
    audit.record(
        db,
        actor=SYSTEM,
        tag=AuditTag.NCMEC_FILE_WAIVE,
        subject_type="case",
        subject_id=report.case_id,
        data={"report_id": report.id, "file": row.id, "reason": row.waived_reason},
    )
    return True


def file_report_job(db: Session, ctx: JobContext) -> None:
    """Submit -> upload each file -> fileinfo -> finish, committing after each step, so a crash
    at any point resumes where it stopped. An unknown outcome is reconciled as NCMEC's rules allow
    (see docs/ncmec-protocol.md): a lost submit is submitted again (the orphan expires unfinished),
    a lost upload restarts the report, a lost finish is asked again (5102 means it was filed).
    A report still waiting for a file from the platform is not started: NCMEC deletes a report
    nobody finishes within a day, so everything is gathered before `submit`."""
    report = db.get(NcmecReport, ctx.payload["report_id"])
    if report is None or report.state in ("finished", "retracted", "draft"):
        return
    if report.ncmec_report_id is None and waiting_files(report):
        return  # resumed by flows.authorities.receive_file or file_without
    settings = ctx.services["settings"]
    vault = ctx.services["vault"]
    client = _client(ctx)
    try:
        if report.ncmec_report_id is None:
            if not report.plan.get("submitted_xml"):
                refresh_plan(db, report)
            document = report.plan.get("submitted_xml") or x.report_xml(build_report(report, settings)).decode()
            # Kept before the call: a resubmission after an unknown outcome sends the same bytes.
            report.plan = {**report.plan, "submitted_xml": document}
            db.commit()
            report.ncmec_report_id = client.submit(document.encode())
            report.state = "submitted"
            report.submitted_at = now(db)
            audit.record(
                db,
                actor=SYSTEM,
                tag=AuditTag.NCMEC_SUBMIT,
                subject_type="case",
                subject_id=report.case_id,
                data={"report_id": report.id, "ncmec_report_id": report.ncmec_report_id},
            )
            db.commit()
        for f in report.files:
            if f.ncmec_file_id or f.evidence_item_id is None:
                continue
            if f.uploaded_at is not None:
                # We started this upload and never learned its file id: uploading again would file
                # it twice, so this NCMEC report is abandoned and a new one made.
                _restart(db, report, f"upload of evidence {f.evidence_item_id} had an unknown outcome")
                raise RuntimeError("restarting the report after an upload with an unknown outcome")
            item = db.get(EvidenceItem, f.evidence_item_id)
            if _skip_gone(db, report, f, item):
                db.commit()
                continue
            assert item is not None  # _skip_gone took every missing item
            data = read_item(
                db, actor=SYSTEM, vault=vault, item=item, purpose=f"filing CyberTipline report {report.ncmec_report_id}"
            )
            f.uploaded_at = now(db)
            db.commit()
            facts = _facts_of(report, f)
            upload = client.upload(report.ncmec_report_id, facts.get("original_filename") or f"file-{item.id}", data)
            f.ncmec_file_id, f.md5 = upload.file_id, upload.md5
            audit.record(
                db,
                actor=SYSTEM,
                tag=AuditTag.NCMEC_UPLOAD,
                subject_type="case",
                subject_id=report.case_id,
                data={"report_id": report.id, "file_id": upload.file_id, "evidence_item_id": item.id},
            )
            db.commit()
        for f in report.files:
            if f.fileinfo_at or not f.ncmec_file_id:
                continue
            item = db.get(EvidenceItem, f.evidence_item_id)
            # NCMEC-3: true only when a person's audited view of this very file exists.
            viewed = item is not None and item.first_human_view_at is not None
            f.viewed_by_esp = viewed
            client.file_info(build_file_details(report, _facts_of(report, f), file_id=f.ncmec_file_id, viewed=viewed))
            f.fileinfo_at = now(db)
            db.commit()
        try:
            receipt = client.finish(report.ncmec_report_id)
            receipt_data = {
                "report_id": receipt.report_id,
                "file_ids": list(receipt.file_ids),
                "raw": receipt.raw.decode(errors="replace"),
            }
        except NcmecRejected as exc:
            if exc.code == x.ResponseCode.REPORT_ALREADY_FINISHED:
                receipt_data = {
                    "report_id": report.ncmec_report_id,
                    "file_ids": [f.ncmec_file_id for f in report.files if f.ncmec_file_id],
                    "raw": None,
                    "note": "finish confirmed on retry (5102): the first answer was lost",
                }
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
        item = db.get(EvidenceItem, f.evidence_item_id) if f.evidence_item_id else None
        if item is not None and item.state == "stored" and f.ncmec_file_id:
            place_hold(
                db,
                actor=SYSTEM,
                item=item,
                kind="ncmec_report",
                starts_at=when,
                until=when + timedelta(days=settings.ncmec_report_hold_days),
                basis=f"CyberTipline report {report.ncmec_report_id} (18 U.S.C. 2258A(h))",
            )
    _meet_ncmec_track(db, report)
    audit.record(
        db,
        actor=SYSTEM,
        tag=AuditTag.NCMEC_FINISH,
        subject_type="case",
        subject_id=report.case_id,
        data={
            "report_id": report.id,
            "ncmec_report_id": report.ncmec_report_id,
            "files": len([f for f in report.files if f.ncmec_file_id]),
            "without_file": len([f for f in report.files if f.waived_at]),
            "confirmed_by": report.confirmed_by,
        },
    )


def _facts_of(report: NcmecReport, row: NcmecReportFile) -> dict[str, Any]:
    return next((f for f in report.plan.get("files", []) if f.get("row_id") == row.id), {})


def _meet_ncmec_track(db: Session, report: NcmecReport) -> None:
    """The track is met by finished reports only: when every report drafted for the case is
    finished (a retracted one was replaced or withdrawn on the record). A report still waiting
    for a file from the platform is not finished, so it keeps the track open and alarmed."""
    reports = db.execute(
        sa.select(NcmecReport.id, NcmecReport.state, NcmecReport.ncmec_report_id).where(
            NcmecReport.case_id == report.case_id
        )
    ).all()
    if any(r.state not in ("finished", "retracted") for r in reports if r.id != report.id):
        return
    filed = sorted(r.ncmec_report_id for r in reports if r.state == "finished" and r.ncmec_report_id)
    case = case_by_id(db, report.case_id)
    tracks.meet_kind(
        db,
        actor=SYSTEM,
        case=case,
        kind=TrackKind.ncmec.value,
        resolution=tracks.REPORT_FINISHED,
        facts="CyberTipline report(s) finished: " + ", ".join(str(n) for n in filed),
    )
