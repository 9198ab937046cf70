"""A realistic mixed week of trust-and-safety work, built through the real actions, for the
transparency report tests: notices from every source, human and automated decisions, removals
acknowledged, legal tracks met and breached, appeals reversed and upheld, a second review that
overturns, an Art. 23 account suspension and a notifier suspension, and consistency checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown.actors import SYSTEM, Actor
from staydown.appeals import actions, disputes, filing
from staydown.appeals.models import Appeal
from staydown.cases import actions as cases
from staydown.cases.models import Case
from staydown.clock import FrozenClock
from staydown.enforcement.measures import acknowledge_action
from staydown.enforcement.models import EnforcementAction
from staydown.flows import appeals as appeal_flow
from staydown.flows import decisions as decision_flow
from staydown.intake import misuse
from staydown.intake.actions import submit_notice
from staydown.intake.models import Notice, Notifier
from staydown.intake.schemas import NoticeIn
from staydown.matching.matcher import BankMatch
from staydown.policies.catalogue import Catalogue
from staydown.staff.actions import create_api_client, create_staff_user
from staydown.staff.permissions import permissions_for_roles
from staydown.subjects.records import ensure_content
from staydown.subjects.schemas import AccountRef, ContentRef
from staydown.transparency.consistency import (
    ConsistencyCheck,
    record_exception,
    record_second_opinion,
    sample_decisions,
)
from staydown.transparency.models import StatementOfReasons

START = datetime(2026, 6, 1, tzinfo=UTC)
END = datetime(2026, 6, 8, tzinfo=UTC)
HIGH_REACH = 100_000


@dataclass
class Week:
    staff: dict[str, Actor] = field(default_factory=dict)
    cases: dict[str, int] = field(default_factory=dict)
    decisions: dict[str, int] = field(default_factory=dict)


def make_staff(db: Session, username: str, *roles: str) -> Actor:
    user = create_staff_user(db, actor=SYSTEM, username=username, roles=list(roles))
    return Actor.staff(user.id, username, permissions_for_roles(list(roles)))


def notice(db: Session, catalogue: Catalogue, *, actor: Actor = SYSTEM, **fields: Any) -> Case:
    receipt = submit_notice(db, actor=actor, notice=NoticeIn(**fields), catalogue=catalogue)
    db.flush()
    return receipt.cases[0] if receipt.cases else None  # type: ignore[return-value]


def decide(
    db: Session, catalogue: Catalogue, reviewer: Actor, case: Case, policy: str, outcome: str, **kwargs: Any
) -> Any:
    if reviewer.kind.value == "staff":
        cases.claim_case(db, actor=reviewer, case=case)
    return decision_flow.decide_case(
        db,
        actor=reviewer,
        case=case,
        policy_ref=catalogue.ref(policy),
        outcome=outcome,
        facts=kwargs.pop("facts", f"what the reviewer saw on case {case.id}"),
        catalogue=catalogue,
        **kwargs,
    )


def ack_removals(db: Session, case: Case) -> None:
    for action in db.execute(
        sa.select(EnforcementAction).where(
            EnforcementAction.case_id == case.id, EnforcementAction.kind.in_(("remove", "disable"))
        )
    ).scalars():
        acknowledge_action(db, actor=SYSTEM, action=action, status="applied")


def detection(
    db: Session,
    catalogue: Catalogue,
    content: str,
    account: str,
    *,
    bank: str,
    signal_type: str,
    policy: str = "violence-glorification",
) -> Case:
    match = BankMatch(
        bank=bank,
        bank_id=1,
        entry_id=7,
        signal_type=signal_type,
        distance=4,
        threshold=31,
        action="hold",
        policy_id=policy,
        confirmed_material=False,
    )
    ensure_content(db, actor=SYSTEM, ref=ContentRef(id=content, account=AccountRef(id=account)))
    receipt = decision_flow.submit_detection(
        db,
        content_platform_id=content,
        account_platform_id=account,
        matches=[match],
        verdict="hold",
        catalogue=catalogue,
    )
    db.flush()
    return receipt.cases[0]


def notifier_appeal(db: Session, case: Case, basis: str = "no_action") -> Appeal:
    code = db.execute(
        sa.select(Notice.tracking_code).where(Notice.case_id == case.id).order_by(Notice.id).limit(1)
    ).scalar_one()
    return filing.file_appeal(
        db,
        actor=SYSTEM,
        tracking_code=code,
        basis=basis,
        explanation="the content is still there and it is clearly against your rules",
    )


def decide_appeal(db: Session, catalogue: Catalogue, actor: Actor, appeal: Appeal, outcome: str, **kwargs: Any) -> Any:
    actions.claim_appeal(db, actor=actor, appeal=appeal)
    return appeal_flow.decide_appeal(
        db,
        actor=actor,
        appeal=appeal,
        outcome=outcome,
        reasons="on a fresh look the decision does not hold",
        catalogue=catalogue,
        **kwargs,
    )


def affected_user_appeal(db: Session, case: Case, decision_id: int, basis: str) -> Appeal:
    """An affected user's appeal. Filed through appeals.filing with the statement of reasons'
    code when the restriction has one; the statement is issued by apply_action."""

    code = db.execute(
        sa.select(StatementOfReasons.code)
        .where(StatementOfReasons.case_id == case.id)
        .order_by(StatementOfReasons.id)
        .limit(1)
    ).scalar_one()
    return filing.file_appeal(
        db,
        actor=SYSTEM,
        statement_code=code,
        basis=basis,
        explanation="this was a news report about the attack, not praise of it",
    )


def build_week(db: Session, clock: FrozenClock, catalogue: Catalogue) -> Week:
    week = Week()
    mo = week.staff["mo"] = make_staff(db, "mo", "moderator")
    mo2 = week.staff["mo2"] = make_staff(db, "mo2", "moderator")
    senior = week.staff["senior"] = make_staff(db, "senior", "senior_moderator")
    cs1 = week.staff["cs1"] = make_staff(db, "cs1", "child_safety")
    legal = week.staff["legal"] = make_staff(db, "legal", "legal")
    client = create_api_client(db, actor=SYSTEM, name="hotline").client
    flagger = misuse.register_trusted_flagger(
        db,
        actor=SYSTEM,
        name="Hotline e.V.",
        areas=["hate_harassment"],
        designated_by="Bundesnetzagentur (DSC)",
        api_client_id=client.id,
    )
    flagger_actor = Actor.api_client(client.id, "hotline")
    assert flagger.id

    # Before the period: a notice that must not count.
    clock.set(START - timedelta(hours=1))
    notice(
        db,
        catalogue,
        kind="user_report",
        policy_id="spam",
        reporter_id="early",
        explanation="spam links",
        items=[{"content_id": "early-1", "account_id": "u-early"}],
    )

    clock.set(START + timedelta(hours=12))  # 2026-06-01 12:00
    # A high-reach account: three harassment cases, decided and acknowledged; the strike ladder
    # warns twice, then suspends (DSA Art. 23, after a prior warning).
    ensure_content(
        db, actor=SYSTEM, ref=ContentRef(id="post-1", account=AccountRef(id="u-star", metadata={"followers": 250_000}))
    )
    for i in (1, 2, 3):
        case = notice(
            db,
            catalogue,
            kind="public_report",
            policy_id="harassment",
            reporter_id=f"victim-{i}",
            explanation="threats against me",
            items=[{"content_id": f"post-{i}", "account_id": "u-star"}],
        )
        clock.advance(hours=2 * i)
        result = decide(db, catalogue, mo, case, "harassment", "violates")
        week.cases[f"harass-{i}"], week.decisions[f"harass-{i}"] = case.id, result.decision.id
        clock.advance(hours=1)
        ack_removals(db, case)

    # A trusted flagger's notice (hate): decided with removal only, no strike: an exception,
    # recorded with reasons.
    case = notice(
        db,
        catalogue,
        actor=flagger_actor,
        kind="dsa_notice",
        policy_id="hate",
        explanation="incitement against a group",
        items=[{"content_id": "post-h", "account_id": "u-h"}],
    )
    clock.advance(hours=5)
    result = decide(db, catalogue, mo2, case, "hate", "violates", actions=["remove"])
    week.cases["hate"], week.decisions["hate"] = case.id, result.decision.id
    record_exception(
        db,
        actor=mo2,
        decision=result.decision,
        kind="measures_differ",
        reasons="first offence of a satirical account: removal without a strike is proportionate",
    )
    # A second trusted-flagger case decided with other measures and no exception recorded.
    case = notice(
        db,
        catalogue,
        actor=flagger_actor,
        kind="dsa_notice",
        policy_id="hate",
        explanation="slurs",
        items=[{"content_id": "post-h2", "account_id": "u-h2"}],
    )
    clock.advance(hours=3)
    result = decide(db, catalogue, mo2, case, "hate", "violates", actions=["age_restrict"])
    week.cases["hate-2"], week.decisions["hate-2"] = case.id, result.decision.id

    # DSA notices decided "no violation"; the notifiers appeal: one reversed, one upheld.
    for name, policy, content in (("spam-rev", "spam", "post-s1"), ("spam-up", "spam", "post-s2")):
        case = notice(
            db,
            catalogue,
            kind="dsa_notice",
            policy_id=policy,
            reporter_id=f"rep-{name}",
            explanation="this is a spam bot",
            items=[{"content_id": content, "account_id": "u-s"}],
        )
        clock.advance(hours=4)
        result = decide(db, catalogue, mo, case, policy, "does_not_violate")
        week.cases[name], week.decisions[name] = case.id, result.decision.id
    clock.advance(hours=1)
    appeal = notifier_appeal(db, db.get_one(Case, week.cases["spam-rev"]))
    clock.advance(hours=20)
    decide_appeal(db, catalogue, senior, appeal, "reversed")
    appeal = notifier_appeal(db, db.get_one(Case, week.cases["spam-up"]))
    clock.advance(hours=30)
    decide_appeal(db, catalogue, senior, appeal, "upheld")

    # TAKE IT DOWN requests: one removed and acknowledged after the 48 hours (met late), one
    # never acted on (overdue after the deadline sweep).
    clock.set(START + timedelta(days=2, hours=9))
    tid: dict[str, Any] = {
        "kind": "take_it_down",
        "reporter_kind": "affected_person",
        "signature": "A. Person",
        "good_faith": True,
        "explanation": "an intimate image of me shared without my consent",
        "contact_email": "a@example.org",
    }
    case = notice(db, catalogue, items=[{"content_id": "img-1", "account_id": "u-x"}], **tid)
    week.cases["tid-late"] = case.id
    clock.advance(hours=6)
    result = decide(db, catalogue, senior, case, "ncii", "violates")
    week.decisions["tid-late"] = result.decision.id
    case2 = notice(db, catalogue, items=[{"content_id": "img-2", "account_id": "u-y"}], **tid)
    week.cases["tid-missed"] = case2.id
    clock.advance(hours=50)
    cases.sweep_deadlines(db, actor=SYSTEM)
    ack_removals(db, case)

    # A "no violation" on an intimate-image report waits for a second reviewer, who disagrees.
    case = notice(
        db,
        catalogue,
        kind="public_report",
        reporter_kind="affected_person",
        policy_id="ncii",
        explanation="my ex posted this",
        contact_email="b@example.org",
        items=[{"content_id": "img-3", "account_id": "u-z"}],
    )
    clock.advance(hours=2)
    pending = decide(db, catalogue, senior, case, "ncii", "does_not_violate").decision
    clock.advance(hours=3)
    decision_flow.second_review(
        db,
        actor=cs1,
        case=db.get_one(Case, case.id),
        agree=False,
        facts="the person is identifiable and did not consent",
        catalogue=catalogue,
    )
    week.cases["ncii-2nd"], week.decisions["ncii-2nd"] = case.id, pending.id

    # Detections at scan (own initiative): per bank and signal type.
    case = detection(db, catalogue, "up-1", "u-d1", bank="extremism-hashes", signal_type="pdq")
    clock.advance(minutes=30)
    result = decide(db, catalogue, SYSTEM, case, "violence-glorification", "violates", automated=True)
    week.cases["det-auto"], week.decisions["det-auto"] = case.id, result.decision.id
    clock.advance(hours=1)
    appeal = affected_user_appeal(db, case, result.decision.id, "proactive_technology")
    clock.advance(hours=10)
    # The match was right, the decision wrong: the entry stays (DSA-4, the false-positive question).
    decide_appeal(db, catalogue, senior, appeal, "reversed", bank_entry_wrong=False)
    case = detection(db, catalogue, "up-2", "u-d2", bank="extremism-hashes", signal_type="md5")
    clock.advance(hours=1)
    result = decide(db, catalogue, mo, case, "violence-glorification", "does_not_violate")
    week.cases["det-rejected"], week.decisions["det-rejected"] = case.id, result.decision.id
    case = detection(db, catalogue, "up-3", "u-d3", bank="partner-list", signal_type="pdq")
    clock.advance(hours=2)
    result = decide(db, catalogue, mo2, case, "violence-glorification", "violates")
    week.cases["det-confirmed"], week.decisions["det-confirmed"] = case.id, result.decision.id
    detection(db, catalogue, "up-4", "u-d4", bank="partner-list", signal_type="pdq")  # not yet decided

    # A notifier who sends manifestly unfounded reports: warned, then suspended (DSA Art. 23);
    # their next report is not processed.
    for i in range(5):
        case = notice(
            db,
            catalogue,
            kind="user_report",
            policy_id="spam",
            reporter_id="troll",
            explanation="ban this",
            items=[{"content_id": f"fine-{i}", "account_id": "u-fine"}],
        )
        clock.advance(minutes=20)
        decide(db, catalogue, mo2, case, "spam", "does_not_violate", manifestly_unfounded=True)
    troll = db.execute(sa.select(Notifier).where(Notifier.key == "platform:troll")).scalar_one()
    misuse.warn_notifier(
        db, actor=senior, notifier=troll, reasons="five reports in a row about content that plainly breaks no rule"
    )
    misuse.suspend_notifier(
        db,
        actor=senior,
        notifier=troll,
        gravity="a steady stream of baseless reports that takes reviewer time",
        intent="the reports target one person's ordinary posts, deliberately",
        until=clock.now() + timedelta(days=30),
    )
    notice(
        db,
        catalogue,
        kind="user_report",
        policy_id="spam",
        reporter_id="troll",
        explanation="ban",
        items=[{"content_id": "fine-9", "account_id": "u-fine"}],
    )

    # An out-of-court dispute on the upheld appeal, settled and implemented.
    upheld = db.execute(sa.select(Appeal).where(Appeal.case_id == week.cases["spam-up"])).scalar_one()
    dispute = disputes.record_dispute(db, actor=legal, body="User Rights ODS", appeal_id=upheld.id)
    clock.advance(hours=6)
    disputes.record_dispute_outcome(db, actor=legal, dispute=dispute, outcome="settled")
    disputes.mark_dispute_implemented(
        db, actor=legal, dispute=dispute, implemented=True, notes="the content was age-restricted as agreed"
    )

    # Consistency: every decided case is sampled here (rate 1); two second opinions recorded.
    sample_decisions(db, actor=SYSTEM, rate=1.0)
    checks = {c.decision_id: c for c in db.execute(sa.select(ConsistencyCheck)).scalars()}
    record_second_opinion(
        db,
        actor=mo2,
        check=checks[week.decisions["harass-1"]],
        outcome="violates",
        policy_ref=catalogue.ref("harassment"),
        facts="clear threats",
        catalogue=catalogue,
    )
    record_second_opinion(
        db,
        actor=mo,
        check=checks[week.decisions["hate"]],
        outcome="does_not_violate",
        policy_ref=catalogue.ref("hate"),
        facts="reads as satire to me",
        catalogue=catalogue,
    )

    # After the period: must not count (the end is exclusive).
    clock.set(END)
    notice(
        db,
        catalogue,
        kind="user_report",
        policy_id="spam",
        reporter_id="late",
        explanation="spam",
        items=[{"content_id": "late-1", "account_id": "u-late"}],
    )
    clock.advance(hours=1)
    db.flush()
    return week
