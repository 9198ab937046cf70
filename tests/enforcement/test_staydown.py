"""Stay-down and enforcement (X-5, TID-3): confirming one reported item takes down every stored
copy (edited ones included), enforces against every account that posted one, and blocks the next
re-upload; a reversal restores, except confirmed CSAM. Stand-in media is benign and synthetic."""

from __future__ import annotations

import sqlalchemy as sa
from PIL import ImageOps

from staydown.actors import SYSTEM, Actor
from staydown.app import worker_services
from staydown.audit.models import AuditEvent
from staydown.cases.models import Case, LegalTrack
from staydown.db import Database
from staydown.enforcement.actions import apply_action
from staydown.enforcement.measures import reverse_case_measures
from staydown.enforcement.models import AccountStrike, EnforcementAction, Sweep
from staydown.enforcement.strikes import add_strike
from staydown.errors import RuleViolation
from staydown.jobs import build_registry
from staydown.matching.models import BankEntry
from staydown.subjects.models import PlatformContent
from staydown.subjects.records import ensure_account, ensure_content
from staydown.subjects.schemas import AccountRef, ContentRef
from staydown.worker import Worker
from tests.conftest import T0
from tests.helpers import auth, make_staff, sign_in
from tests.imagegen import encode, synthetic


def _scan(client, key: str, content_id: str, account: str, data: bytes) -> dict:
    r = client.post(
        "/v1/scan",
        headers=auth(key),
        files={"file": ("f", data, "image/jpeg")},
        data={"content_id": content_id, "account_id": account},
    )
    assert r.status_code == 200, r.text
    return r.json()


def _run_jobs(client, database: Database) -> int:
    return Worker(database, build_registry(), services=worker_services(client.app)).run_until_idle()


