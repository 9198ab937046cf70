"""What we tell the partners: a reviewed match's outcome (seen, true or false positive) on the
exchange it came from, and our confirmed hashes shared out once legal approved; each from the outbox."""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session
from threatexchange.exchanges.clients.ncmec import hash_api as ncmec
from threatexchange.exchanges.clients.stopncii import api as stopncii
from threatexchange.signal_type.md5 import VideoMD5Signal
from threatexchange.signal_type.pdq.signal import PdqSignal

from staydown import audit
from staydown.actors import SYSTEM, Actor, ActorKind
from staydown.audit import AuditTag
from staydown.cases.models import Case
from staydown.db import get_or_404, now
from staydown.delivery.outbox import JobContext, enqueue
from staydown.errors import Conflict, InvalidInput, PermissionDenied
from staydown.exchanges.actions import _describe, _keys, credentials_for, exchange_actor
from staydown.exchanges.kinds import Kind, Opinion, Unsupported, kind_of
from staydown.exchanges.models import Exchange, ExchangeRecord, ExchangeSignal, ExchangeSubmission
from staydown.intake.models import NoticeItem
from staydown.matching.models import BankEntry, Scan
from staydown.staff.permissions import Permission

EXCHANGES_CASE_DECIDED = "exchanges:case_decided"
EXCHANGE_SUBMIT = "exchanges:submit"
MAX_ERROR = 2000


# -- report back: triggered by a review's outcome ------------------------------------------------


def queue_case_feedback(db: Session, *, case_id: int, decision_id: int, outcome: str) -> None:
    """Called where a case's decision becomes effective: the job, after commit, finds the case's
    matches against exchange-fed banks and reports the outcome to each partner. Nothing is queued
    when no exchange is configured."""
    if outcome not in ("violates", "does_not_violate"):
        return
    if db.execute(sa.select(Exchange.id).where(Exchange.report_back.is_(True)).limit(1)).first() is None:
        return
    enqueue(
        db,
        kind=EXCHANGES_CASE_DECIDED,
        payload={"case_id": case_id, "decision_id": decision_id, "outcome": outcome},
        idempotency_key=f"exchanges:decided:{decision_id}",
    )


def matched_entry_ids(db: Session, case_id: int) -> set[int]:
    """Bank entries the scans of a case's content matched."""
    case = db.get(Case, case_id)
    if case is None:
        return set()
    content_ids = {case.content_id} if case.content_id is not None else set()
    content_ids |= {
        c
        for c in db.execute(
            sa.select(NoticeItem.content_id).where(NoticeItem.case_id == case_id, NoticeItem.content_id.is_not(None))
        ).scalars()
        if c is not None  # as the query says
    }
    found: set[int] = set()
    if content_ids:
        for matches in db.execute(sa.select(Scan.matches).where(Scan.content_id.in_(content_ids))).scalars():
            found.update(int(m["entry_id"]) for m in matches or [] if m.get("entry_id") is not None)
    return found


def case_decided_job(db: Session, ctx: JobContext) -> None:
    opinion = Opinion.true_positive if ctx.payload["outcome"] == "violates" else Opinion.false_positive
    entry_ids = matched_entry_ids(db, ctx.payload["case_id"])
    if not entry_ids:
        return
    # A match through a bank-side variant points at its original, which is the partner's signal.
    originals = {
        e.parent_id or e.id for e in db.execute(sa.select(BankEntry).where(BankEntry.id.in_(entry_ids))).scalars()
    }
    rows = db.execute(
        sa.select(ExchangeSignal, Exchange)
        .join(Exchange, Exchange.id == ExchangeSignal.exchange_id)
        .where(ExchangeSignal.bank_entry_id.in_(originals), Exchange.report_back.is_(True))
    ).all()
    for signal, exchange in rows:
        kind = kind_of(exchange.api)
        for wanted in (Opinion.seen, opinion) if Opinion.seen in kind.feedback else (opinion,):
            _queue(
                db,
                exchange=exchange,
                kind="feedback",
                opinion=wanted,
                bank_entry_id=signal.bank_entry_id,
                record_id=signal.record_id,
                case_id=ctx.payload["case_id"],
                requested_by=SYSTEM.ref,
                state="queued" if wanted in kind.feedback else "unsupported",
            )


