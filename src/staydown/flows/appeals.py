"""An appeal's decision (DSA Art. 20, UK OSA complaints): the appeal records its outcome, and the case's
measures are kept, replaced or reversed (`enforcement.measures`), or, for a notifier against a decision
not to act, the case is decided anew through `flows.decisions`; wrong bank entries are disabled, the
appellant is told. The rules it enforces are listed in `appeals.actions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import Actor
from staydown.appeals import notify
from staydown.appeals.actions import MAX_REASONS, refuse_original_decider, require_decider
from staydown.appeals.models import Appeal, AppealOutcome, AppealState, AppellantKind
from staydown.appeals.queries import OPEN_STATES, Contested, contested_decision, matched_entries
from staydown.appeals.rules import DEFAULT_APPEAL_RULES, AppealRules
from staydown.audit import AuditTag
from staydown.cases.actions import claim_case
from staydown.cases.models import Case, CaseState, Outcome
from staydown.cases.queries import case_by_id
from staydown.cases.rules import DEFAULT_RULES, CaseRules
from staydown.db import now
from staydown.enforcement import measures
from staydown.enforcement.measures import REMOVING, confirmed_csam, reverse_case_measures
from staydown.enforcement.models import ActionState, EnforcementAction
from staydown.errors import Conflict, InvalidInput, RuleViolation
from staydown.flows.decisions import decide_case
from staydown.matching.banks import disable_entry
from staydown.matching.models import BankEntry
from staydown.policies.catalogue import Catalogue, PolicyNotFound, parse_ref
from staydown.policies.schema import Policy
from staydown.policies.vocab import ACCOUNT_ACTIONS, CONTENT_ACTIONS


@dataclass
class AppealResult:
    appeal: Appeal
    lifted: list[EnforcementAction] = field(default_factory=list)
    applied: list[EnforcementAction] = field(default_factory=list)
    new_decision_id: int | None = None
    disabled_entries: list[Any] = field(default_factory=list)  # bank entries found wrong on appeal


def _policy_for(catalogue: Catalogue, policy_ref: str | None, case: Case) -> Policy:
    """The policy to decide under: `policy_ref` (which must be the version in force), or the one
    named `<id>@current` or, with neither, the case's, each at the version in force."""
    try:
        if policy_ref is None:
            if case.policy_id is None:
                # catalogue.get takes an id: a case with none is refused in the words get() used for it.
                raise PolicyNotFound(f"no policy {None!r} in the catalogue")
            return catalogue.get(case.policy_id)
        policy_id, _, wanted = policy_ref.partition("@")
        if wanted == "current":
            return catalogue.get(policy_id)
        policy_id, version = parse_ref(policy_ref)
        policy = catalogue.get(policy_id)
    except (PolicyNotFound, ValueError) as exc:
        raise InvalidInput(f"no policy to decide under: {exc}; name one with its version in force") from None
    if policy.version != version:
        raise InvalidInput(f"{policy_ref} is not the version in force ({policy.ref}); decide under the current version")
    return policy


def _measures_now(
    db: Session, case: Case, contested: Contested
) -> tuple[set[str], list[tuple[str, EnforcementAction]]]:
    """The measures in force on the case, as decision-level kinds (ladder actions count as 'strike')."""
    kinds = set(contested.decision.actions)
    if contested.ref.startswith("appeal:"):
        change = db.get(Appeal, int(contested.ref.split(":", 1)[1]))
        kinds = set(change.details.get("measures", kinds)) if change else kinds
    return measures.in_force(db, case=case, kinds=kinds)


def _modify_measures(
    db: Session,
    *,
    actor: Actor,
    case: Case,
    contested: Contested,
    new: list[str],
    policy: Policy,
    reason: str,
    catalogue: Catalogue,
) -> tuple[list, list]:
    """Replace the measures in force by `new` (`enforcement.measures.replace_measures`): lift what
    goes (restoring content and accounts that nothing keeps down any more), apply what comes,
    through the normal delivery path."""
    wanted = list(dict.fromkeys(new))
    unknown = [k for k in wanted if k not in CONTENT_ACTIONS and k not in ACCOUNT_ACTIONS]
    if unknown:
        raise InvalidInput(f"unknown measure(s): {', '.join(unknown)}")
    if not wanted:
        raise InvalidInput(
            "a modified outcome names the measures that replace the current ones (none at all is 'reversed')"
        )
    if confirmed_csam(case, catalogue) and not set(wanted) & set(REMOVING):
        raise RuleViolation(
            "confirmed child sexual abuse material is never restored: the measures must keep it removed or disabled",
            code="csam_never_restored",
        )
    current, tagged = _measures_now(db, case, contested)
    if set(wanted) == current:
        raise InvalidInput(f"these are the measures in force now ({', '.join(sorted(current))}): that is 'upheld'")
    return measures.replace_measures(
        db, actor=actor, case=case, current=current, tagged=tagged, wanted=wanted, policy=policy, reason=reason
    )


