"""The batch entry points a stay-down sweep calls once per chunk (`apply_actions`, `add_strikes`,
`issue_statements`) leave exactly the rows one call per item leaves (X-5, DSA-7, DSA Art. 17):
actions, strikes, statements of reasons, webhook jobs, sequence order and audit events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from staydown import audit
from staydown.actors import SYSTEM, Actor
from staydown.audit import AuditTag
from staydown.audit.models import AuditEvent
from staydown.db import Database
from staydown.delivery.models import Job
from staydown.delivery.webhooks import DELIVER_WEBHOOK
from staydown.enforcement.actions import apply_action, apply_actions
from staydown.enforcement.models import AccountStrike, EnforcementAction
from staydown.enforcement.strikes import StrikeRequest, add_strike, add_strikes
from staydown.errors import InvalidInput
from staydown.policies.catalogue import default_catalogue
from staydown.subjects.models import PlatformAccount, PlatformContent
from staydown.subjects.records import ensure_content
from staydown.subjects.schemas import AccountRef, ContentRef
from staydown.transparency.models import StatementOfReasons

ACTOR = Actor.staff(7, "mo")
START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

# account -> (prior strike weights as (weight, days ago, removed), prior actions)
HARASSMENT_ACCOUNTS: dict[str, tuple[list[tuple[int, int, bool]], list[str]]] = {
    "fresh": ([], []),  # 1: warn
    "warned-once": ([(1, 10, False)], ["warn"]),  # 2: warn again
    "due-suspend": ([(2, 10, False)], ["warn"]),  # 3: suspend, warned before
    "never-warned": ([(2, 10, False)], []),  # 3: warn first (DSA-7)
    "suspended": ([(2, 10, False)], ["warn", "suspend"]),  # 3: already suspended, nothing
    "due-terminate": ([(5, 10, False)], []),  # 6: terminate
    "terminated": ([(5, 10, False)], ["terminate"]),  # 6: already terminated, nothing
    "expired": ([(5, 400, False)], []),  # old strikes out of the window: warn
    "removed": ([(5, 10, True)], []),  # removed strikes do not count: warn
}
CSAM_ACCOUNTS: dict[str, list[str]] = {"csam-new": [], "csam-done": ["terminate"]}


def _setup(db, prefix: str, clock) -> dict[str, PlatformContent]:
    contents = {}
    for name in [*HARASSMENT_ACCOUNTS, *CSAM_ACCOUNTS]:
        contents[name] = ensure_content(
            db,
            actor=SYSTEM,
            ref=ContentRef(
                id=f"{prefix}c-{name}",
                url=f"https://example.test/{prefix}{name}",
                account=AccountRef(id=f"{prefix}{name}", handle=f"@{prefix}{name}"),
            ),
        )
    db.flush()
    when = clock.now()
    for name, (strikes, prior) in HARASSMENT_ACCOUNTS.items():
        account_id = contents[name].account_id
        for weight, days_ago, removed in strikes:
            db.add(
                AccountStrike(
                    account_id=account_id,
                    policy_id="harassment",
                    weight=weight,
                    case_id=None,
                    created_at=when - timedelta(days=days_ago),
                    expires_at=when - timedelta(days=days_ago) + timedelta(days=180),
                    removed_at=when if removed else None,
                    removed_reason="appeal" if removed else None,
                )
            )
        for kind in prior:
            apply_action(db, actor=ACTOR, kind=kind, account_id=account_id, policy_ref="harassment@2", facts="before")
    # DSA-7, Art. 23(3): a suspension weighs items, not strikes alone: the account due a suspension
    # had an earlier post removed too (two items, all it posted).
    earlier = ensure_content(
        db,
        actor=SYSTEM,
        ref=ContentRef(id=f"{prefix}c-due-suspend-earlier", account=AccountRef(id=f"{prefix}due-suspend")),
    )
    db.flush()
    apply_action(db, actor=ACTOR, kind="remove", content_id=earlier.id, policy_ref="harassment@2", facts="before")
    for name, prior in CSAM_ACCOUNTS.items():
        for kind in prior:
            apply_action(
                db, actor=ACTOR, kind=kind, account_id=contents[name].account_id, policy_ref="csam@2", facts="before"
            )
    return contents


def _content_specs(contents: dict[str, PlatformContent]) -> list[dict[str, Any]]:
    specs: list[dict[str, Any]] = []
    for i, (name, content) in enumerate(contents.items()):
        specs.append(
            {
                "kind": "remove",
                "content_id": content.id,
                "policy_ref": "harassment@2",
                "facts": f"posted at {content.url} by @{name}",
                "automated_detection": i % 2 == 0,
                "automated_decision": True,
                "details": {"copy_of_case": 1, "distance": i},
            }
        )
        if i % 3 == 0:
            specs.append(
                {
                    "kind": "label",
                    "content_id": content.id,
                    "policy_ref": "harassment@2",
                    "facts": "labelled",
                    "territorial_scope": ["DE", "EL"],
                    "details": {"n": i},
                }
            )
    specs.append(
        {
            "kind": "restrict_distribution",
            "content_id": contents["fresh"].id,
            "facts": "pending review",
            "interim": True,
            "details": {"scope": ["search"]},
        }
    )
    return specs


def _strike_requests(contents: dict[str, PlatformContent]) -> list[StrikeRequest]:
    catalogue = default_catalogue()
    harassment, csam = catalogue.get("harassment"), catalogue.get("csam")
    requests = []
    for name, content in contents.items():
        policy = csam if name in CSAM_ACCOUNTS else harassment
        assert content.account_id is not None
        requests.append(
            StrikeRequest(
                content.account_id,
                policy,
                None,
                f"strike for @{name}",
                automated=True,
                details={"copy_of_case": 1, "sweep_id": 2},
            )
        )
    return requests


def _run(database: Database, clock, prefix: str, batched: bool) -> None:
    clock.set(START)  # both runs at the same times, so that every timestamp compares
    with database.unit_of_work() as db:
        contents = _setup(db, prefix, clock)
    clock.advance(minutes=5)
    with database.unit_of_work() as db:
        contents = {name: db.get_one(PlatformContent, c.id) for name, c in contents.items()}
        specs, requests = _content_specs(contents), _strike_requests(contents)
        if batched:
            apply_actions(db, actor=ACTOR, specs=specs)
            add_strikes(db, actor=ACTOR, requests=requests)
        else:
            for spec in specs:
                apply_action(db, actor=ACTOR, **spec)
            for r in requests:
                add_strike(
                    db,
                    actor=ACTOR,
                    account_id=r.account_id,
                    policy=r.policy,
                    case_id=r.case_id,
                    facts=r.facts,
                    automated=r.automated,
                    details=r.details,
                )
    clock.advance(minutes=5)


def _snapshot(database: Database, prefix: str) -> dict[str, Any]:
    """Every row the step made, with ids replaced by the platform's names (without the run's
    prefix) and statement codes by a placeholder, so two runs compare field by field."""
    with database.unit_of_work(write=False) as db:
        accounts = {
            a.id: a.platform_id.removeprefix(prefix)
            for a in db.execute(
                sa.select(PlatformAccount).where(PlatformAccount.platform_id.startswith(prefix))
            ).scalars()
        }
        contents = {
            c.id: c.platform_id.removeprefix(prefix)
            for c in db.execute(
                sa.select(PlatformContent).where(PlatformContent.platform_id.startswith(prefix))
            ).scalars()
        }
        actions = (
            db.execute(
                sa.select(EnforcementAction)
                .where(
                    sa.or_(EnforcementAction.account_id.in_(accounts), EnforcementAction.content_id.in_(contents)),
                    EnforcementAction.facts != "before",
                )
                .order_by(EnforcementAction.id)
            )
            .scalars()
            .all()
        )
        action_no = {a.id: n for n, a in enumerate(actions)}
        change_seqs = {a.id: a.change_seq for a in actions if a.change_seq is not None}
        assert len(change_seqs) == len(actions)  # every action is in the change feed
        first_seq = min(change_seqs.values())

        def subject(a: Any) -> str:
            return f"account:{accounts[a.account_id]}" if a.account_id else f"content:{contents[a.content_id]}"

        def uncoded(value: Any, code: str | None = None) -> str:
            text = repr(value)
            return (text.replace(code, "CODE") if code else text).replace(prefix, "")

        skip = {"id", "account_id", "content_id", "change_seq"}
        rows: dict[str, Any] = {
            "actions": [
                {
                    **{
                        c.key: uncoded(getattr(a, c.key))
                        for c in EnforcementAction.__table__.columns
                        if c.key not in skip
                    },
                    "subject": subject(a),
                    "seq": change_seqs[a.id] - first_seq,
                }
                for a in actions
            ]
        }
        strikes = (
            db.execute(
                sa.select(AccountStrike).where(AccountStrike.account_id.in_(accounts)).order_by(AccountStrike.id)
            )
            .scalars()
            .all()
        )
        rows["strikes"] = [
            {
                **{
                    c.key: uncoded(getattr(s, c.key))
                    for c in AccountStrike.__table__.columns
                    if c.key not in ("id", "account_id")
                },
                "account": accounts[s.account_id],
            }
            for s in strikes
        ]
        statements = (
            db.execute(
                sa.select(StatementOfReasons)
                .where(StatementOfReasons.action_id.in_(action_no))
                .order_by(StatementOfReasons.id)
            )
            .scalars()
            .all()
        )
        statement_no = {s.id: n for n, s in enumerate(statements)}

        rows["statements"] = [
            {
                **{
                    c.key: uncoded(getattr(s, c.key), s.code)
                    for c in StatementOfReasons.__table__.columns
                    if c.key not in ("id", "code", "tdb_puid", "action_id", "account_id", "content_id")
                },
                "action": action_no[s.action_id],
                "subject": subject(s),
            }
            for s in statements
        ]
        jobs = db.execute(sa.select(Job).where(Job.kind == DELIVER_WEBHOOK).order_by(Job.id)).scalars().all()
        assert all(j.idempotency_key is not None for j in jobs)
        rows["jobs"] = [
            {
                "action": action_no[j.payload["action_id"]],
                "event": j.payload["event"],
                "key": str(j.idempotency_key).replace(str(j.payload["action_id"]), "A"),
                "ordering": subject(db.get_one(EnforcementAction, j.payload["action_id"])),
                "state": j.state,
                "run_at": j.run_at,
                "max_attempts": j.max_attempts,
            }
            for j in jobs
            if j.payload.get("action_id") in action_no
        ]
        events: dict[str, list[tuple[str, str]]] = {}
        strike_ids = {s.id for s in strikes}
        for e in db.execute(
            sa.select(AuditEvent)
            .where(
                AuditEvent.tag.in_(
                    (AuditTag.ACTION_APPLY.value, AuditTag.STRIKE_ADD.value, AuditTag.STATEMENT_ISSUE.value)
                )
            )
            .order_by(AuditEvent.seq)
        ).scalars():
            data = dict(e.data)
            if data.get("action_id") in action_no:
                data["action_id"] = action_no[data["action_id"]]
            elif "strike_id" in data and data["strike_id"] in strike_ids:
                data.pop("strike_id")
            else:
                continue
            if e.subject_type == "statement":
                key = f"statement:{statement_no[int(e.subject_id)]}"
            elif e.subject_type == "account":
                key = f"account:{accounts[int(e.subject_id)]}"
            else:
                key = f"content:{contents[int(e.subject_id)]}"
            events.setdefault(key, []).append((e.tag, uncoded(sorted(data.items()))))
        rows["audit"] = events
        assert audit.verify(db).ok
    return rows


def test_x5_dsa7_batch_path_makes_the_same_rows_as_one_call_per_item(database: Database, clock) -> None:
    """REQ X-5, DSA-7, DSA Art. 17: the same scenario (every rung of the strike ladder, prior
    warnings, measures already in force, expired and removed strikes, immediate termination,
    content actions with scope, interim and automation flags) through `apply_action`/`add_strike`
    one at a time and through `apply_actions`/`add_strikes` leaves the same rows, field by field."""
    _run(database, clock, "one-", batched=False)
    _run(database, clock, "all-", batched=True)
    one, batch = _snapshot(database, "one-"), _snapshot(database, "all-")
    # The scenario reaches every outcome, or the comparison proves little.
    kinds = {(a["subject"], a["kind"].strip("'")) for a in one["actions"]}
    assert {
        ("account:fresh", "warn"),
        ("account:warned-once", "warn"),
        ("account:due-suspend", "suspend"),
        ("account:never-warned", "warn"),
        ("account:due-terminate", "terminate"),
        ("account:expired", "warn"),
        ("account:removed", "warn"),
        ("account:csam-new", "terminate"),
    } <= kinds
    assert not {k for k in kinds if k[0] in ("account:suspended", "account:terminated", "account:csam-done")}
    assert len(one["statements"]) == len([a for a in one["actions"] if a["kind"] != repr("warn")])
    assert len(one["jobs"]) == len(one["actions"])
    for part in ("actions", "strikes", "statements", "jobs"):
        assert len(one[part]) == len(batch[part]), part
        for n, (a, b) in enumerate(zip(one[part], batch[part], strict=True)):
            assert a == b, (part, n)
    assert one["audit"] == batch["audit"]


def test_x5_batch_strikes_take_each_account_once(db, clock) -> None:
    """REQ X-5: each total is read after the whole batch is in, so an account twice would be
    counted wrong; it is refused before anything is written."""
    content = ensure_content(db, actor=SYSTEM, ref=ContentRef(id="c-twice", account=AccountRef(id="twice")))
    harassment = default_catalogue().get("harassment")
    assert content.account_id is not None
    request = StrikeRequest(content.account_id, harassment, None, "strike")
    with pytest.raises(InvalidInput):
        add_strikes(db, actor=ACTOR, requests=[request, request])
    assert db.execute(sa.select(AccountStrike)).scalars().all() == []


def test_x5_batch_actions_check_every_spec_before_writing(db) -> None:
    """REQ X-5: one bad spec in a batch writes none of it."""
    content = ensure_content(db, actor=SYSTEM, ref=ContentRef(id="c-bad", account=AccountRef(id="bad")))
    with pytest.raises(InvalidInput):
        apply_actions(
            db,
            actor=ACTOR,
            specs=[{"kind": "remove", "content_id": content.id}, {"kind": "suspend", "content_id": content.id}],
        )
    assert db.execute(sa.select(EnforcementAction)).scalars().all() == []