def _queue(
    db: Session,
    *,
    exchange: Exchange,
    kind: str,
    opinion: Opinion,
    bank_entry_id: int,
    record_id: int | None,
    case_id: int | None,
    requested_by: str,
    state: str,
) -> ExchangeSubmission:
    existing = db.execute(
        sa.select(ExchangeSubmission).where(
            ExchangeSubmission.exchange_id == exchange.id,
            ExchangeSubmission.kind == kind,
            ExchangeSubmission.bank_entry_id == bank_entry_id,
            ExchangeSubmission.opinion == opinion.value,
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing  # told once per signal and opinion, whichever case saw it
    submission = ExchangeSubmission(
        exchange_id=exchange.id,
        kind=kind,
        opinion=opinion.value,
        bank_entry_id=bank_entry_id,
        record_id=record_id,
        case_id=case_id,
        state=state,
        requested_by=requested_by,
        created_at=now(db),
    )
    db.add(submission)
    db.flush()
    if state == "queued":
        _enqueue_submit(db, submission)
    return submission


def _enqueue_submit(db: Session, submission: ExchangeSubmission) -> None:
    enqueue(
        db,
        kind=EXCHANGE_SUBMIT,
        payload={"submission_id": submission.id},
        idempotency_key=f"exchanges:submission:{submission.id}",
        ordering_key=f"exchange-out:{submission.exchange_id}",
        max_attempts=10,
    )


# -- share out: our confirmed hashes, with legal's approval -----------------------------------------


def propose_share(
    db: Session, *, actor: Actor, exchange: Exchange, entry: BankEntry, case_id: int | None = None
) -> ExchangeSubmission:
    """Ask to share a hash of an item confirmed here with a partner. Nothing leaves until a person
    with legal's approval (`exchanges:share`) approves it."""
    kind = kind_of(exchange.api)
    if not kind.share:
        raise InvalidInput(f"{kind.title} does not take hashes from us through this library")
    if entry.bank_id == exchange.bank_id:
        raise InvalidInput("this entry came from the same exchange; sharing it back would echo the partner's own list")
    if not entry.enabled or entry.parent_id is not None:
        raise InvalidInput("only an enabled original entry (not a variant) can be shared")
    if entry.source_case_id is None and case_id is None:
        raise InvalidInput("only hashes of items confirmed on this platform are shared: the entry names no case")
    submission = _queue(
        db,
        exchange=exchange,
        kind="share",
        opinion=Opinion.true_positive,
        bank_entry_id=entry.id,
        record_id=None,
        case_id=case_id or entry.source_case_id,
        requested_by=actor.ref,
        state="awaiting_approval",
    )
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.EXCHANGE_SHARE_PROPOSE,
        subject_type="exchange",
        subject_id=exchange.id,
        data={
            "submission_id": submission.id,
            "bank_entry_id": entry.id,
            "signal_type": entry.signal_type,
            "signal": entry.signal,
            "case_id": submission.case_id,
        },
    )
    return submission


def approve_share(db: Session, *, actor: Actor, submission: ExchangeSubmission) -> ExchangeSubmission:
    if actor.kind is not ActorKind.staff or Permission.EXCHANGES_SHARE.value not in actor.permissions:
        raise PermissionDenied("sharing a hash out needs legal's approval (the 'exchanges:share' permission)")
    if submission.kind != "share":
        raise InvalidInput(f"submission {submission.id} is feedback, which needs no approval")
    if submission.state != "awaiting_approval":
        raise Conflict(f"submission {submission.id} is {submission.state}, not awaiting approval")
    submission.state = "queued"
    submission.approved_by = actor.ref
    submission.approved_at = now(db)
    _enqueue_submit(db, submission)
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.EXCHANGE_SHARE_APPROVE,
        subject_type="exchange",
        subject_id=submission.exchange_id,
        data={"submission_id": submission.id, "bank_entry_id": submission.bank_entry_id},
    )
    return submission