def _decide_violates(
    db: Session,
    *,
    actor: Actor,
    case: Case,
    policy: Policy,
    actions: list[str] | None,
    reasons: str,
    appeal: Appeal,
    catalogue: Catalogue,
    case_rules: CaseRules,
) -> tuple[int, list]:
    """A notifier's appeal against a decision not to act, granted: the appeal's decider (a person
    who took no part in it) decides the case 'violates' under the policy in force, through the
    cases module, so every consequence of a decision follows (measures, stay-down, NCMEC clock)."""

    # Reopened for the appeal's decider, who takes it through the ordinary, audited claim (which
    # refuses if someone else holds a live claim on it).
    case.state = CaseState.open.value
    claim_case(db, actor=actor, case=case, rules=case_rules)
    result = decide_case(
        db,
        actor=actor,
        case=case,
        policy_ref=policy.ref,
        outcome=Outcome.violates.value,
        facts=reasons,
        actions=actions,
        note=f"decided on appeal {appeal.code}",
        catalogue=catalogue,
        rules=case_rules,
    )
    return result.decision.id, result.actions


def _false_positive(db: Session, *, actor: Actor, appeal: Appeal, case: Any, wrong: bool | None) -> list[Any]:
    """DSA Art. 20(4), EUI-1: a reversal that found the bank entry wrong takes it out of matching."""
    if not wrong:
        return []
    disabled = []
    for entry_id in matched_entries(db, case):
        entry = db.get(BankEntry, entry_id)
        if entry is None or not entry.enabled:
            continue
        # A variant's parent goes, and with it every variant: the item was wrong, not one crop.
        target = db.get(BankEntry, entry.parent_id) if entry.parent_id else entry
        if target is None or not target.enabled:
            continue
        disable_entry(
            db,
            actor=actor,
            entry=target,
            reason=f"false positive: appeal {appeal.code} reversed the decision on case {case.id}",
        )
        disabled.append(target)
    return disabled


