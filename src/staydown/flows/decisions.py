"""A decision's path through the packages: the case records it (`cases.actions`), its measures
apply (`enforcement.measures`, each with its statement of reasons and webhook), the stay-down bank
and sweep follow, the clocks move (`cases.tracks`), the notifiers are told (`cases.notify`), a
partner's list hears back (`exchanges.feedback`).

Detections at upload come here too: a bank match becomes a notice, holds the item, and a match
against confirmed material is knowledge and, where the policy says so, an automated decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from staydown.actors import SYSTEM, Actor
from staydown.cases import actions as cases
from staydown.cases import tracks
from staydown.cases.models import Case, CaseState, Decision, Outcome
from staydown.cases.notify import tell_outcome
from staydown.cases.queries import case_contents
from staydown.cases.rules import DEFAULT_RULES, CaseRules
from staydown.enforcement import measures
from staydown.enforcement.models import EnforcementAction
from staydown.exchanges.feedback import queue_case_feedback
from staydown.intake import actions as intake
from staydown.intake.hash_submissions import verify_from_decision
from staydown.intake.models import NoticeKind, ReporterKind
from staydown.intake.schemas import NoticeIn
from staydown.policies.catalogue import Catalogue
from staydown.policies.schema import Policy
from staydown.subjects.queries import content_by_platform_id


@dataclass
class DecisionResult:
    decision: Decision
    actions: list[EnforcementAction]
    effective: bool


def decide_case(
    db: Session,
    *,
    actor: Actor,
    case: Case,
    policy_ref: str,
    outcome: str,
    facts: str,
    actions: list[str] | None = None,
    note: str = "",
    catalogue: Catalogue,
    rules: CaseRules = DEFAULT_RULES,
    automated: bool = False,
    manifestly_unfounded: bool = False,
) -> DecisionResult:
    """Decide a case under a policy clause (`cases.actions.record_decision` says what is checked)
    and, when the decision takes effect, everything that follows from it."""
    recorded = cases.record_decision(
        db,
        actor=actor,
        case=case,
        policy_ref=policy_ref,
        outcome=outcome,
        facts=facts,
        actions=actions,
        note=note,
        catalogue=catalogue,
        automated=automated,
        manifestly_unfounded=manifestly_unfounded,
    )
    if not recorded.effective:
        return DecisionResult(recorded.decision, [], False)
    applied = _make_effective(
        db,
        actor=actor,
        case=case,
        decision=recorded.decision,
        policy=recorded.policy,
        rules=rules,
        manifestly_unfounded=manifestly_unfounded,
    )
    return DecisionResult(recorded.decision, applied, True)


def second_review(
    db: Session,
    *,
    actor: Actor,
    case: Case,
    agree: bool,
    facts: str,
    catalogue: Catalogue,
    rules: CaseRules = DEFAULT_RULES,
    policy_ref: str | None = None,
    actions: list[str] | None = None,
    note: str = "",
) -> DecisionResult:
    """The second person on a "does not violate". Agreeing makes it effective (its legal tracks
    still need their own resolution); disagreeing replaces it with a "violates" decision."""
    recorded = cases.record_second_review(
        db,
        actor=actor,
        case=case,
        agree=agree,
        facts=facts,
        catalogue=catalogue,
        policy_ref=policy_ref,
        actions=actions,
        note=note,
    )
    applied = _make_effective(
        db, actor=actor, case=case, decision=recorded.decision, policy=recorded.policy, rules=rules
    )
    return DecisionResult(recorded.decision, applied, True)


def _make_effective(
    db: Session,
    *,
    actor: Actor,
    case: Case,
    decision: Decision,
    policy: Policy,
    rules: CaseRules,
    manifestly_unfounded: bool = False,
    knowledge_at: datetime | None = None,
) -> list[EnforcementAction]:
    cases.mark_decided(db, case=case, decision=decision)
    contents = case_contents(db, case)
    applied = measures.apply_decision(db, actor=actor, case=case, decision=decision, policy=policy, contents=contents)
    if decision.outcome == Outcome.violates.value:
        # A person's first confirmation of a match of pictures someone fingerprinted on their
        # device verifies them: their hashes join the own bank, and from now on act per policy.
        # An automated decision verifies nothing.
        if not decision.automated:
            verify_from_decision(db, actor=actor, case=case, policy=policy)
        if policy.bank_confirmed:
            measures.keep_down(db, actor=actor, case=case, policy=policy)
        # A person's confirmation is actual knowledge; automation counts only where policy allows
        # deciding on a trusted match of previously confirmed material (CSAM-7).
        if (
            policy.child_safety
            and policy.ncmec_incident_type
            and (not decision.automated or policy.auto_action_on_trusted_match)
        ):
            cases.record_actual_knowledge(
                db, actor=actor, case=case, decision=decision, rules=rules, policy=policy, at=knowledge_at
            )
    # What the decision answers ends now; what is still owed (a removal to confirm, a report to
    # file, an order to answer) stays open.
    tracks.on_decision(db, actor=actor, case=case, decision=decision)
    tracks.refresh_priority(db, case)
    tell_outcome(
        db, case=case, decision=decision, policy=policy, rules=rules, manifestly_unfounded=manifestly_unfounded
    )
    # A match against a partner's list is reported back to the partner (exchanges/), from the outbox.
    queue_case_feedback(db, case_id=case.id, decision_id=decision.id, outcome=decision.outcome)
    cases.record_effective(db, actor=actor, case=case, decision=decision, manifestly_unfounded=manifestly_unfounded)
    return applied


# -- detections at upload -------------------------------------------------------------------------


def act_on_trusted_match(
    db: Session, *, case: Case, match: Any, policy: Policy, catalogue: Catalogue, rules: CaseRules = DEFAULT_RULES
) -> DecisionResult | None:
    """A blocking match against previously confirmed material (CSAM-1, CSAM-7).

    For a child-safety policy it is actual knowledge from the moment of the match
    (`cases.actions.record_match_knowledge`). Where the policy says so (`auto_action_on_trusted_match`),
    the case is decided at once as a fully automated decision through the ordinary path (actions,
    statements of reasons, webhooks, stay-down), marked automated everywhere. A person still
    confirms before any report is filed (ncmec.confirm_report). A case someone is already deciding
    (second review) is left to them."""
    what = (
        f"matched bank {match.bank!r} entry {match.entry_id} of previously confirmed material "
        f"({match.signal_type}, distance {match.distance})"
    )
    cases.record_match_knowledge(db, case=case, match=match, policy=policy, rules=rules)
    if not policy.auto_action_on_trusted_match:
        return None
    if case.state != CaseState.open.value:
        cases.skip_automated_decision(db, case=case, what=what)
        return None
    return decide_case(
        db,
        actor=SYSTEM,
        case=case,
        policy_ref=policy.ref,
        outcome=Outcome.violates.value,
        facts=f"The upload {what}, confirmed earlier as {policy.title}; decided automatically "
        "as the policy provides for previously confirmed material.",
        catalogue=catalogue,
        rules=rules,
        automated=True,
    )


def submit_detection(
    db: Session,
    *,
    content_platform_id: str,
    account_platform_id: str | None,
    matches: list[Any],
    verdict: str,
    catalogue: Catalogue,
    rules: CaseRules = DEFAULT_RULES,
    engine: Any = None,
    act: bool = True,
) -> intake.Receipt:
    """A bank match that holds or blocks an upload becomes a notice from the system, so a person
    confirms it (CSAM-7: a match alone is not a report) and its clocks run like any other. With
    `act`, a match against confirmed material is acted on here (`act_on_detection`); the scan
    route acts itself once the upload is in the vault."""
    best = matches[0]
    policy_id = best.policy_id if best.policy_id in catalogue else None
    notice = NoticeIn(
        kind=NoticeKind.detection,
        reporter_kind=ReporterKind.automated,
        policy_id=policy_id,
        explanation=(
            f"upload {verdict}: matched bank {best.bank!r} entry {best.entry_id} "
            f"({best.signal_type}, distance {best.distance}"
            + (f", as {best.query_variant}" if best.query_variant else "")
            + ")"
        ),
        items=[{"content_id": content_platform_id, "account_id": account_platform_id}],
        details={"matches": [m.to_dict() for m in matches[:10]], "verdict": verdict},
    )
    receipt = intake.submit_notice(db, actor=SYSTEM, notice=notice, catalogue=catalogue, rules=rules, engine=engine)
    # A hold keeps the item out of distribution until a person decides: as an interim action, so
    # that a "no violation" lifts it and the platform hears so through the normal delivery path.
    content = content_by_platform_id(db, content_platform_id)
    for case in receipt.cases:
        measures.restrict_distribution(
            db,
            actor=SYSTEM,
            content_id=content.id,
            case_id=case.id,
            reason=f"held at upload: {verdict} on a bank match, pending review",
        )
    if act:
        act_on_detection(db, receipt=receipt, matches=matches, verdict=verdict, catalogue=catalogue, rules=rules)
    return receipt


def act_on_detection(
    db: Session,
    *,
    receipt: intake.Receipt,
    matches: list[Any],
    verdict: str,
    catalogue: Catalogue,
    rules: CaseRules = DEFAULT_RULES,
) -> None:
    """A match against previously confirmed material is knowledge, and acted on where the policy
    says so (CSAM-1, CSAM-7)."""
    trusted = trusted_match(matches, verdict)
    if trusted is None or trusted.policy_id not in catalogue:
        return
    policy = catalogue.get(trusted.policy_id)
    for case in receipt.cases:
        act_on_trusted_match(db, case=case, match=trusted, policy=policy, catalogue=catalogue, rules=rules)


def trusted_match(matches: list[Any], verdict: str) -> Any:
    """The closest match that counts as knowledge: a blocking verdict (a low-quality PDQ alone is
    only ever held for a person) on a bank of previously confirmed material."""
    if verdict != "block":
        return None
    return next((m for m in matches if m.confirmed_material and m.action == "block"), None)