def _copies(img):
    w, h = img.size
    return {
        "recompressed": encode(img, "JPEG", quality=55),
        "flipped": encode(ImageOps.mirror(img), "PNG"),
        "resized": encode(img.resize((w // 2, h // 2)), "WEBP"),
        "bordered": encode(ImageOps.expand(img, border=int(w * 0.08), fill=(0, 0, 0)), "PNG"),
        "greyscale": encode(ImageOps.grayscale(img).convert("RGB"), "JPEG"),
    }


def _confirm(
    client, database: Database, staff_headers, content_id: str, policy: str, reporter_kind: str = "user"
) -> int:
    client.post(
        "/public/notices",
        json={
            "reporter_kind": reporter_kind,
            "policy_id": policy.split("@")[0],
            "explanation": "reported item",
            "items": [{"content_id": content_id}],
        },
    )
    with database.unit_of_work(write=False) as db:
        case_id = db.execute(sa.select(Case.id).order_by(Case.id.desc()).limit(1)).scalar_one()
    assert client.post(f"/v1/cases/{case_id}/claim", headers=staff_headers).status_code == 200
    r = client.post(
        f"/v1/cases/{case_id}/decision",
        headers=staff_headers,
        json={"policy": policy, "outcome": "violates", "facts": "confirmed on review"},
    )
    assert r.status_code == 200 and r.json()["effective"], r.text
    return case_id


def test_X5_confirming_one_item_takes_down_every_copy_and_blocks_reuploads(
    client, database: Database, api_key: str
) -> None:
    """REQ X-5, TID-3."""
    img = synthetic(501, (640, 480))
    _scan(client, api_key, "orig", "acct-0", encode(img, "JPEG", quality=92))
    copies = _copies(img)
    for i, (label, data) in enumerate(copies.items(), start=1):
        _scan(client, api_key, f"copy-{label}", f"acct-{i}", data)
    _scan(client, api_key, "unrelated", "acct-x", encode(synthetic(777), "JPEG"))
    client.app.state.match_engine.catch_up()

    make_staff(database, "mo", "moderator")
    case_id = _confirm(client, database, sign_in(client, "mo"), "orig", "ncii@2", reporter_kind="affected_person")
    assert _run_jobs(client, database) >= 1
    with database.unit_of_work(write=False) as db:
        sweep = db.execute(sa.select(Sweep)).scalar_one()
        assert sweep.copies_found == len(copies)
        removed = db.execute(sa.select(EnforcementAction).where(EnforcementAction.kind == "remove")).scalars().all()

        names = {db.get_one(PlatformContent, a.content_id).platform_id for a in removed}
        assert names == {"orig"} | {f"copy-{label}" for label in copies}
        assert all(
            a.automated_decision and a.details["copy_of_case"] == case_id
            for a in removed
            if a.content_id != removed[0].content_id
        )
        account_actions = (
            db.execute(sa.select(EnforcementAction).where(EnforcementAction.target == "account")).scalars().all()
        )
        strikes = db.execute(sa.select(AccountStrike)).scalars().all()
        enforced = {a.account_id for a in account_actions} | {s.account_id for s in strikes}
        assert len(enforced) == len(copies) + 1  # the original poster and every copier
        tid = db.execute(
            sa.select(LegalTrack).where(LegalTrack.case_id == case_id, LegalTrack.kind == "take_it_down")
        ).scalar_one()
        assert tid.details["known_identical_copies"]["copies"] == len(copies)
    # The next re-upload, flipped and re-encoded, is blocked at scan.
    client.app.state.match_engine.catch_up()
    again = _scan(client, api_key, "reupload", "acct-new", encode(ImageOps.mirror(img), "JPEG", quality=70))
    assert again["verdict"] == "block" and again["matches"][0]["bank"] == "own-ncii"
    assert _scan(client, api_key, "fine", "acct-y", encode(synthetic(778), "JPEG"))["verdict"] == "allow"


def test_reversal_restores_content_and_removes_strikes(client, database: Database, api_key: str) -> None:
    _scan(client, api_key, "p1", "acct-1", encode(synthetic(61), "JPEG"))
    make_staff(database, "mo", "moderator")
    case_id = _confirm(client, database, sign_in(client, "mo"), "p1", "harassment@2")
    with database.unit_of_work(write=False) as db:
        assert db.execute(sa.select(AccountStrike)).scalar_one().removed_at is None
    with database.unit_of_work() as db:
        restored = reverse_case_measures(
            db,
            actor=Actor.staff(9, "appeals"),
            case=db.get_one(Case, case_id),
            reason="appeal upheld: it was satire",
            catalogue=client.app.state.catalogue,
        )
        assert [a.kind for a in restored] == ["restore"]
    with database.unit_of_work(write=False) as db:
        assert db.execute(sa.select(AccountStrike)).scalar_one().removed_reason == "appeal upheld: it was satire"
        remove = db.execute(sa.select(EnforcementAction).where(EnforcementAction.kind == "remove")).scalar_one()
        assert remove.state == "lifted" and db.get_one(Case, case_id).outcome == "reversed"


def test_confirmed_csam_is_never_restored(client, database: Database, api_key: str) -> None:
    _scan(client, api_key, "p2", "acct-2", encode(synthetic(62), "JPEG"))
    make_staff(database, "cs", "child_safety")
    case_id = _confirm(client, database, sign_in(client, "cs"), "p2", "csam@2")
    with database.unit_of_work() as db:
        try:
            reverse_case_measures(
                db,
                actor=Actor.staff(9, "appeals"),
                case=db.get_one(Case, case_id),
                reason="appeal",
                catalogue=client.app.state.catalogue,
            )
        except RuleViolation as exc:
            assert "never restored" in exc.message
        else:
            raise AssertionError("confirmed CSAM was restored")


def test_strike_ladder_warns_before_suspending(client, database: Database, api_key: str) -> None:
    """DSA-7: a suspension only ever follows a prior warning."""

    policy = client.app.state.catalogue.get("harassment")
    ladder = policy.strike
    kinds: list[str] = []

    with database.unit_of_work() as db:
        account = ensure_account(db, actor=SYSTEM, ref=AccountRef(id="repeat"))
        for n in range(ladder.terminate_at // max(ladder.weight, 1) + 1):
            # Each strike is for an item removed (Art. 23 weighs items, not strikes alone).
            item = ensure_content(db, actor=SYSTEM, ref=ContentRef(id=f"repeat-{n}", account=AccountRef(id="repeat")))
            apply_action(db, actor=SYSTEM, kind="remove", content_id=item.id, policy_ref=policy.ref, facts="removed")
            kinds += [
                a.kind
                for a in add_strike(
                    db, actor=SYSTEM, account_id=account.id, policy=policy, case_id=None, facts="strike"
                )
            ]
    assert kinds[0] == "warn"
    assert "suspend" in kinds and kinds.index("warn") < kinds.index("suspend")
    assert kinds[-1] == "terminate"


def _account_with_items(db, name: str, removed: int, kept: int):

    items = [
        ensure_content(db, actor=SYSTEM, ref=ContentRef(id=f"{name}-{n}", account=AccountRef(id=name)))
        for n in range(removed + kept)
    ]
    for item in items[:removed]:
        apply_action(db, actor=SYSTEM, kind="remove", content_id=item.id, policy_ref="spam@2", facts="removed")
    apply_action(db, actor=SYSTEM, kind="warn", account_id=items[0].account_id, policy_ref="spam@2", facts="warned")
    return items[0].account_id


def test_dsa7_art23_a_suspension_weighs_count_proportion_gravity_and_intent_never_count_alone(
    client, database: Database
) -> None:
    """REQ DSA-7: past the ladder's threshold, a warned account is suspended only when its items
    are more than one and either a real share of what it posts, grave, or posted after the
    warning; the weighing is on the record (audit event and the suspension's details)."""

    policy = client.app.state.catalogue.get("spam")
    assert policy.severity not in ("critical", "high")
    with database.unit_of_work() as db:
        prolific = _account_with_items(db, "prolific", removed=2, kept=98)  # 2 % of 100 items, before the warning
        spammer = _account_with_items(db, "spammer", removed=3, kept=2)  # 60 %
        total = policy.strike.suspend_at
        out = {}
        for account_id in (prolific, spammer):
            kinds: list[str] = []
            for _ in range(total):
                kinds += [
                    a.kind
                    for a in add_strike(
                        db, actor=SYSTEM, account_id=account_id, policy=policy, case_id=None, facts="strike"
                    )
                ]
            out[account_id] = kinds
        assert "suspend" not in out[prolific]  # count alone: no suspension
        suspended = list(
            db.execute(
                sa.select(EnforcementAction).where(
                    EnforcementAction.account_id == spammer, EnforcementAction.kind == "suspend"
                )
            ).scalars()
        )
        assert len(suspended) == 1
        record = suspended[0].details["art23"]
        assert record["items"] == 3 and record["known_items"] == 5 and record["proportion"] == 0.6
        assert (
            record["gravity"] == policy.severity
            and "60%" in record["why"]
            and record["basis"].startswith("DSA Art. 23")
        )
    with database.unit_of_work(write=False) as db:
        events = [
            e.data
            for e in db.execute(sa.select(AuditEvent).where(AuditEvent.tag == "enforcement:suspension:weigh")).scalars()
        ]
    assert {e["suspend"] for e in events} == {True, False}
    assert any("count alone does not suspend" in e["why"] for e in events)


def test_dsa7_strikes_from_sweeps_count_once_per_source_item(client, database: Database) -> None:
    """REQ DSA-7, X-5: a sweep that finds many copies of one confirmed item by the same account
    (or runs again) strikes it once for that item, not once per copy or per run."""

    policy = client.app.state.catalogue.get("ncii")
    with database.unit_of_work() as db:
        other = ensure_account(db, actor=SYSTEM, ref=AccountRef(id="copier"))
    with database.unit_of_work() as db:
        case = Case(
            state="decided",
            policy_id="ncii",
            severity="high",
            area="ncii",
            priority=0,
            notice_count=1,
            reporter_count=1,
            opened_at=T0,
            child_safety=False,
            ncii=True,
        )
        db.add(case)
        db.flush()
        for sweep_id in (1, 2, 3):
            add_strike(
                db,
                actor=SYSTEM,
                account_id=other.id,
                policy=policy,
                case_id=case.id,
                facts="copy",
                automated=True,
                details={"copy_of_case": case.id, "sweep_id": sweep_id},
            )
        strikes = db.execute(sa.select(AccountStrike).where(AccountStrike.account_id == other.id)).scalars().all()
        assert len(strikes) == 1 and strikes[0].case_id == case.id


def test_reversal_takes_the_case_out_of_the_stay_down_bank(client, database: Database, api_key: str) -> None:
    _scan(client, api_key, "n1", "acct-n", encode(synthetic(63), "JPEG"))
    make_staff(database, "mo", "moderator")
    case_id = _confirm(client, database, sign_in(client, "mo"), "n1", "ncii@2")
    with database.unit_of_work() as db:
        assert db.execute(sa.select(BankEntry).where(BankEntry.source_case_id == case_id)).scalars().all()
        reverse_case_measures(
            db,
            actor=Actor.staff(9, "appeals"),
            case=db.get_one(Case, case_id),
            reason="appeal upheld",
            catalogue=client.app.state.catalogue,
        )
    with database.unit_of_work(write=False) as db:
        entries = db.execute(sa.select(BankEntry).where(BankEntry.source_case_id == case_id)).scalars().all()
        assert entries and all(not e.enabled and "decision reversed" in (e.disabled_reason or "") for e in entries)