def decide_appeal(
    db: Session,
    *,
    actor: Actor,
    appeal: Appeal,
    outcome: str,
    reasons: str,
    catalogue: Catalogue,
    actions: list[str] | None = None,
    policy_ref: str | None = None,
    rules: AppealRules = DEFAULT_APPEAL_RULES,
    case_rules: CaseRules = DEFAULT_RULES,
    bank_entry_wrong: bool | None = None,
) -> AppealResult:
    """Decide an appeal, with reasons, as a person who took no part in the decision.

    An affected user's reversal of a decision that rested on a bank match must say whether the
    bank entry was wrong (`bank_entry_wrong`): if so, the entries that matched are disabled with
    the appeal as their reason (audited), so the same upload is no longer held; if not (the entry
    is right, the context made it lawful), they stay.

    - upheld: nothing changes.
    - reversed: for an affected user, every measure of the case is lifted and the content and
      accounts restored (never confirmed CSAM); for a notifier against a decision not to act, the
      case is decided 'violates' under `policy_ref` (default: the case's policy in force) with
      `actions` (default: the policy's).
    - modified: the measures in force are replaced by `actions` (e.g. removal by an age
      restriction, a suspension by a warning; or, for a notifier, stronger measures).
    The appellant is told the outcome, the reasons and the out-of-court option."""
    case = case_by_id(db, appeal.case_id, for_update=True)
    require_decider(actor, case)
    try:
        chosen = AppealOutcome(outcome)
    except ValueError:
        raise InvalidInput(f"outcome must be one of {', '.join(o.value for o in AppealOutcome)}") from None
    text = (reasons or "").strip()
    if not text:
        raise InvalidInput("an appeal decision needs its reasons: the appellant is told them")
    if len(text) > MAX_REASONS:
        raise InvalidInput(f"reasons are {len(text)} characters; at most {MAX_REASONS}")
    if appeal.state not in OPEN_STATES:
        raise Conflict(f"appeal {appeal.id} is already {appeal.state}")
    refuse_original_decider(db, actor, appeal, case)
    when = now(db)
    if appeal.claimed_by != actor.ref or not appeal.claim_expires_at or appeal.claim_expires_at <= when:
        raise Conflict(f"claim appeal {appeal.id} before deciding it (or your claim has expired)")
    if actions is not None and chosen is AppealOutcome.upheld:
        raise InvalidInput("an upheld decision keeps its measures: leave actions out")
    if bank_entry_wrong is not None and not (chosen is AppealOutcome.reversed and matched_entries(db, case)):
        raise InvalidInput("bank_entry_wrong answers a reversal of a decision that rested on a bank match")
    if (
        chosen is AppealOutcome.reversed
        and appeal.appellant_kind != AppellantKind.notifier.value
        and bank_entry_wrong is None
        and matched_entries(db, case)
    ):
        raise InvalidInput(
            "this decision rested on a bank match: say whether the bank entry was wrong "
            "(bank_entry_wrong: true disables it, so the same upload is no longer held)"
        )

    contested = contested_decision(db, case)
    if chosen is not AppealOutcome.upheld and contested.ref != appeal.details.get("contested"):
        raise Conflict(
            "the decision under appeal has changed since this appeal was filed "
            f"(now {contested.ref}, outcome {contested.outcome}); uphold it, or the appellant appeals the "
            "new decision",
            code="decision_changed",
        )
    result = AppealResult(appeal)
    reason = f"appeal {appeal.code}: {text}"
    notifier = appeal.appellant_kind == AppellantKind.notifier.value
    if chosen is AppealOutcome.reversed:
        if notifier:
            if contested.outcome == Outcome.violates.value:
                raise InvalidInput(
                    "the decision on this report was to act: grant a notifier's appeal for stronger "
                    "measures as 'modified', with the measures"
                )
            policy = _policy_for(catalogue, policy_ref, case)
            result.new_decision_id, result.applied = _decide_violates(
                db,
                actor=actor,
                case=case,
                policy=policy,
                actions=actions,
                reasons=text,
                appeal=appeal,
                catalogue=catalogue,
                case_rules=case_rules,
            )
        else:
            if actions is not None or policy_ref is not None:
                raise InvalidInput(
                    "a reversal lifts every measure: leave actions and policy out (use 'modified' "
                    "for a different measure)"
                )
            if confirmed_csam(case, catalogue):
                raise RuleViolation(
                    "confirmed child sexual abuse material is never restored, so this decision cannot "
                    "be reversed on appeal; a mistaken confirmation is corrected by the child-safety "
                    "team through a new review",
                    code="csam_never_restored",
                )
            lifted_before = set(
                db.execute(
                    sa.select(EnforcementAction.id).where(
                        EnforcementAction.case_id == case.id, EnforcementAction.state == ActionState.active.value
                    )
                ).scalars()
            )
            try:
                result.applied = reverse_case_measures(db, actor=actor, case=case, reason=reason, catalogue=catalogue)
            except RuleViolation as exc:
                raise RuleViolation(exc.message, code="csam_never_restored") from None
            result.lifted = [a for i in sorted(lifted_before) if (a := db.get(EnforcementAction, i)) is not None]
            result.disabled_entries = _false_positive(db, actor=actor, appeal=appeal, case=case, wrong=bank_entry_wrong)
    elif chosen is AppealOutcome.modified:
        if notifier and contested.outcome != Outcome.violates.value:
            raise InvalidInput(
                "an appeal against a decision not to act is granted as 'reversed', with the measures to take"
            )
        if not notifier and contested.outcome != Outcome.violates.value:
            raise Conflict("the measures of this decision were already lifted", code="nothing_to_appeal")
        if actions is None:
            raise InvalidInput("a modified outcome names the measures that replace the current ones")
        # The new measures cite the policy in force (its current version), unless the decider names another.
        policy = _policy_for(catalogue, policy_ref or f"{parse_ref(contested.decision.policy_ref)[0]}@current", case)
        result.lifted, result.applied = _modify_measures(
            db,
            actor=actor,
            case=case,
            contested=contested,
            new=actions,
            policy=policy,
            reason=reason,
            catalogue=catalogue,
        )
        appeal.details = {**appeal.details, "measures": list(dict.fromkeys(actions)), "policy_ref": policy.ref}
    appeal.state = AppealState.decided.value
    appeal.outcome = chosen.value
    appeal.reasons = text
    appeal.decided_by = actor.ref
    appeal.decided_at = when
    appeal.claimed_by = None
    appeal.claim_expires_at = None
    appeal.details = {
        **appeal.details,
        "lifted": [a.id for a in result.lifted],
        "applied": [a.id for a in result.applied],
        "new_decision_id": result.new_decision_id,
        "late": bool(appeal.due_at and when > appeal.due_at),
    }
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.APPEAL_DECIDE,
        subject_type="appeal",
        subject_id=appeal.id,
        data={
            "case_id": case.id,
            "outcome": chosen.value,
            "reasons": text,
            "appellant_kind": appeal.appellant_kind,
            "original_deciders": appeal.original_deciders,
            "lifted": [a.id for a in result.lifted],
            "applied": [a.id for a in result.applied],
            "measures": appeal.details.get("measures"),
            "new_decision_id": result.new_decision_id,
            "due_at": appeal.due_at,
            "late": appeal.details["late"],
            "bank_entry_wrong": bank_entry_wrong,
            "disabled_bank_entries": [e.id for e in result.disabled_entries],
        },
    )
    notify.tell_outcome(db, appeal=appeal, applied_actions=result.applied, rules=rules)
    return result
