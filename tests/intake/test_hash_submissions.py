"""Pictures fingerprinted on the person's device, sent as hashes only (TID-1, TID-3, X-1, X-5):
the request is filed without an item, its hashes go into a bank of their own that holds matching
uploads for review, the sweep puts every stored copy in front of a reviewer with the request's
clock, a reviewer's confirmation makes the hashes act per policy, and the tracking code withdraws
them. The form is posted as the page posts it; the hashes are what the browser computes, taken
here from pdqhash on the same pixels (tests/web/test_ondevice_browser.py shows they are equal)."""

from __future__ import annotations

import hashlib
import io
import re

import numpy as np
import pdqhash
import pytest
import sqlalchemy as sa
from PIL import Image, ImageOps

from staydown.app import worker_services
from staydown.audit.models import AuditEvent
from staydown.cases.models import Case, LegalTrack
from staydown.db import Database
from staydown.enforcement.models import EnforcementAction
from staydown.intake import hash_submissions
from staydown.intake.models import HashSubmission, Notice, NoticeItem
from staydown.jobs import build_registry
from staydown.matching.models import Bank, BankEntry
from staydown.subjects.models import PlatformContent
from staydown.worker import Worker
from tests.helpers import auth, make_staff, sign_in
from tests.imagegen import encode, synthetic

CODE_RE = re.compile(r'id="tracking-code">([0-9A-Z-]+)<')
TRANSFORMS = {
    "rotate90": lambda a: np.rot90(a, -1),
    "rotate180": lambda a: a[::-1, ::-1],
    "rotate270": lambda a: np.rot90(a, 1),
    "flip_x": lambda a: a[::-1],
    "flip_y": lambda a: a[:, ::-1],
    "transpose": lambda a: a.transpose(1, 0, 2),
    "transverse": lambda a: a[::-1, ::-1].transpose(1, 0, 2),
}


def _pdq(rgb: np.ndarray) -> tuple[str, int]:
    vector, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return np.packbits(vector.astype(np.uint8)).tobytes().hex(), int(quality)


def picture_line(data: bytes) -> str:
    """The page's line for one file: quality, PDQ, MD5, SHA-256, then the 7 turned and mirrored PDQs
    (pdqhash on the transformed pixels, as static/ondevice/pdq.js computes them)."""
    rgb = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    pdq, quality = _pdq(rgb)
    variants = [_pdq(TRANSFORMS[name](rgb))[0] for name in hash_submissions.VARIANT_NAMES]
    return " ".join([str(quality), pdq, hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest(), *variants])


def _token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def send(client, lines: list[str], **fields: str):
    page = client.get("/takedown/pictures")
    assert page.status_code == 200
    form_id = re.search(r'name="form_id" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    values = {
        "csrf_token": _token(page.text),
        "form_id": form_id,
        "pictures": "\n".join(lines),
        "reporter": "affected_person",
        "good_faith": "on",
        "explanation": "They were sent privately to one person and posted without my consent.",
        "signature": "Alex Example",
        "contact_email": "alex@example.org",
    }
    values.update(fields)
    return client.post("/takedown/pictures", data={k: v for k, v in values.items() if v is not None})


def _scan(client, key: str, content_id: str, data: bytes) -> dict:
    r = client.post(
        "/v1/scan",
        headers=auth(key),
        files={"file": ("f", data, "image/jpeg")},
        data={"content_id": content_id, "account_id": "acct-" + content_id},
    )
    assert r.status_code == 200, r.text
    return r.json()


def _run_jobs(client, database: Database) -> int:
    return Worker(database, build_registry(), services=worker_services(client.app)).run_until_idle()


def _pictures(n: int, first_seed: int = 900) -> list[bytes]:
    return [encode(synthetic(first_seed + i, (480, 360)), "JPEG", quality=90) for i in range(n)]


