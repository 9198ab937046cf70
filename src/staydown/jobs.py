"""The job kinds this build of staydown runs, gathered in one registry, and the periodic ones."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown.actors import SYSTEM
from staydown.appeals.deadlines import APPEAL_DEADLINES, appeal_deadlines_job
from staydown.authorities.dsa18 import SEND_NOTIFICATION, send_notification_job
from staydown.authorities.file_requests import sweep_overdue
from staydown.authorities.nca import FILE_NCA_REPORT
from staydown.authorities.nca import file_report_job as file_nca_report_job
from staydown.authorities.ncmec import FILE_REPORT, file_report_job
from staydown.cases.actions import sweep_deadlines
from staydown.cases.models import Case
from staydown.cases.rules import DEFAULT_RULES
from staydown.db import now
from staydown.delivery.messages import SEND_MESSAGE, send_message_job
from staydown.delivery.outbox import JobContext, JobRegistry
from staydown.delivery.webhooks import DELIVER_WEBHOOK, deliver_webhook_job, deliver_webhooks_batch
from staydown.enforcement.bank_media import STAY_DOWN_BANK_MEDIA, bank_media_batch, bank_media_job
from staydown.enforcement.staydown import STAY_DOWN_SWEEP, sweep_job
from staydown.evidence.actions import purge_expired
from staydown.evidence.vault import vault_from_settings
from staydown.exchanges.actions import EXCHANGE_FETCH, EXCHANGES_SCHEDULE
from staydown.exchanges.actions import fetch_job as exchange_fetch_job
from staydown.exchanges.actions import schedule_job as exchanges_schedule_job
from staydown.exchanges.feedback import EXCHANGE_SUBMIT, EXCHANGES_CASE_DECIDED, case_decided_job, submit_job
from staydown.hma.actions import REENABLE_JOB as HMA_REENABLE
from staydown.hma.actions import reenable_job as hma_reenable_job
from staydown.intake import hash_submissions
from staydown.intake.models import NoticeItem
from staydown.matching.models import Scan
from staydown.matching.retention import purge_unmatched
from staydown.transparency.consistency import SAMPLE_JOB as CONSISTENCY_SAMPLE
from staydown.transparency.consistency import sample_job as consistency_sample_job
from staydown.transparency.tdb import TDB_SUBMIT_JOB, tdb_submit_job

SWEEP_DEADLINES = "cases:sweep_deadlines"

# (kind, every N seconds). Deadlines of one hour (terrorist-content orders) need a sweep that
# runs far more often than the time it leaves for escalation.
RETENTION = "retention:purge"
PERIODIC: tuple[tuple[str, int], ...] = ((SWEEP_DEADLINES, 60), (RETENTION, 3600))
# Appeals due soon or overdue alert the people who decide them (DSA-4, UK-3: 48 h expedited).
PERIODIC += ((APPEAL_DEADLINES, 300),)
# Pending statements of reasons go to the EU Transparency Database (DSA Art. 24(5)) every minute.
PERIODIC += ((TDB_SUBMIT_JOB, 60),)
# A share of decided cases gets a second reviewer's opinion for the consistency figures (#8 item 5).
PERIODIC += ((CONSISTENCY_SAMPLE, 3600),)
# Files a CyberTipline report asked the platform for and did not get in time alert child safety
# (deadlines of hours: five minutes late at most).
FILE_REQUESTS_OVERDUE = "ncmec:file_requests_overdue"
PERIODIC += ((FILE_REQUESTS_OVERDUE, 300),)
# Hash exchanges whose interval has passed get a fetch (one per exchange at a time: exchanges/).
PERIODIC += ((EXCHANGES_SCHEDULE, 60),)
# Bank items an HMA client disabled until a time match again once it has passed (a minute late at most).
PERIODIC += ((HMA_REENABLE, 60),)


def _retention(db: Session, ctx: JobContext) -> None:
    """Purge evidence past its retention that nothing holds, and the uploader data of scans that
    matched nothing once it is older than settings allow (EUI-4)."""
    settings = ctx.services["settings"]
    vault = ctx.services.get("vault") or vault_from_settings(settings)
    purge_expired(db, actor=SYSTEM, vault=vault)
    cutoff = now(db) - timedelta(days=settings.scan_retention_days)
    # An upload that passed the scan and was later reported as child sexual abuse is no longer a
    # non-match: its IP, port and time are what the CyberTipline report carries (CSAM-3).
    reported = _child_safety_content_ids()
    purge_unmatched(db, actor=SYSTEM, older_than=now(db) - timedelta(days=settings.unmatched_signal_retention_days))
    db.execute(
        sa.update(Scan)
        .where(
            Scan.verdict == "allow",
            Scan.scanned_at < cutoff,
            Scan.uploader_ip.is_not(None),
            sa.or_(Scan.content_id.is_(None), Scan.content_id.not_in(reported)),
        )
        .values(uploader_ip=None, uploader_port=None)
    )


def _child_safety_content_ids() -> sa.CompoundSelect[int | None]:
    in_case = sa.select(Case.content_id).where(Case.child_safety.is_(True), Case.content_id.is_not(None))
    reported = (
        sa.select(NoticeItem.content_id)
        .join(Case, Case.id == NoticeItem.case_id)
        .where(Case.child_safety.is_(True), NoticeItem.content_id.is_not(None))
    )
    return in_case.union(reported)


def _file_requests_overdue(db: Session, ctx: JobContext) -> None:
    sweep_overdue(db, actor=SYSTEM)


def _sweep_deadlines(db: Session, ctx: JobContext) -> None:
    sweep_deadlines(db, actor=SYSTEM, rules=ctx.services.get("case_rules", DEFAULT_RULES), read_committed_only=True)


def build_registry() -> JobRegistry:
    registry = JobRegistry()
    registry.register(SWEEP_DEADLINES, _sweep_deadlines)
    registry.register(SEND_MESSAGE, send_message_job)
    registry.register(RETENTION, _retention)
    registry.register(FILE_REPORT, file_report_job)
    registry.register(SEND_NOTIFICATION, send_notification_job)
    registry.register(FILE_NCA_REPORT, file_nca_report_job)
    registry.register(FILE_REQUESTS_OVERDUE, _file_requests_overdue)
    registry.register(DELIVER_WEBHOOK, deliver_webhook_job)
    registry.register_batch(DELIVER_WEBHOOK, deliver_webhooks_batch)
    registry.register(STAY_DOWN_SWEEP, sweep_job)
    registry.register(STAY_DOWN_BANK_MEDIA, bank_media_job)
    registry.register(hash_submissions.SWEEP_JOB, hash_submissions.sweep_job)
    registry.register_batch(STAY_DOWN_BANK_MEDIA, bank_media_batch)
    registry.register(APPEAL_DEADLINES, appeal_deadlines_job)
    registry.register(TDB_SUBMIT_JOB, tdb_submit_job)
    registry.register(CONSISTENCY_SAMPLE, consistency_sample_job)
    registry.register(EXCHANGES_SCHEDULE, exchanges_schedule_job)
    registry.register(EXCHANGE_FETCH, exchange_fetch_job)
    registry.register(EXCHANGES_CASE_DECIDED, case_decided_job)
    registry.register(EXCHANGE_SUBMIT, submit_job)
    registry.register(HMA_REENABLE, hma_reenable_job)
    return registry
