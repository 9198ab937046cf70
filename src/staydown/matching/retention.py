"""EUI-4: the hashes and scan records of uploads that matched nothing are not kept for ever.

Regulation (EU) 2021/1232 lets a provider keep data of voluntary detection only as long as
strictly necessary, and non-matches not at all. The stay-down sweep, though, finds the stored
copies of an item confirmed later by these very signals (X-5): purge them at once and a copy
uploaded yesterday of a picture confirmed today stays up. So they are kept for
`STAYDOWN_UNMATCHED_SIGNAL_RETENTION_DAYS` (90 by default: most reports and confirmations come
within weeks of an upload; later re-uploads are still blocked at scan by the bank, which is
independent of these signals) and then purged. Never purged: the signals of content that is in a
case (reported, detected, or acted on) or in the evidence vault, whatever its age.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit, sequences
from staydown.actors import Actor
from staydown.audit import AuditTag
from staydown.cases.models import Case
from staydown.enforcement.models import EnforcementAction
from staydown.evidence.models import EvidenceItem
from staydown.intake.models import NoticeItem
from staydown.matching.models import CONTENT_SIGNALS, ContentSignal, Scan


def _kept_content() -> Any:
    """Content that is a case's, or in one, or acted on, or in the vault: never purged here."""
    return sa.union(
        sa.select(Case.content_id).where(Case.content_id.is_not(None)),
        sa.select(NoticeItem.content_id).where(NoticeItem.content_id.is_not(None)),
        sa.select(EnforcementAction.content_id).where(EnforcementAction.content_id.is_not(None)),
        sa.select(EvidenceItem.content_id).where(EvidenceItem.content_id.is_not(None)),
    )


def purge_unmatched(db: Session, *, actor: Actor, older_than: datetime) -> dict[str, int]:
    """Purge the content signals of uploads whose every scan matched nothing and whose last scan
    is older than `older_than`, and clear those scans' hashes; audited with the counts."""
    last_scan = (
        sa.select(Scan.content_id)
        .where(Scan.content_id.is_not(None))
        .group_by(Scan.content_id)
        .having(sa.func.max(Scan.scanned_at) < older_than)
        .having(sa.func.sum(sa.case((Scan.verdict != "allow", 1), else_=0)) == 0)
    )
    kept = _kept_content()
    content_ids = list(db.execute(last_scan.where(Scan.content_id.not_in(kept))).scalars())
    if not content_ids:
        return {"contents": 0, "signals": 0, "scans": 0}
    signals = list(
        db.execute(
            sa.select(ContentSignal).where(ContentSignal.content_id.in_(content_ids), ContentSignal.purged.is_(False))
        ).scalars()
    )
    for row in signals:
        # A tombstone: the match indexes drop it when they pass its sequence number.
        row.purged = True
        sequences.touch(db, row, sequence=CONTENT_SIGNALS)
    scans = (
        cast(  # an UPDATE's result is a cursor result, which counts its rows
            "sa.CursorResult[Any]",
            db.execute(
                sa.update(Scan)
                .where(Scan.content_id.in_(content_ids))
                .values(signals={}, original_filename=None, uploader_ip=None, uploader_port=None)
                .execution_options(synchronize_session=False)
            ),
        ).rowcount
        or 0
    )
    counts = {"contents": len(content_ids), "signals": len(signals), "scans": int(scans)}
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.SCAN_PURGE,
        subject_type="retention",
        subject_id="scans",  # the run purges many rows: its subject is the scan table, not one row
        data={**counts, "older_than": older_than, "basis": "EUI-4: uploads that matched nothing"},
    )
    return counts