def test_TID1_pictures_hashed_on_the_device_file_a_valid_request_and_a_held_unverified_bank(
    client, database: Database
) -> None:
    """REQ TID-1: the hashes identify the images; the request is complete, names no item, and its
    hashes sit in a bank of their own that holds (never blocks) and is not confirmed material."""
    files = _pictures(3)
    r = send(client, [picture_line(f) for f in files])
    assert r.status_code == 201, r.text
    assert "fingerprints of 3 pictures" in r.text and "The pictures stayed on your device" in r.text
    code = CODE_RE.search(r.text).group(1)  # type: ignore[union-attr]
    # The request's status page reads well with no item named yet.
    status = client.post("/status", data={"csrf_token": _token(r.text), "code": code})
    assert status.status_code == 200 and "TAKE IT DOWN request" in status.text
    with database.unit_of_work(write=False) as db:
        notice = db.execute(sa.select(Notice).where(Notice.tracking_code == code)).scalar_one()
        assert (notice.kind, notice.state, notice.missing_elements, notice.policy_id) == (
            "take_it_down",
            "received",
            [],
            "ncii",
        )
        assert notice.items == [] and notice.complete_at == notice.received_at
        submission = db.execute(sa.select(HashSubmission)).scalar_one()
        bank = db.get_one(Bank, submission.bank_id)
        assert (bank.action_on_match, bank.confirmed_material, bank.source, bank.policy_id) == (
            "hold",
            False,
            "take_it_down",
            "ncii",
        )
        entries = db.execute(sa.select(BankEntry).where(BankEntry.bank_id == bank.id)).scalars().all()
        originals = [e for e in entries if e.parent_id is None]
        assert len(originals) == 3 and all(e.signal_type == "pdq" and e.variant == "" for e in originals)
        assert {e.variant for e in entries if e.signal_type == "pdq" and e.parent_id} == set(
            hash_submissions.VARIANT_NAMES
        )
        assert sorted(e.signal for e in entries if e.signal_type == "sha256") == sorted(
            hashlib.sha256(f).hexdigest() for f in files
        )
        tags = [e.tag for e in db.execute(sa.select(AuditEvent).order_by(AuditEvent.seq)).scalars()]
        assert "intake:hash_submission:receive" in tags and "matching:bank:entries_add" in tags


def test_X1_a_parent_sends_a_childs_pictures_without_name_or_email(client, database: Database) -> None:
    """REQ X-1: for a child no signature or contact is asked; the request is a child-safety report."""
    r = send(
        client,
        [picture_line(_pictures(1, 950)[0])],
        minor="on",
        reporter="parent_or_representative",
        signature="",
        contact_email="",
        explanation="",
    )
    assert r.status_code == 201, r.text
    with database.unit_of_work(write=False) as db:
        notice = db.execute(sa.select(Notice)).scalar_one()
        assert (notice.kind, notice.policy_id, notice.minor_involved, notice.contact_email) == (
            "public_report",
            "csam",
            True,
            None,
        )
        assert db.get_one(Bank, db.execute(sa.select(HashSubmission)).scalar_one().bank_id).policy_id == "csam"


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([], "Choose at least one picture"),
        (["55 " + "0" * 64], "Picture 1: its fingerprint is incomplete"),
        (["x" * 10] * (hash_submissions.MAX_PICTURES + 1), f"at most {hash_submissions.MAX_PICTURES} pictures"),
    ],
)
def test_refusals_name_the_picture_and_what_to_do(client, database: Database, lines: list[str], expected: str) -> None:
    r = send(client, lines)
    assert r.status_code == 422 and expected in r.text
    with database.unit_of_work(write=False) as db:
        assert db.execute(sa.select(sa.func.count()).select_from(Notice)).scalar_one() == 0


def test_a_flat_picture_is_refused_by_the_quality_gate_and_the_hashes_come_back_in_the_form(
    client, database: Database
) -> None:
    good = picture_line(_pictures(1, 960)[0])
    flat = picture_line(encode(Image.new("RGB", (400, 300), (200, 30, 30)), "PNG"))
    assert flat.split()[0] == "0"
    r = send(client, [good, flat])
    assert r.status_code == 422
    assert "Picture 2 is too plain to fingerprint reliably (quality 0 of 100" in r.text.replace("&#39;", "'")
    # Nothing to hash again: the lines are still in the form.
    assert good.split()[1] in r.text
    # A forged quality does not pass either: the hash itself has no bits of a picture.
    forged = " ".join(["90", *flat.split()[1:]])
    assert "Picture 1 is too plain" in send(client, [forged]).text
    with database.unit_of_work(write=False) as db:
        assert db.execute(sa.select(sa.func.count()).select_from(HashSubmission)).scalar_one() == 0


