"""Bulk decisions: one reviewer decides several cases of the same policy at once (a wave of
identical spam reports), each case getting its own claim, decision and audit event as if decided
one by one. Never for cases under the two-person rule (child safety, intimate images, minors)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from staydown.actors import Actor
from staydown.cases.actions import claim_case, is_two_person
from staydown.cases.models import CaseState, Outcome
from staydown.cases.queries import case_by_id
from staydown.cases.rules import DEFAULT_RULES, CaseRules
from staydown.db import now
from staydown.errors import Conflict, InvalidInput, NotFound, RuleViolation
from staydown.flows.decisions import DecisionResult, decide_case
from staydown.policies.catalogue import Catalogue, parse_ref
from staydown.staff.permissions import Permission

MAX_BULK = 50
BULK_OUTCOMES = (Outcome.violates.value, Outcome.does_not_violate.value)
TWO_PERSON_RULE = "child-safety, intimate-image and minor cases are decided one by one: they keep the two-person rule"


@dataclass
class BulkResult:
    results: list[DecisionResult]

    @property
    def case_ids(self) -> list[int]:
        return [r.decision.case_id for r in self.results]


def bulk_decide(
    db: Session,
    *,
    actor: Actor,
    case_ids: list[int],
    policy_ref: str,
    outcome: str,
    facts: str,
    catalogue: Catalogue,
    rules: CaseRules = DEFAULT_RULES,
) -> BulkResult:
    """Decide every case in `case_ids` with one outcome under one policy, for one reason.

    All or nothing: a case that cannot be decided (someone else holds it, it is decided already,
    it is under another policy or the two-person rule) refuses the whole batch, naming the case,
    and the caller's transaction is rolled back. Each case is claimed and decided through
    `claim_case` and `decide_case`, so each gets the effects and audit events of a single
    decision (measures, statements, stay-down, legal tracks)."""
    ids = list(dict.fromkeys(case_ids))
    if not ids:
        raise InvalidInput("select at least one case")
    if len(ids) > MAX_BULK:
        raise InvalidInput(f"at most {MAX_BULK} cases at once (you selected {len(ids)})")
    if outcome not in BULK_OUTCOMES:
        raise InvalidInput("a bulk decision is 'violates' or 'does not violate'; escalate cases one by one")
    text = (facts or "").strip()
    if not text:
        raise InvalidInput("write the facts the decision relies on: every case gets them as its reasons")
    if not (policy_ref or "").strip():
        raise InvalidInput("choose the policy the selected cases are decided under")
    try:
        policy_id, _ = parse_ref(policy_ref)
    except ValueError:
        raise InvalidInput(f"{policy_ref!r} is not a policy in force; pick one from the list") from None
    cases = []
    when = now(db)
    # Everything is checked before anything is written, so a refusal leaves no claim behind.
    for case_id in ids:
        case = case_by_id(db, case_id, for_update=True)
        if case.child_safety and Permission.CHILD_SAFETY_CASES.value not in actor.permissions:
            raise NotFound(f"no case {case_id}")  # as elsewhere: a case one may not see does not exist
        if is_two_person(case):
            raise RuleViolation(f"case {case.id} is not for bulk decisions: {TWO_PERSON_RULE}", code="two_person_rule")
        if case.state != CaseState.open.value:
            raise Conflict(f"case {case.id} is {case.state.replace('_', ' ')}, not open")
        if case.claimed_by and case.claimed_by != actor.ref and case.claim_expires_at and case.claim_expires_at > when:
            raise Conflict(
                f"case {case.id} is claimed by someone else until "
                f"{case.claim_expires_at.strftime('%H:%M UTC')}; leave it out or ask them"
            )
        if case.policy_id != policy_id:
            raise InvalidInput(
                f"case {case.id} is under {case.policy_id or 'no policy yet'}, not {policy_id}: a bulk "
                "decision takes cases of one policy"
            )
        cases.append(case)
    results = []
    for case in cases:
        claim_case(db, actor=actor, case=case, rules=rules)
        results.append(
            decide_case(
                db,
                actor=actor,
                case=case,
                policy_ref=policy_ref,
                outcome=outcome,
                facts=text,
                note=f"bulk decision of {len(cases)} cases",
                catalogue=catalogue,
                rules=rules,
            )
        )
    return BulkResult(results)
