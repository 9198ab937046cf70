"""Pictures fingerprinted on the person's own device, sent as hashes only (TID-1, TID-3, X-5).

A person whose intimate images were shared, or a parent whose child's abuse circulates, should
never have to send the picture again. The public page (web/public/ondevice.py) hashes each picture
in the browser (static/ondevice/: PDQ bit for bit as pdqhash computes it, its 8 rotated and mirrored
forms, MD5, SHA-256) and sends only those hashes with the declaration. Here:

* `submit_pictures` files the notice (a TAKE IT DOWN request, or a child-safety report, through the
  ordinary intake: the hashes locate the images, TID-1) and puts the hashes into a bank of their
  own, provenance victim-submitted and unverified. The bank's action is `hold`: a later upload
  that matches is kept out of distribution and goes to review, never blocked or acted on alone,
  since anyone could send the hash of a picture they want censored.
* `sweep_submission` (a job) searches every stored copy at once; each one found joins the request
  as an item, so it reaches review in its own case with the TAKE IT DOWN clock running from the
  request's receipt (intake.batch.attach_items, cases.tracks).
* `verify_from_decision`: once a reviewer confirms a first match from the submission, its hashes
  go into the platform's own bank for the policy (`own-POLICY`: confirmed material), so that from
  then on matches act as the policy says, like any confirmed item's.
* `withdraw`: with the request's tracking code the person withdraws it; every hash is disabled
  (never deleted) and the sweep's result stays on the record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import SYSTEM, Actor
from staydown.audit import AuditTag
from staydown.cases.models import Case
from staydown.cases.queries import case_contents
from staydown.cases.rules import DEFAULT_RULES, CaseRules
from staydown.db import get_or_404, now
from staydown.delivery.outbox import JobContext, enqueue
from staydown.enforcement.own_banks import own_bank
from staydown.errors import InvalidInput
from staydown.i18n import N_
from staydown.i18n import gettext as _
from staydown.intake import actions as intake
from staydown.intake import batch
from staydown.intake.models import HashSubmission, HashSubmissionState, Notice, NoticeItem
from staydown.intake.schemas import NoticeIn, NoticeItemIn
from staydown.matching import banks
from staydown.matching.matcher import copies_of_entries
from staydown.matching.models import Bank, BankEntry, Scan
from staydown.media.hashing import DIHEDRAL_NAMES, PDQ_MIN_ACTIONABLE_QUALITY
from staydown.policies.catalogue import Catalogue
from staydown.policies.schema import Policy
from staydown.subjects.models import PlatformContent

# Pictures in one request: enough for a person's set of pictures, small enough that one request
# cannot fill a bank (and that the form stays under the public forms' size limit).
MAX_PICTURES = 40
# A flat or nearly empty picture (one colour, a blank page) has a PDQ that meets many unrelated
# pictures: refused, in the browser and here. The same line as for acting on any PDQ alone.
MIN_QUALITY = PDQ_MIN_ACTIONABLE_QUALITY
# A PDQ sets one bit per coefficient above the median of 256: 128 bits, fewer only with ties,
# which a picture of this quality does not have. A hash far from that is not of a picture.
MIN_BITS_SET, MAX_BITS_SET = 100, 128
# Requests a minute from one address (the pages' own limit is for forms of one item each).
RATE_PER_MINUTE = 3
VARIANT_NAMES = DIHEDRAL_NAMES[1:]
SWEEP_JOB = "hash_submission:sweep"
WITHDRAWN_REASON = "withdrawn by the person who sent them, with the request's tracking code"

_HEX = re.compile(r"^[0-9a-f]+$")


@dataclass(frozen=True)
class PictureHashes:
    """What the browser computed for one picture: nothing else about it ever leaves the device."""

    quality: int
    pdq: str
    md5: str
    sha256: str
    variants: tuple[tuple[str, str], ...]  # (DIHEDRAL_NAMES[1:] name, pdq)


def _hex(value: str, length: int, what: str, n: int) -> str:
    if len(value) != length or not _HEX.match(value):
        raise InvalidInput(
            _(
                "picture %(n)s: the %(what)s is not %(length)s hexadecimal characters; hash it again on the page",
                n=n,
                what=_(what),
                length=length,
            )
        )
    return value


def parse_pictures(text: str) -> list[PictureHashes]:
    """The page's hidden field: one line per picture, `quality pdq md5 sha256` and the 7 rotated and
    mirrored PDQs in DIHEDRAL_NAMES order. Every refusal names the picture and what to do."""
    lines = [line.split() for line in (text or "").strip().splitlines() if line.strip()]
    if not lines:
        raise InvalidInput(_("choose at least one picture and wait until its fingerprint is ready"))
    if len(lines) > MAX_PICTURES:
        raise InvalidInput(
            _("one request takes at most %(max)s pictures; send the others in a second request", max=MAX_PICTURES)
        )
    out: list[PictureHashes] = []
    seen: set[str] = set()
    for n, parts in enumerate(lines, start=1):
        if len(parts) != 4 + len(VARIANT_NAMES):
            raise InvalidInput(_("picture %(n)s: its fingerprint is incomplete; hash it again on the page", n=n))
        quality_text, pdq, md5, sha256, *variants = (p.lower() for p in parts)
        if not quality_text.isdigit() or int(quality_text) > 100:
            raise InvalidInput(_("picture %(n)s: the quality is a whole number from 0 to 100", n=n))
        quality = int(quality_text)
        _hex(pdq, 64, N_("PDQ"), n)
        _hex(md5, 32, N_("MD5"), n)
        _hex(sha256, 64, N_("SHA-256"), n)
        for v in variants:
            _hex(v, 64, N_("PDQ of a turned or mirrored copy"), n)
        if quality < MIN_QUALITY or not MIN_BITS_SET <= int(pdq, 16).bit_count() <= MAX_BITS_SET:
            raise InvalidInput(
                _(
                    "picture %(n)s is too plain to fingerprint reliably (quality %(quality)s of 100, at least %(min)s "
                    "is needed): a flat or nearly empty picture would match many other pictures. Leave it out",
                    n=n,
                    quality=quality,
                    min=MIN_QUALITY,
                )
            )
        if sha256 in seen:
            continue  # the same file chosen twice (a folder and a single pick): one entry
        seen.add(sha256)
        out.append(PictureHashes(quality, pdq, md5, sha256, tuple(zip(VARIANT_NAMES, variants, strict=True))))
    return out


def notice_without_items(**fields: Any) -> NoticeIn:
    """A NoticeIn whose fields are validated as any notice's, naming no item: its pictures are
    identified by hashes (`submit_pictures`). Raises pydantic's ValidationError like NoticeIn."""
    checked = NoticeIn(items=[NoticeItemIn(url="https://hashes.invalid/")], **fields)
    return checked.model_copy(update={"items": []})