def test_TID1_an_adults_request_needs_signature_and_contact(client) -> None:
    r = send(client, [picture_line(_pictures(1, 970)[0])], signature="", contact_email="", good_faith="")
    assert r.status_code == 422
    for message in (
        "Enter your signature",
        "Enter an e-mail address",
        "Confirm that the pictures were shared without the consent",
    ):
        assert message in r.text


def test_TID3_sweep_review_hold_verify_and_withdraw(client, database: Database, api_key: str) -> None:
    """REQ TID-3, X-5: stored copies (exact and mirrored) reach review with the request's 48-hour
    clock; a later edited upload is held, not blocked; once a reviewer confirms a match the hashes
    act per policy (a re-upload is blocked); withdrawal disables every hash, the sweep stays."""
    img = synthetic(990, (512, 384))
    original = encode(img, "JPEG", quality=92)
    _scan(client, api_key, "stored-exact", original)
    _scan(client, api_key, "stored-mirror", encode(ImageOps.mirror(img), "PNG"))
    _scan(client, api_key, "stored-other", encode(synthetic(991, (512, 384)), "JPEG"))
    client.app.state.match_engine.catch_up()

    r = send(client, [picture_line(original), picture_line(_pictures(1, 992)[0])])
    assert r.status_code == 201
    code = CODE_RE.search(r.text).group(1)  # type: ignore[union-attr]
    assert _run_jobs(client, database) >= 1
    with database.unit_of_work(write=False) as db:
        notice = db.execute(sa.select(Notice).where(Notice.tracking_code == code)).scalar_one()
        found = (
            db.execute(
                sa.select(PlatformContent.platform_id)
                .join(NoticeItem, NoticeItem.content_id == PlatformContent.id)
                .where(NoticeItem.notice_id == notice.id)
            )
            .scalars()
            .all()
        )
        assert sorted(found) == ["stored-exact", "stored-mirror"]
        submission = db.execute(sa.select(HashSubmission)).scalar_one()
        assert submission.sweep["copies"] == 2 and submission.swept_at is not None
        tracks = (
            db.execute(
                sa.select(LegalTrack)
                .join(NoticeItem, NoticeItem.case_id == LegalTrack.case_id)
                .where(NoticeItem.notice_id == notice.id, LegalTrack.kind == "take_it_down")
            )
            .scalars()
            .all()
        )
        # The clock runs from the request, not from the sweep.
        assert len(tracks) == 2 and all(t.received_at == notice.received_at and t.state == "open" for t in tracks)
        assert {db.get_one(Case, t.case_id).state for t in tracks} == {"open"}
        # Nothing was removed by the sweep: a person decides.

        assert db.execute(sa.select(EnforcementAction).where(EnforcementAction.kind == "remove")).first() is None

    # A later upload of edited copies: held for review, never blocked on an unverified hash.
    client.app.state.match_engine.catch_up()
    w, h = img.size
    edits = {
        "flipped": encode(ImageOps.mirror(img), "JPEG", quality=80),
        "bordered": encode(ImageOps.expand(img, border=int(w * 0.05), fill=(255, 255, 255)), "PNG"),
        "cropped": encode(img.crop((int(w * 0.03), 0, w, h)), "JPEG", quality=90),
    }
    for label, data in edits.items():
        answer = _scan(client, api_key, f"later-{label}", data)
        assert answer["verdict"] == "hold", (label, answer)
        assert answer["matches"][0]["bank"] == f"submitted-{notice.id}"

    # A reviewer confirms the held flipped copy: the submission is verified, its hashes act per policy.
    make_staff(database, "mo", "moderator")
    headers = sign_in(client, "mo")
    with database.unit_of_work(write=False) as db:
        # (The held copy may join the case of a stored copy it matches: copies are grouped.)
        held = (
            db.execute(
                sa.select(NoticeItem.case_id)
                .join(PlatformContent, PlatformContent.id == NoticeItem.content_id)
                .where(PlatformContent.platform_id == "later-cropped")
            )
            .scalars()
            .first()
        )
        assert held is not None
    assert client.post(f"/v1/cases/{held}/claim", headers=headers).status_code == 200
    r = client.post(
        f"/v1/cases/{held}/decision",
        headers=headers,
        json={"policy": "ncii@2", "outcome": "violates", "facts": "the person shown, confirmed on review"},
    )
    assert r.status_code == 200, r.text
    with database.unit_of_work(write=False) as db:
        submission = db.execute(sa.select(HashSubmission)).scalar_one()
        assert submission.verified_case_id == held and submission.verified_at is not None
        promoted = (
            db.execute(sa.select(BankEntry).where(BankEntry.source_ref == f"hash-submission:{submission.id}"))
            .scalars()
            .all()
        )
        assert promoted and {e.bank.name for e in promoted} == {"own-ncii"}
    _run_jobs(client, database)
    client.app.state.match_engine.catch_up()
    assert _scan(client, api_key, "again", encode(ImageOps.mirror(img), "JPEG", quality=75))["verdict"] == "block"

    # Withdrawal: a wrong code is answered plainly; the right one disables every hash.
    page = client.get("/takedown/pictures/withdraw")
    bad = client.post(
        "/takedown/pictures/withdraw", data={"csrf_token": _token(page.text), "code": "ABCD-EFGH-JKMN", "confirm": "on"}
    )
    assert bad.status_code == 422 and "We found no request with this tracking code" in bad.text
    done = client.post(
        "/takedown/pictures/withdraw", data={"csrf_token": _token(page.text), "code": code, "confirm": "on"}
    )
    assert done.status_code == 200 and "The fingerprints are withdrawn" in done.text
    with database.unit_of_work(write=False) as db:
        submission = db.execute(sa.select(HashSubmission)).scalar_one()
        assert submission.state == "withdrawn" and submission.sweep["copies"] == 2
        live = db.execute(
            sa.select(BankEntry).where(
                sa.or_(
                    BankEntry.bank_id == submission.bank_id, BankEntry.source_ref == f"hash-submission:{submission.id}"
                ),
                BankEntry.enabled.is_(True),
            )
        ).all()
        assert live == []
        assert db.execute(sa.select(AuditEvent).where(AuditEvent.tag == "intake:hash_submission:withdraw")).first()
    client.app.state.match_engine.catch_up()
    # What the reviewer confirmed about the platform's own item stays banked (a decision of its
    # own); an unrelated picture of the same request no longer holds anything.
    assert _scan(client, api_key, "after", encode(synthetic(992, (480, 360)), "JPEG", quality=90))["verdict"] == "allow"