def submission_by_id(db: Session, submission_id: int) -> ExchangeSubmission:
    return get_or_404(db, ExchangeSubmission, submission_id, "exchange submission")


SHARE_STATES = ("awaiting_approval", "queued", "sent", "refused", "unsupported")


def shares(
    db: Session,
    *,
    exchange: Exchange | None = None,
    state: str | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[tuple[ExchangeSubmission, Exchange, BankEntry]]:
    """Shares out, newest first, with their exchange and the entry they would send: what legal
    reads before approving, and what was sent."""
    if state is not None and state not in SHARE_STATES:
        raise InvalidInput(f"unknown state {state!r}; expected one of {', '.join(SHARE_STATES)}")
    query = (
        sa.select(ExchangeSubmission, Exchange, BankEntry)
        .join(Exchange, Exchange.id == ExchangeSubmission.exchange_id)
        .join(BankEntry, BankEntry.id == ExchangeSubmission.bank_entry_id)
        .where(ExchangeSubmission.kind == "share")
    )
    if exchange is not None:
        query = query.where(ExchangeSubmission.exchange_id == exchange.id)
    if state is not None:
        query = query.where(ExchangeSubmission.state == state)
    if before_id is not None:
        query = query.where(ExchangeSubmission.id < before_id)
    return [tuple(row) for row in db.execute(query.order_by(ExchangeSubmission.id.desc()).limit(limit)).all()]  # type: ignore[misc]


# -- sending --------------------------------------------------------------------------------------


def submit_job(db: Session, ctx: JobContext) -> None:
    """Send one submission with the library's client. A refusal is kept on the submission; a
    network error or a 5xx is retried by the outbox."""
    submission = db.get(ExchangeSubmission, ctx.payload["submission_id"])
    if submission is None or submission.state != "queued":
        return
    exchange = db.get(Exchange, submission.exchange_id)
    entry = db.get(BankEntry, submission.bank_entry_id)
    assert exchange is not None and entry is not None
    kind = kind_of(exchange.api)
    record = db.get(ExchangeRecord, submission.record_id) if submission.record_id else None
    signal = db.execute(
        sa.select(ExchangeSignal).where(
            ExchangeSignal.record_id == submission.record_id, ExchangeSignal.bank_entry_id == entry.id
        )
    ).scalar_one_or_none()
    settings = ctx.services["settings"]
    api = kind.build(
        exchange.name, exchange.config, credentials_for(exchange, settings=settings, keys=_keys(ctx.services))
    )
    db.commit()  # the call below runs outside any transaction
    try:
        if submission.kind == "share":
            _share(kind, api, exchange, entry)
        else:
            _feedback(kind, api, Opinion(submission.opinion), entry, record, signal)
    except Unsupported as exc:
        submission.state, submission.error = "unsupported", str(exc)[:MAX_ERROR]
        return
    except requests.HTTPError as exc:
        _, message = _describe(kind, exc, exchange.name)
        status = exc.response.status_code if exc.response is not None else 0
        if status >= 500 or status == 429:
            submission.error = message[:MAX_ERROR]
            db.commit()
            raise
        submission.state, submission.error = "refused", message[:MAX_ERROR]
        return
    submission.state = "sent"
    submission.sent_at = now(db)
    submission.error = None
    tag = AuditTag.EXCHANGE_SHARE_SEND if submission.kind == "share" else AuditTag.EXCHANGE_FEEDBACK
    audit.record(
        db,
        actor=exchange_actor(exchange),
        tag=tag,
        subject_type="exchange",
        subject_id=exchange.id,
        data={
            "submission_id": submission.id,
            "opinion": submission.opinion,
            "case_id": submission.case_id,
            "bank_entry_id": entry.id,
            "record": record.record_key if record else None,
        },
    )


def _feedback(
    kind: Kind,
    api: t.Any,
    opinion: Opinion,
    entry: BankEntry,
    record: ExchangeRecord | None,
    signal: ExchangeSignal | None,
) -> None:
    if record is None or signal is None:
        raise Unsupported("the partner's record of this signal is gone")
    meta = record.meta
    if kind.api == "ncmec":
        if opinion is Opinion.seen:
            raise Unsupported("NCMEC's hash sharing API takes upvotes and downvotes, not 'seen'")
        client = api.get_client(api.collab.environment)
        client.submit_feedback(
            int(meta["member_id"]),
            str(meta["id"]),
            ncmec.FingerprintType(signal.partner_type),
            ncmec.FeedbackType.upvote if opinion is Opinion.true_positive else ncmec.FeedbackType.downvote,
        )
        return
    if kind.api == "stopncii":
        value = {
            Opinion.seen: stopncii.StopNCIICSPFeedbackValue.PendingReview,
            Opinion.true_positive: stopncii.StopNCIICSPFeedbackValue.Blocked,
            Opinion.false_positive: stopncii.StopNCIICSPFeedbackValue.NotBlocked,
        }[opinion]
        try:
            api.api.submit_feedback(stopncii.StopNCIISignalType(signal.partner_type), entry.signal, value)
        except ValueError as exc:  # the client has no function key for SubmitFeedback
            raise Unsupported(f"StopNCII feedback needs a feedback_function_key in the credentials ({exc})") from None
        return
    if kind.api == "fb_threatexchange":
        reaction = {
            Opinion.seen: "SAW_THIS_TOO",
            Opinion.true_positive: "HELPFUL",
            Opinion.false_positive: "NOT_HELPFUL",
        }[opinion]
        descriptors = [
            o["descriptor_id"]
            for o in meta.get("opinions", [])
            if o.get("descriptor_id") not in (None, -1) and not o.get("is_mine")
        ]
        if not descriptors:
            raise Unsupported("no one else's descriptor to react to")
        for descriptor in descriptors:
            _, error, body = api.client.react_to_threat_descriptor(descriptor, reaction)
            _raise_graph_error(error, body)
        return
    raise Unsupported(f"{kind.title} takes no feedback")


def _share(kind: Kind, api: t.Any, exchange: Exchange, entry: BankEntry) -> None:
    tx_type = {"pdq": PdqSignal, "md5": VideoMD5Signal}.get(entry.signal_type)
    if tx_type is None:
        raise Unsupported(f"{entry.signal_type} signals are not shared through threatexchange")
    if kind.api == "file":
        # threatexchange 1.2.17's LocalFileSignalExchangeAPI.report_opinion opens the file with mode
        # "wta", which Python refuses; the line it means to append is written here, in the format
        # its fetch reads (`signal_type signal`).
        path = Path(api.collab.filename)
        if not path.is_file():
            raise Unsupported(f"the hash list {path} is not a local file we can append to")
        text = path.read_text()
        with path.open("a") as handle:
            handle.write(("" if not text or text.endswith("\n") else "\n") + f"{tx_type.get_name()} {entry.signal}\n")
        return
    if kind.api == "fb_threatexchange":
        params = {
            "indicator": entry.signal,
            "type": {"pdq": "HASH_PDQ", "md5": "HASH_MD5"}[entry.signal_type],
            "description": f"confirmed by {exchange.name}'s platform under its policy",
            "share_level": "AMBER",
            "status": "MALICIOUS",
            "privacy_type": "HAS_PRIVACY_GROUP",
            "privacy_members": str(exchange.config["privacy_group"]),
        }
        message, error, body = api.client.upload_threat_descriptor(params, False, False)
        if message:
            raise Unsupported(str(message))
        _raise_graph_error(error, body)
        return
    raise Unsupported(f"{kind.title} does not take hashes from us through this library")


def _raise_graph_error(error: t.Any, body: t.Any) -> None:
    if error is not None or (isinstance(body, dict) and body.get("error")):
        detail = body.get("error") if isinstance(body, dict) else body
        response = requests.Response()
        response.status_code = 400
        response._content = json.dumps({"error": detail}, default=str).encode()
        raise requests.HTTPError(f"ThreatExchange refused: {detail}", response=response)
