"""Law-enforcement requests: preservation (extend holds), disclosure (recorded with its legal
process) and destruction (18 U.S.C. 2258B(c)(2), two people: carried out by the vault, through
flows.authorities). Legal role only; every one on the record."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import Actor, ActorKind
from staydown.audit import AuditTag
from staydown.authorities.models import LawEnforcementRequest, NcmecReport, NcmecReportFile
from staydown.db import now
from staydown.errors import InvalidInput, PermissionDenied, RuleViolation
from staydown.evidence.models import EvidenceItem
from staydown.evidence.vault import item_by_id, place_hold


def require_legal(actor: Actor) -> None:
    if actor.kind is not ActorKind.system and "law_enforcement:requests" not in actor.permissions:
        raise PermissionDenied("law-enforcement requests are handled by legal")


def record_preservation(
    db: Session,
    *,
    actor: Actor,
    agency: str,
    legal_process: str,
    reference: str,
    item_ids: list[int],
    until: datetime,
    case_id: int | None = None,
) -> LawEnforcementRequest:
    """E.g. an 18 U.S.C. 2703(f) letter: every named item is held until `until`."""
    require_legal(actor)
    if not item_ids:
        raise InvalidInput("a preservation request names what to preserve")
    request = LawEnforcementRequest(
        kind="preservation",
        agency=agency,
        legal_process=legal_process,
        reference=reference,
        case_id=case_id,
        item_ids=item_ids,
        received_at=now(db),
        recorded_by=actor.ref,
    )
    db.add(request)
    db.flush()
    for item_id in item_ids:
        place_hold(
            db,
            actor=actor,
            item=item_by_id(db, item_id),
            kind="preservation_request",
            basis=f"{agency}: {legal_process} ({reference})",
            until=until,
        )
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.LE_REQUEST,
        subject_type="law_enforcement_request",
        subject_id=request.id,
        data={"kind": "preservation", "agency": agency, "reference": reference, "items": item_ids, "until": until},
    )
    return request


def record_disclosure(
    db: Session,
    *,
    actor: Actor,
    agency: str,
    legal_process: str,
    reference: str,
    item_ids: list[int],
    outcome: str,
    case_id: int | None = None,
) -> LawEnforcementRequest:
    """A disclosure under legal process (CSAM-5): what was asked, under what, and what was given."""
    require_legal(actor)
    if len(legal_process.strip()) < 10:
        raise InvalidInput("record the legal process (warrant, subpoena, court order...) it rests on")
    request = LawEnforcementRequest(
        kind="disclosure",
        agency=agency,
        legal_process=legal_process,
        reference=reference,
        case_id=case_id,
        item_ids=item_ids,
        received_at=now(db),
        recorded_by=actor.ref,
        outcome=outcome,
    )
    db.add(request)
    db.flush()
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.LE_REQUEST,
        subject_type="law_enforcement_request",
        subject_id=request.id,
        data={"kind": "disclosure", "agency": agency, "reference": reference, "items": item_ids, "outcome": outcome},
    )
    return request


def refuse_if_reporting(db: Session, item: EvidenceItem) -> None:
    """A file in a CyberTipline report not yet finished is not destroyed: the duty to report comes
    first, and 2258B(c)(2) speaks of depictions already "provided under section 2258A"."""

    pending = (
        db.execute(
            sa.select(NcmecReport.id)
            .join(NcmecReportFile, NcmecReportFile.report_id == NcmecReport.id)
            .where(NcmecReportFile.evidence_item_id == item.id, NcmecReport.state.not_in(["finished", "retracted"]))
        )
        .scalars()
        .first()
    )
    if pending is not None:
        raise RuleViolation(
            f"evidence item {item.id} is part of CyberTipline report {pending}, which is not finished: "
            "file (or retract) the report first; its preservation hold then yields to this request"
        )
