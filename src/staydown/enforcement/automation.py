"""Whether an action came from automated detection and an automated decision: one rule, applied
when the action is made, so that the action row is the one source the pull feed and webhooks,
the statement of reasons, the Transparency Database and the report all read (DSA Art. 17(3)(c),
Art. 15(1)(e))."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown.cases.models import Case
from staydown.intake.models import Notice, NoticeItem, NoticeKind


def detected_cases(db: Session, case_ids: Iterable[int | None]) -> set[int]:
    """The cases a scan detection (a bank match at upload) opened or joined: their content was
    detected by automated means, whoever decides them afterwards."""
    ids = sorted({c for c in case_ids if c})
    if not ids:
        return set()
    # Read once per transaction and case (a sweep applies its copies one chunk at a time); a
    # notice that joins later in the transaction raises the case's notice count, so it is seen.
    txn = db.get_transaction()
    entry: tuple[Any, dict[tuple[int, int], bool]] | None = db.info.get(_CACHE)
    if entry is None or entry[0] is not txn:
        entry = (txn, {})
        db.info[_CACHE] = entry
    keys = {c: (c, getattr(db.get(Case, c), "notice_count", 0)) for c in ids}
    missing = [c for c in ids if keys[c] not in entry[1]]
    if missing:
        found = _detected(db, missing)
        for c in missing:
            entry[1][keys[c]] = c in found
    return {c for c in ids if entry[1][keys[c]]}


_CACHE = "staydown.automation.detected"


def _detected(db: Session, ids: list[int]) -> set[int]:
    found = db.execute(
        sa.select(NoticeItem.case_id)
        .join(Notice, Notice.id == NoticeItem.notice_id)
        .where(NoticeItem.case_id.in_(ids), Notice.kind == NoticeKind.detection.value)
        .distinct()
    ).scalars()
    return {c for c in found if c is not None}  # none is: the ids asked for


def flags(spec: dict[str, Any], detected: set[int]) -> tuple[bool, bool]:
    """(automated detection, automated decision) of one action about to be applied.

    Detection: the caller says so (a match, a sweep), or the action is a copy a sweep found, or its
    case came from a scan detection. Decision: the caller says so (a policy that decides confirmed
    matches alone, a sweep), or it is an interim restriction, which a rule imposes the moment a
    report or a hold arrives, before any person looks."""
    details = spec.get("details") or {}
    detection = bool(
        spec.get("automated_detection") or details.get("copy_of_case") or (spec.get("case_id") in detected)
    )
    decision = bool(spec.get("automated_decision") or spec.get("interim"))
    return detection, decision