def test_rate_limit_on_submissions(client) -> None:
    line = picture_line(_pictures(1, 980)[0])
    codes = [send(client, [line]).status_code for _ in range(hash_submissions.RATE_PER_MINUTE + 1)]
    assert codes[:-1] == [201] * hash_submissions.RATE_PER_MINUTE and codes[-1] == 429


def test_a_refusal_verifies_nothing_and_matches_stay_held(client, database: Database, api_key: str) -> None:
    """An unverified hash never acts alone: a reviewer finding no violation on the copy its sweep
    found leaves the submission unverified, and the next matching upload is still only held."""
    img = synthetic(995, (512, 384))
    _scan(client, api_key, "stored", encode(img, "JPEG", quality=90))
    client.app.state.match_engine.catch_up()
    assert send(client, [picture_line(encode(img, "PNG"))]).status_code == 201
    _run_jobs(client, database)
    with database.unit_of_work(write=False) as db:
        case_id = db.execute(
            sa.select(NoticeItem.case_id).join(HashSubmission, HashSubmission.notice_id == NoticeItem.notice_id)
        ).scalar_one()
    make_staff(database, "mo", "moderator")
    headers = sign_in(client, "mo")
    assert client.post(f"/v1/cases/{case_id}/claim", headers=headers).status_code == 200
    r = client.post(
        f"/v1/cases/{case_id}/decision",
        headers=headers,
        json={"policy": "ncii@2", "outcome": "does_not_violate", "facts": "not the person in the request"},
    )
    assert r.status_code == 200, r.text
    with database.unit_of_work(write=False) as db:
        assert db.execute(sa.select(HashSubmission.verified_at)).scalar_one() is None
        assert db.execute(sa.select(Bank).where(Bank.name == "own-ncii")).first() is None
    client.app.state.match_engine.catch_up()
    assert _scan(client, api_key, "next", encode(ImageOps.mirror(img), "JPEG"))["verdict"] == "hold"