def submit_pictures(
    db: Session,
    *,
    actor: Actor,
    notice: NoticeIn,
    pictures: list[PictureHashes],
    catalogue: Catalogue,
    rules: CaseRules = DEFAULT_RULES,
    engine: Any = None,
    client: dict[str, Any] | None = None,
) -> tuple[intake.Receipt, HashSubmission]:
    """File the notice, bank its pictures' hashes (held for review, unverified) and queue the
    sweep of stored copies. The notice's tracking code withdraws the submission."""
    if not pictures:
        raise InvalidInput(_("choose at least one picture and wait until its fingerprint is ready"))
    receipt = intake.submit_notice(
        db, actor=actor, notice=notice, catalogue=catalogue, rules=rules, engine=engine, hashed_pictures=len(pictures)
    )
    stored = receipt.notice
    policy = batch.resolve_policy(catalogue, notice)
    bank = banks.create_bank(
        db,
        actor=actor,
        name=f"submitted-{stored.id}",
        source="take_it_down",
        policy_id=policy.id,
        action_on_match="hold",
        confirmed_material=False,
        permitted_purpose=(
            "hold for review uploads that match pictures the person shown (or someone acting for "
            "them) fingerprinted on their own device, and find stored copies for review; "
            "unverified, never acted on without a person"
        ),
        description=f"victim-submitted, unverified: hashes sent with notice {stored.id}",
    )
    note = f"victim-submitted with notice {stored.id}"
    entries: list[banks.NewEntry] = []
    for n, picture in enumerate(pictures, start=1):
        original = banks.NewEntry("pdq", picture.pdq, f"{note}, picture {n}", quality=picture.quality)
        entries.append(original)
        entries += [
            banks.NewEntry("pdq", pdq, f"{note}, picture {n}", variant=name, quality=picture.quality, parent=original)
            for name, pdq in picture.variants
            if pdq != picture.pdq
        ]
        entries += [
            banks.NewEntry("md5", picture.md5, f"{note}, picture {n}", parent=original),
            banks.NewEntry("sha256", picture.sha256, f"{note}, picture {n}", parent=original),
        ]
    added = banks.add_entries(db, actor=actor, bank=bank, entries=entries, source_ref=source_ref(stored.id))
    submission = HashSubmission(
        notice_id=stored.id,
        bank_id=bank.id,
        state=HashSubmissionState.active.value,
        pictures=len(pictures),
        client=dict(client or {}),
        created_at=now(db),
        sweep={},
    )
    db.add(submission)
    db.flush()
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.HASH_SUBMISSION_RECEIVE,
        subject_type="hash_submission",
        subject_id=submission.id,
        data={
            "notice_id": stored.id,
            "bank": bank.name,
            "pictures": len(pictures),
            "signals": added.added,
            "policy_id": policy.id,
        },
    )
    enqueue(
        db,
        kind=SWEEP_JOB,
        payload={"submission_id": submission.id},
        idempotency_key=f"hash_submission:sweep:{submission.id}",
    )
    return receipt, submission


