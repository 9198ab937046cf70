"""The strike ladder: weighted strikes per policy within a window lead to a warning, a suspension
(only after a prior warning, DSA-7), or termination (at once, where the policy says so)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import Actor
from staydown.audit import AuditTag
from staydown.db import now
from staydown.enforcement.actions import apply_actions
from staydown.enforcement.models import AccountStrike, ActionState, EnforcementAction
from staydown.errors import InvalidInput
from staydown.policies.schema import Policy
from staydown.subjects.models import PlatformContent


def active_strike_weight(db: Session, *, account_id: int, policy_id: str) -> int:
    when = now(db)
    total = db.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(AccountStrike.weight), 0)).where(
            AccountStrike.account_id == account_id,
            AccountStrike.policy_id == policy_id,
            AccountStrike.removed_at.is_(None),
            AccountStrike.expires_at > when,
        )
    )
    return int(total or 0)


@dataclass(frozen=True)
class StrikeRequest:
    """One `add_strike` call, kept for `add_strikes` (the sweep gathers a chunk's)."""

    account_id: int
    policy: Policy
    case_id: int | None
    facts: str
    automated: bool = False
    details: dict = field(default_factory=dict)


def add_strike(
    db: Session,
    *,
    actor: Actor,
    account_id: int,
    policy: Policy,
    case_id: int | None,
    facts: str,
    automated: bool = False,
    details: dict | None = None,
    batch: list[StrikeRequest] | None = None,
) -> list[EnforcementAction]:
    """Record a strike and apply what the ladder says the new total leads to. With `batch`, the
    strike is only added to that list, for one `add_strikes` call later (returns [] then)."""
    request = StrikeRequest(account_id, policy, case_id, facts, automated, dict(details or {}))
    if batch is not None:
        batch.append(request)
        return []
    return add_strikes(db, actor=actor, requests=[request])


def _in_force(db: Session, account_ids: list[int], kinds: tuple[str, ...]) -> set[tuple[int, str]]:
    if not account_ids:
        return set()
    return {
        (a, k)
        for a, k in db.execute(
            sa.select(EnforcementAction.account_id, EnforcementAction.kind).where(
                EnforcementAction.account_id.in_(account_ids),
                EnforcementAction.kind.in_(kinds),
                EnforcementAction.state == ActionState.active.value,
            )
        ).all()
        if a is not None  # none is: the accounts asked for
    }


# DSA Art. 23(3): a suspension weighs "(a) the absolute numbers of items of manifestly illegal
# content ... (b) the relative proportion thereof in relation to the total number of items ...
# (c) the gravity of the misuse ... and its consequences; (d) where it is possible to identify
# it, the intention of the recipient". The count is necessary, never sufficient.
MIN_ITEMS = 2  # one item is not "frequently"
MIN_PROPORTION = 0.1  # a tenth of what the account posted that staydown knows of
GRAVE = ("critical", "high")
REMOVAL = ("remove", "disable")


@dataclass(frozen=True)
class Weighing:
    """The record of one Art. 23 weighing: what was counted, and why it does or does not suspend."""

    items: int  # distinct items of this account removed or disabled, in force, within the window
    known_items: int  # items of this account staydown knows of
    proportion: float | None
    gravity: str
    after_warning: int  # items posted after the prior warning: the clearest sign of intent
    suspend: bool
    why: str

    def record(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "known_items": self.known_items,
            "proportion": self.proportion,
            "gravity": self.gravity,
            "items_after_warning": self.after_warning,
            "suspend": self.suspend,
            "why": self.why,
            "basis": "DSA Art. 23(3)(a)-(d)",
        }


def weigh_suspension(db: Session, *, account_id: int, policy: Policy, since: Any, warned_at: Any) -> Weighing:
    removed = set(
        db.execute(
            sa.select(EnforcementAction.content_id)
            .join(PlatformContent, PlatformContent.id == EnforcementAction.content_id)
            .where(
                PlatformContent.account_id == account_id,
                EnforcementAction.kind.in_(REMOVAL),
                EnforcementAction.state == ActionState.active.value,
                EnforcementAction.created_at >= since,
            )
        ).scalars()
    )
    known = int(
        db.scalar(
            sa.select(sa.func.count()).select_from(PlatformContent).where(PlatformContent.account_id == account_id)
        )
        or 0
    )
    after = 0
    if warned_at is not None and removed:
        after = int(
            db.scalar(
                sa.select(sa.func.count())
                .select_from(PlatformContent)
                .where(
                    PlatformContent.id.in_(sorted(removed)),
                    sa.func.coalesce(PlatformContent.created_at, PlatformContent.first_seen_at) > warned_at,
                )
            )
            or 0
        )
    items = len(removed)
    proportion = round(items / known, 4) if known else None
    grave = policy.severity in GRAVE
    heavy = proportion is not None and proportion >= MIN_PROPORTION
    if items < MIN_ITEMS:
        suspend, why = False, f"{items} item(s) found manifestly illegal: not frequent"
    elif grave or heavy or after:
        reasons = [
            r
            for r, on in (
                (f"gravity {policy.severity}", grave),
                (f"{proportion:.0%} of the account's items" if proportion is not None else "", heavy),
                (f"{after} item(s) posted after the prior warning", after),
            )
            if on
        ]
        suspend, why = True, f"{items} items, and " + "; ".join(reasons)
    else:
        suspend, why = (
            False,
            (
                f"{items} items, but {proportion:.0%} of the account's items, of {policy.severity} "
                "gravity, none after the warning: count alone does not suspend"
                if proportion is not None
                else f"{items} items, count alone does not suspend"
            ),
        )
    return Weighing(items, known, proportion, policy.severity, after, suspend, why)


def add_strikes(db: Session, *, actor: Actor, requests: list[StrikeRequest]) -> list[EnforcementAction]:
    """`add_strike` for many accounts at once: the same strikes, audit events and ladder actions,
    with the strikes inserted in one flush, the totals, prior warnings and measures in force read
    in one query each, and the actions applied with `apply_actions`. The accounts must differ
    (each total is read after every strike of the batch is in)."""
    if len({r.account_id for r in requests}) != len(requests):
        raise InvalidInput("add_strikes takes each account once")
    if not requests:
        return []
    when = now(db)
    ids = [r.account_id for r in requests]
    common: dict[int, dict[str, Any]] = {
        r.account_id: {
            "account_id": r.account_id,
            "case_id": r.case_id,
            "policy_ref": r.policy.ref,
            "facts": r.facts,
            "automated_decision": r.automated,
            "automated_detection": r.automated,
            "details": r.details,
        }
        for r in requests
    }
    plans: dict[int, dict[str, Any] | None] = {}
    immediate = [r for r in requests if r.policy.strike.terminate_immediately]
    laddered = [r for r in requests if not r.policy.strike.terminate_immediately]
    terminated = _in_force(db, [r.account_id for r in immediate], ("terminate",))
    for r in immediate:
        plans[r.account_id] = (
            None if (r.account_id, "terminate") in terminated else dict(kind="terminate", **common[r.account_id])
        )
    if laddered:
        # A sweep's strike counts once per source item: an account already struck under the same
        # case (its decision, or an earlier sweep of it) is not struck again for more copies.
        swept = [r for r in laddered if r.details.get("copy_of_case")]
        struck = (
            set(
                db.execute(
                    sa.select(AccountStrike.account_id, AccountStrike.case_id).where(
                        AccountStrike.account_id.in_([r.account_id for r in swept]),
                        AccountStrike.case_id.in_([r.case_id for r in swept if r.case_id] or [-1]),
                        AccountStrike.removed_at.is_(None),
                    )
                ).all()
            )
            if swept
            else set()
        )
        laddered = [r for r in laddered if not (r.details.get("copy_of_case") and (r.account_id, r.case_id) in struck)]
        for r in requests:
            if r.account_id not in plans and r not in laddered and not r.policy.strike.terminate_immediately:
                plans[r.account_id] = None
    if laddered:
        strikes = [
            AccountStrike(
                account_id=r.account_id,
                policy_id=r.policy.id,
                weight=r.policy.strike.weight,
                case_id=r.case_id,
                created_at=when,
                expires_at=when + timedelta(days=r.policy.strike.window_days),
            )
            for r in laddered
        ]
        db.add_all(strikes)
        db.flush()
        wanted = [r.account_id for r in laddered]
        totals = {
            (a, p): int(t or 0)
            for a, p, t in db.execute(
                sa.select(AccountStrike.account_id, AccountStrike.policy_id, sa.func.sum(AccountStrike.weight))
                .where(
                    AccountStrike.account_id.in_(wanted),
                    AccountStrike.removed_at.is_(None),
                    AccountStrike.expires_at > when,
                )
                .group_by(AccountStrike.account_id, AccountStrike.policy_id)
            ).all()
        }
        in_force = _in_force(db, wanted, ("terminate", "suspend"))
        warned_at = dict(
            db.execute(
                sa.select(EnforcementAction.account_id, sa.func.min(EnforcementAction.created_at))
                .where(EnforcementAction.account_id.in_(wanted), EnforcementAction.kind == "warn")
                .group_by(EnforcementAction.account_id)
            ).all()
        )
        warned = set(warned_at)
        for r, strike in zip(laddered, strikes, strict=True):
            ladder, account_id = r.policy.strike, r.account_id
            total = totals.get((account_id, r.policy.id), 0)
            audit.record(
                db,
                actor=actor,
                tag=AuditTag.STRIKE_ADD,
                subject_type="account",
                subject_id=account_id,
                data={
                    "strike_id": strike.id,
                    "policy": r.policy.ref,
                    "weight": ladder.weight,
                    "total": total,
                    "case_id": r.case_id,
                },
            )
            plan: dict[str, Any] | None = None
            if total >= ladder.terminate_at:
                if (account_id, "terminate") not in in_force:
                    plan = dict(kind="terminate", **common[account_id])
            elif total >= ladder.suspend_at:
                if account_id not in warned:
                    # DSA-7: no suspension without a prior warning.
                    plan = dict(kind="warn", **common[account_id])
                elif (account_id, "suspend") not in in_force:
                    weighing = weigh_suspension(
                        db,
                        account_id=account_id,
                        policy=r.policy,
                        since=when - timedelta(days=ladder.window_days),
                        warned_at=warned_at.get(account_id),
                    )
                    audit.record(
                        db,
                        actor=actor,
                        tag=AuditTag.SUSPENSION_WEIGH,
                        subject_type="account",
                        subject_id=account_id,
                        data={"policy": r.policy.ref, "strikes": total, "case_id": r.case_id, **weighing.record()},
                    )
                    if weighing.suspend:
                        spec = common[account_id]
                        plan = dict(
                            kind="suspend",
                            ends_at=when + timedelta(days=ladder.suspend_days),
                            **{
                                **spec,
                                "details": {**spec["details"], "art23": weighing.record()},
                                "facts": f"{spec['facts']} (Art. 23 weighing: {weighing.why})",
                            },
                        )
            elif total >= ladder.warn_at:
                plan = dict(kind="warn", **common[account_id])
            plans[account_id] = plan
    # In the order asked, as one call each would have applied them.
    return apply_actions(db, actor=actor, specs=[plan for a in ids if (plan := plans[a]) is not None])


def remove_strikes(db: Session, *, actor: Actor, case_id: int, reason: str) -> int:
    strikes = (
        db.execute(sa.select(AccountStrike).where(AccountStrike.case_id == case_id, AccountStrike.removed_at.is_(None)))
        .scalars()
        .all()
    )
    for strike in strikes:
        strike.removed_at = now(db)
        strike.removed_reason = reason
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.STRIKE_REMOVE,
            subject_type="account",
            subject_id=strike.account_id,
            data={"strike_id": strike.id, "case_id": case_id, "reason": reason},
        )
    return len(strikes)