def source_ref(notice_id: int) -> str:
    return f"hash-submission:notice:{notice_id}"


def sweep_submission(
    db: Session,
    *,
    actor: Actor,
    engine: Any,
    submission_id: int,
    catalogue: Catalogue,
    rules: CaseRules = DEFAULT_RULES,
) -> HashSubmission:
    """Find every stored copy of the submitted pictures; each joins the request as an item, so it
    reaches review in its own case with the request's clocks (TID-3). Nothing is removed here: a
    reviewer decides. A run again adds only copies not yet on the request."""
    submission = _submission(db, submission_id)
    notice = db.get(Notice, submission.notice_id)
    assert notice is not None
    if submission.state != HashSubmissionState.active.value:
        submission.sweep = {**submission.sweep, "skipped": "withdrawn before the sweep ran"}
        return submission
    bank = db.get(Bank, submission.bank_id)
    assert bank is not None
    entries = (
        db.execute(
            sa.select(BankEntry).where(BankEntry.bank_id == bank.id, BankEntry.enabled.is_(True)).order_by(BankEntry.id)
        )
        .scalars()
        .all()
    )
    # A picture's own hash is plain; its turned and mirrored forms meet the variant gate, and a
    # hash sent without its quality is not trusted through a variant.
    copies = copies_of_entries(db, engine, list(entries), radius=bank.pdq_threshold, unknown_quality=0)
    already = {item.content_id for item in notice.items}
    found = (
        db.execute(
            sa.select(PlatformContent)
            .where(PlatformContent.id.in_(sorted(copies) or [-1]))
            .order_by(PlatformContent.id)
        )
        .scalars()
        .all()
    )
    new = [c for c in found if c.id not in already]
    case_ids: list[int] = []
    if new:
        policy = catalogue.get(bank.policy_id)
        items = [NoticeItemIn(content_id=c.platform_id) for c in new]
        case_ids = batch.attach_items(
            db, actor=actor, notice=notice, items=items, policy=policy, rules=rules, engine=engine, catalogue=catalogue
        )
        if notice.case_id is None and case_ids:
            notice.case_id = case_ids[0]
    when = now(db)
    submission.swept_at = when
    submission.sweep = {
        "at": when.isoformat(),
        "signals": len(entries),
        "copies": len(found),
        "found": [{"content": c.platform_id, "distance": copies[c.id]} for c in found],
        "cases": sorted(set(case_ids) | set(submission.sweep.get("cases", []))),
    }
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.HASH_SUBMISSION_SWEEP,
        subject_type="hash_submission",
        subject_id=submission.id,
        data={"notice_id": notice.id, "copies": len(found), "new": len(new), "cases": case_ids},
    )
    return submission


def sweep_job(db: Session, ctx: JobContext) -> None:
    engine = ctx.services.get("match_engine")
    if engine is None:
        raise RuntimeError("this worker has no match engine; a hash submission's sweep needs one")
    engine.catch_up()
    sweep_submission(
        db,
        actor=SYSTEM,
        engine=engine,
        submission_id=ctx.payload["submission_id"],
        catalogue=ctx.services["catalogue"],
        rules=ctx.services.get("case_rules", DEFAULT_RULES),
    )


def _submission(db: Session, submission_id: int) -> HashSubmission:
    return get_or_404(db, HashSubmission, submission_id, "hash submission")


def submission_for_notice(db: Session, notice: Notice) -> HashSubmission | None:
    return db.execute(sa.select(HashSubmission).where(HashSubmission.notice_id == notice.id)).scalar_one_or_none()


def submissions_for_case(db: Session, case: Case) -> list[HashSubmission]:
    """The submissions a case's items came from: found by a submission's sweep (an item of its
    notice), or held at upload by a match in a submission's bank (the scan's matches)."""
    content_ids = [c.id for c in case_contents(db, case)] or [-1]
    by_notice = (
        sa.select(HashSubmission.id)
        .join(NoticeItem, NoticeItem.notice_id == HashSubmission.notice_id)
        .where(sa.or_(NoticeItem.case_id == case.id, NoticeItem.content_id.in_(content_ids)))
    )
    ids = set(db.execute(by_notice).scalars())
    bank_ids: set[int] = set()
    for matches in db.execute(sa.select(Scan.matches).where(Scan.content_id.in_(content_ids))).scalars():
        bank_ids.update(int(m["bank_id"]) for m in matches or [] if m.get("bank_id") is not None)
    if bank_ids:
        ids.update(
            db.execute(sa.select(HashSubmission.id).where(HashSubmission.bank_id.in_(sorted(bank_ids)))).scalars()
        )
    if not ids:
        return []
    return list(
        db.execute(
            sa.select(HashSubmission).where(HashSubmission.id.in_(sorted(ids))).order_by(HashSubmission.id)
        ).scalars()
    )


def verify_from_decision(db: Session, *, actor: Actor, case: Case, policy: Policy) -> list[HashSubmission]:
    """A reviewer confirmed a case whose item came from a submission: the submission is verified,
    and its hashes join the platform's own bank for the policy (confirmed material, with this case
    as provenance), so later matches act as the policy says and the case's sweep covers them."""
    verified = []
    for submission in submissions_for_case(db, case):
        if submission.verified_at is not None or submission.state != HashSubmissionState.active.value:
            continue
        submission.verified_at = now(db)
        submission.verified_case_id = case.id
        rows = (
            db.execute(
                sa.select(BankEntry)
                .where(BankEntry.bank_id == submission.bank_id, BankEntry.enabled.is_(True))
                .order_by(BankEntry.id)
            )
            .scalars()
            .all()
        )
        copies: dict[int, banks.NewEntry] = {}
        for row in rows:  # parents first (lower ids), so each variant finds its original
            copies[row.id] = banks.NewEntry(
                row.signal_type,
                row.signal,
                row.note,
                variant=row.variant,
                quality=row.quality,
                parent=copies.get(row.parent_id or -1),
            )
        bank = own_bank(db, actor=actor, policy=policy)
        result = banks.add_entries(
            db,
            actor=actor,
            bank=bank,
            entries=list(copies.values()),
            source_case_id=case.id,
            source_ref=f"hash-submission:{submission.id}",
        )
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.HASH_SUBMISSION_VERIFY,
            subject_type="hash_submission",
            subject_id=submission.id,
            data={"case_id": case.id, "bank": bank.name, "added": result.added, "already_banked": result.duplicates},
        )
        verified.append(submission)
    return verified


def withdraw(db: Session, *, actor: Actor, code: str) -> HashSubmission:
    """Withdraw a submission by its request's tracking code: every hash it put in a bank (its own,
    and the platform's after a verification) is disabled, not deleted; the sweep's result and the
    cases it opened stay for the record. Withdrawing twice changes nothing."""
    notice = intake.notice_by_code(db, code)
    submission = submission_for_notice(db, notice)
    if submission is None:
        raise InvalidInput(_("this tracking code is for a request that sent no fingerprints; nothing to withdraw here"))
    if submission.state == HashSubmissionState.withdrawn.value:
        return submission
    refs = (source_ref(notice.id), f"hash-submission:{submission.id}")
    originals = (
        db.execute(
            sa.select(BankEntry)
            .where(
                sa.or_(BankEntry.bank_id == submission.bank_id, BankEntry.source_ref.in_(refs)),
                BankEntry.parent_id.is_(None),
                BankEntry.enabled.is_(True),
            )
            .order_by(BankEntry.id)
        )
        .scalars()
        .all()
    )
    for entry in originals:
        banks.disable_entry(db, actor=actor, entry=entry, reason=WITHDRAWN_REASON)
    # Variants whose original was already disabled by someone else follow the withdrawal too.
    for entry in db.execute(
        sa.select(BankEntry).where(
            sa.or_(BankEntry.bank_id == submission.bank_id, BankEntry.source_ref.in_(refs)), BankEntry.enabled.is_(True)
        )
    ).scalars():
        banks.disable_entry(db, actor=actor, entry=entry, reason=WITHDRAWN_REASON)
    submission.state = HashSubmissionState.withdrawn.value
    submission.withdrawn_at = now(db)
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.HASH_SUBMISSION_WITHDRAW,
        subject_type="hash_submission",
        subject_id=submission.id,
        data={"notice_id": notice.id, "disabled": len(originals)},
    )
    return submission
