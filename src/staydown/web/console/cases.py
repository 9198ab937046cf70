"""The case page, the decision form and the second-review queue: views parallel to the review API,
calling the same actions and queries."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import Actor
from staydown.authorities import dsa18
from staydown.authorities.models import AuthorityNotification
from staydown.cases import queries, teamwork, tracks
from staydown.cases.models import Case, CaseState, Decision, DecisionState, Outcome
from staydown.db import now
from staydown.enforcement.models import Sweep
from staydown.errors import InvalidInput, StaydownError, http_status_for
from staydown.flows import decisions as decision_flow
from staydown.http import DbSession, require
from staydown.i18n import N_
from staydown.i18n import gettext as _
from staydown.intake.models import Notice, NoticeItem
from staydown.limits import DbId
from staydown.matching.models import Scan
from staydown.policies.catalogue import Catalogue, PolicyNotFound, PolicyRefError, PolicyVersionMismatch
from staydown.policies.schema import Policy
from staydown.policies.vocab import ACCOUNT_ACTIONS, CONTENT_ACTIONS
from staydown.staff.models import StaffUser
from staydown.staff.permissions import Permission, permissions_for_roles
from staydown.web.console.access import can_see, sees_identity, visible_case
from staydown.web.console.history import describe
from staydown.web.console.media import media_for_case, reveals_today
from staydown.web.console.queue import live_tracks, remaining_text
from staydown.web.console.records import account_record, content_record
from staydown.web.console.session import console_session
from staydown.web.security import verify_csrf
from staydown.web.templating import render

router = APIRouter(
    prefix="/console", tags=["console"], include_in_schema=False, dependencies=[Depends(console_session)]
)

Reader = Annotated[Actor, Depends(require(Permission.CASES_READ))]
Reviewer = Annotated[Actor, Depends(require(Permission.CASES_REVIEW))]
Senior = Annotated[Actor, Depends(require(Permission.CASES_SECOND_REVIEW))]

OUTCOMES = [
    (Outcome.violates.value, N_("Violates"), "v"),
    (Outcome.does_not_violate.value, N_("Does not violate"), "d"),
    (Outcome.escalate.value, N_("Escalate"), "e"),
]
MAX_FACTS = 10_000
HISTORY_LIMIT = 300


# -- what the page shows ------------------------------------------------------------------------


def policies_by_area(catalogue: Catalogue) -> list[tuple[str, list[Policy]]]:
    groups: dict[str, list[Policy]] = {}
    for policy in catalogue:
        groups.setdefault(policy.area or "other", []).append(policy)
    return sorted(groups.items())


def _policy(catalogue: Catalogue, ref: str | None) -> Policy | None:
    if not ref:
        return None
    try:
        return catalogue.resolve(ref)
    except (PolicyNotFound, PolicyRefError, PolicyVersionMismatch, ValueError):
        return None


def _default_ref(catalogue: Catalogue, case: Case) -> str:
    if case.policy_id and case.policy_id in catalogue:
        return catalogue.ref(case.policy_id)
    return next(iter(catalogue)).ref


def decision_form(
    catalogue: Catalogue,
    case: Case,
    *,
    policy_ref: str | None = None,
    outcome: str = "",
    chosen: list[str] | None = None,
    facts: str = "",
    note: str = "",
    error: str = "",
) -> dict[str, Any]:
    ref = policy_ref if policy_ref and _policy(catalogue, policy_ref) else _default_ref(catalogue, case)
    policy = catalogue.resolve(ref)
    return {
        "policy_ref": ref,
        "policy": policy,
        "outcome": outcome,
        "chosen": list(policy.default_actions) if chosen is None else chosen,
        "facts": facts,
        "note": note,
        "error": error,
        "imminent_danger": False,
        "member_states": "",
    }


def _notices(db: Session, case: Case) -> list[Notice]:
    ids = sa.select(NoticeItem.notice_id).where(NoticeItem.case_id == case.id)
    return list(
        db.execute(
            sa.select(Notice)
            .where(sa.or_(Notice.case_id == case.id, Notice.id.in_(ids)))
            .order_by(Notice.received_at, Notice.id)
            .limit(500)
        ).scalars()
    )


def staff_names(db: Session, refs: set[str]) -> dict[str, str]:
    """'staff:12' -> the username, for showing who decided (other refs show as they are)."""
    ids = {int(r.split(":", 1)[1]) for r in refs if r and r.startswith("staff:") and r.split(":", 1)[1].isdigit()}
    if not ids:
        return {}
    return {
        f"staff:{i}": name
        for i, name in db.execute(sa.select(StaffUser.id, StaffUser.username).where(StaffUser.id.in_(ids))).all()
    }


def case_context(
    db: Session,
    request: Request,
    actor: Actor,
    case: Case,
    *,
    form: dict[str, Any] | None = None,
    second: dict[str, Any] | None = None,
    threat: dict[str, Any] | None = None,
    assign: dict[str, Any] | None = None,
    comment: dict[str, Any] | None = None,
) -> dict[str, Any]:
    catalogue: Catalogue = request.app.state.catalogue
    contents = queries.case_contents(db, case)
    content_ids = [c.id for c in contents]
    scans = (
        list(
            db.execute(
                sa.select(Scan).where(Scan.content_id.in_(content_ids)).order_by(Scan.id.desc()).limit(20)
            ).scalars()
        )
        if content_ids
        else []
    )
    sweeps = list(db.execute(sa.select(Sweep).where(Sweep.case_id == case.id).order_by(Sweep.id)).scalars())
    decisions = list(db.execute(sa.select(Decision).where(Decision.case_id == case.id).order_by(Decision.id)).scalars())
    pending = next((d for d in reversed(decisions) if d.state == DecisionState.pending_second_review.value), None)
    history = audit.events_for(db, subject_type="case", subject_id=case.id, last=HISTORY_LIMIT)
    comments = teamwork.comments_for(db, case.id)
    when = now(db)
    claimed_by_me = case.claimed_by == actor.ref and bool(case.claim_expires_at and case.claim_expires_at > when)
    claimed_by_other = bool(
        case.claimed_by and case.claimed_by != actor.ref and case.claim_expires_at and case.claim_expires_at > when
    )
    perms = actor.permissions
    names = staff_names(
        db,
        {d.reviewer for d in decisions}
        | {d.second_reviewer or "" for d in decisions}
        | {case.claimed_by or "", case.assigned_to or ""}
        | {c.author for c in comments}
        | {f"{e.actor_kind}:{e.actor_id}" for e in history}
        | {str((e.data or {}).get("to") or "") for e in history},
    )
    track_titles = {k: r.title for k, r in tracks.KINDS.items()}
    may_second = Permission.CASES_SECOND_REVIEW.value in perms and case.state == CaseState.second_review.value
    # The first reviewer is never offered the second review (the action would refuse it): they
    # are told why instead.
    own_decision = bool(pending and pending.reviewer == actor.ref)
    can_review = Permission.CASES_REVIEW.value in perms and case.state == CaseState.open.value
    return {
        "names": names,
        "case": case,
        "at": when,
        "contents": contents,
        "notices": _notices(db, case),
        "scans": scans,
        "sweeps": sweeps,
        "decisions": decisions,
        "pending": pending,
        "history": [(e, describe(e, names=names)) for e in reversed(history)],
        "comments": comments,
        "comment": comment or {"body": "", "error": ""},
        "can_assign": can_review,
        "assign": assign or {"to": case.assigned_to or "", "reason": "", "error": "", "escalate": False},
        "assignees": assignees(db, case) if can_review else [],
        "related": related_cases(db, actor, case, contents),
        "tracks": case.tracks,
        "live_tracks": live_tracks,
        "remaining": remaining_text,
        "media": media_for_case(db, case, content_ids),
        "show_identity": sees_identity(actor),
        "can_review": can_review,
        "can_reveal": Permission.MEDIA_REVEAL.value in perms,
        "can_second": may_second and not own_decision,
        "own_decision": may_second and own_decision,
        "claimed_by_me": claimed_by_me,
        "claimed_by_other": claimed_by_other,
        "me": actor.ref,
        "reveals_used": reveals_today(db, actor),
        "reveal_budget": request.app.state.settings.reveal_daily_budget,
        "areas": policies_by_area(catalogue),
        "outcomes": OUTCOMES,
        "all_actions": list(CONTENT_ACTIONS) + list(ACCOUNT_ACTIONS),
        "form": form or decision_form(catalogue, case),
        "second": second
        or {"agree": "", "facts": "", "note": "", "policy_ref": _default_ref(catalogue, case), "error": ""},
        "threat": threat or {"facts": "", "member_states": "", "error": ""},
        "notifications": list(
            db.execute(
                sa.select(AuthorityNotification)
                .where(AuthorityNotification.case_id == case.id)
                .order_by(AuthorityNotification.id)
            ).scalars()
        ),
        "track_titles": track_titles,
    }


def assignees(db: Session, case: Case) -> list[tuple[str, str]]:
    """Whom this case can be given to: the roles that work cases, then each active person who may
    work it (child-safety cases: specialists only), as (target, label)."""
    options = []
    for role in teamwork.assignable_roles():
        if case.child_safety and Permission.CHILD_SAFETY_CASES.value not in permissions_for_roles([role]):
            continue
        options.append((f"role:{role}", _("Role: %(role)s", role=role.replace("_", " "))))
    for person in db.execute(
        sa.select(StaffUser).where(StaffUser.is_active.is_(True)).order_by(StaffUser.username).limit(500)
    ).scalars():
        granted = permissions_for_roles(person.roles)
        if Permission.CASES_REVIEW.value not in granted:
            continue
        if case.child_safety and Permission.CHILD_SAFETY_CASES.value not in granted:
            continue
        options.append((f"staff:{person.id}", f"{person.display_name or person.username} ({person.username})"))
    return options


def related_cases(db: Session, actor: Actor, case: Case, contents: list) -> list[Case]:
    """The other cases about the same items or accounts, newest first: an account's second case
    says there was a first (and how it ended)."""
    found: dict[int, Case] = {}
    seen_accounts: set[int] = set()
    for content in contents:
        if content.account is not None:
            if content.account.id in seen_accounts:
                continue  # the account's record already holds this item's cases
            seen_accounts.add(content.account.id)
            record = account_record(db, actor, content.account)
        else:
            record = content_record(db, actor, content)
        for other in record.cases:
            if other.id != case.id:
                found[other.id] = other
    return sorted(found.values(), key=lambda c: (c.opened_at, c.id), reverse=True)[:50]


@router.get("/cases/{case_id}")
def case_page(case_id: DbId, request: Request, db: DbSession, actor: Reader) -> Response:
    case = visible_case(db, actor, case_id)
    return render(request, "console/case.html", case_context(db, request, actor, case))


@router.get("/cases/{case_id}/decision/actions")
def decision_actions(
    case_id: DbId, request: Request, db: DbSession, actor: Reviewer, policy: Annotated[str, Query(max_length=100)] = ""
) -> Response:
    """The actions of the chosen policy, pre-filled (swapped in by HTMX when the policy changes)."""
    case = visible_case(db, actor, case_id)
    catalogue: Catalogue = request.app.state.catalogue
    if _policy(catalogue, policy) is None:
        raise InvalidInput(_("%(policy)r is not a policy in force; pick one from the list", policy=policy))
    form = decision_form(catalogue, case, policy_ref=policy)
    return render(
        request,
        "console/partials/decision_actions.html",
        {"form": form, "all_actions": list(CONTENT_ACTIONS) + list(ACCOUNT_ACTIONS)},
    )


def _rerender(
    db: Session, request: Request, actor: Actor, case_id: DbId, exc: StaydownError, **forms: dict[str, Any]
) -> Response:
    """An error from the action: nothing it did is kept, and the form comes back with the message."""
    db.rollback()
    case = visible_case(db, actor, case_id)
    return render(
        request, "console/case.html", case_context(db, request, actor, case, **forms), status_code=http_status_for(exc)
    )


@router.post("/cases/{case_id}/decision")
def decide(
    case_id: DbId,
    request: Request,
    db: DbSession,
    actor: Reviewer,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    policy: Annotated[str, Form(max_length=100)] = "",
    outcome: Annotated[str, Form(max_length=30)] = "",
    facts: Annotated[str, Form(max_length=MAX_FACTS)] = "",
    note: Annotated[str, Form(max_length=MAX_FACTS)] = "",
    actions_for: Annotated[str, Form(max_length=100)] = "",
    imminent_danger: Annotated[str, Form(max_length=10)] = "",
    member_states: Annotated[str, Form(max_length=120)] = "",
    chosen_actions: Annotated[list[str] | None, Form(alias="actions", max_length=20)] = None,
) -> Response:
    verify_csrf(request, csrf_token)
    catalogue: Catalogue = request.app.state.catalogue
    case = visible_case(db, actor, case_id, for_update=True)
    picked = [a for a in (chosen_actions or []) if a]
    # The ticked actions belong to the policy they were shown for; if the policy changed without
    # the swap (no JavaScript), the chosen policy's defaults apply.
    use_actions: list[str] | None = picked if actions_for == policy else None
    if outcome != Outcome.violates.value:
        use_actions = []
    form = decision_form(
        catalogue,
        case,
        policy_ref=policy,
        outcome=outcome,
        chosen=picked if actions_for == policy else None,
        facts=facts,
        note=note,
    )
    form = {**form, "imminent_danger": bool(imminent_danger), "member_states": member_states}
    try:
        if outcome not in {o for o, _, _ in OUTCOMES}:
            raise InvalidInput(_("choose an outcome: violates, does not violate, or escalate"))
        if not facts.strip():
            raise InvalidInput(_("write the facts this decision relies on (required)"))
        if _policy(catalogue, policy) is None:
            raise InvalidInput(_("%(policy)r is not a policy in force; pick one from the list", policy=policy))
        decision_flow.decide_case(
            db,
            actor=actor,
            case=case,
            policy_ref=policy,
            outcome=outcome,
            facts=facts.strip(),
            actions=use_actions,
            note=note,
            catalogue=catalogue,
            rules=request.app.state.case_rules,
        )
        if imminent_danger:
            # DSA-3: marked with the decision (whatever its outcome), the threat is notified.
            dsa18.mark_threat(
                db,
                actor=actor,
                case=case,
                facts=facts.strip(),
                member_states=_states(member_states),
                authorities=request.app.state.settings.dsa18_authorities,
                rules=request.app.state.case_rules,
            )
    except StaydownError as exc:
        return _rerender(db, request, actor, case_id, exc, form={**form, "error": exc.message})
    return RedirectResponse(f"/console/cases/{case_id}", status_code=303)


def _states(text: str) -> list[str]:
    return [s for s in (part.strip() for part in text.replace(";", ",").replace(" ", ",").split(",")) if s]


@router.post("/cases/{case_id}/threat")
def mark_threat(
    case_id: DbId,
    request: Request,
    db: DbSession,
    actor: Reviewer,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    facts: Annotated[str, Form(max_length=MAX_FACTS)] = "",
    member_states: Annotated[str, Form(max_length=120)] = "",
) -> Response:
    """DSA-3: mark a threat to life or safety without (or before) deciding the case."""
    verify_csrf(request, csrf_token)
    case = visible_case(db, actor, case_id, for_update=True)
    try:
        dsa18.mark_threat(
            db,
            actor=actor,
            case=case,
            facts=facts,
            member_states=_states(member_states),
            authorities=request.app.state.settings.dsa18_authorities,
            rules=request.app.state.case_rules,
        )
    except StaydownError as exc:
        return _rerender(
            db,
            request,
            actor,
            case_id,
            exc,
            threat={"facts": facts, "member_states": member_states, "error": exc.message},
        )
    return RedirectResponse(f"/console/cases/{case_id}#threat-h", status_code=303)


# -- second review ------------------------------------------------------------------------------


@router.get("/second-review")
def second_review_queue(request: Request, db: DbSession, actor: Senior) -> Response:
    include_cs = Permission.CHILD_SAFETY_CASES.value in actor.permissions
    cases = queries.queue(db, state=CaseState.second_review.value, limit=200, include_child_safety=include_cs)
    pending = (
        {
            d.case_id: d
            for d in db.execute(
                sa.select(Decision).where(
                    Decision.case_id.in_([c.id for c in cases]),
                    Decision.state == DecisionState.pending_second_review.value,
                )
            ).scalars()
        }
        if cases
        else {}
    )
    rows = [(c, pending.get(c.id)) for c in cases if can_see(actor, c)]
    names = staff_names(db, {d.reviewer for d in pending.values()})
    return render(
        request,
        "console/second_review.html",
        {
            "rows": rows,
            "me": actor.ref,
            "at": now(db),
            "names": names,
            "remaining": remaining_text,
            "live_tracks": live_tracks,
        },
    )


@router.post("/cases/{case_id}/second-review")
def second_review(
    case_id: DbId,
    request: Request,
    db: DbSession,
    actor: Senior,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    agree: Annotated[str, Form(max_length=10)] = "",
    facts: Annotated[str, Form(max_length=MAX_FACTS)] = "",
    note: Annotated[str, Form(max_length=MAX_FACTS)] = "",
    policy: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    verify_csrf(request, csrf_token)
    catalogue: Catalogue = request.app.state.catalogue
    case = visible_case(db, actor, case_id, for_update=True)
    second = {
        "agree": agree,
        "facts": facts,
        "note": note,
        "policy_ref": policy or _default_ref(catalogue, case),
        "error": "",
    }
    try:
        if agree not in ("yes", "no"):
            raise InvalidInput(_("say whether you agree with the first decision"))
        if not facts.strip():
            raise InvalidInput(_("write the facts your review relies on (required)"))
        if agree == "no" and _policy(catalogue, policy) is None:
            raise InvalidInput(_("disagreeing decides that the content violates: pick the policy in force it violates"))
        decision_flow.second_review(
            db,
            actor=actor,
            case=case,
            agree=agree == "yes",
            facts=facts.strip(),
            catalogue=catalogue,
            rules=request.app.state.case_rules,
            policy_ref=policy if agree == "no" else None,
            note=note,
        )
    except StaydownError as exc:
        return _rerender(db, request, actor, case_id, exc, second={**second, "error": exc.message})
    return RedirectResponse(f"/console/cases/{case_id}", status_code=303)


# -- working together -----------------------------------------------------------------------------


@router.post("/cases/{case_id}/comments")
def add_comment(
    case_id: DbId,
    request: Request,
    db: DbSession,
    actor: Reader,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    body: Annotated[str, Form(max_length=teamwork.MAX_COMMENT + 1000)] = "",
) -> Response:
    """An internal comment for colleagues (never shown to the people concerned)."""
    verify_csrf(request, csrf_token)
    case = visible_case(db, actor, case_id, for_update=True)
    try:
        teamwork.add_comment(db, actor=actor, case=case, body=body)
    except StaydownError as exc:
        return _rerender(db, request, actor, case_id, exc, comment={"body": body, "error": exc.message})
    return RedirectResponse(f"/console/cases/{case_id}#comments-h", status_code=303)


@router.post("/cases/{case_id}/assignment")
def assign(
    case_id: DbId,
    request: Request,
    db: DbSession,
    actor: Reviewer,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    to: Annotated[str, Form(max_length=200)] = "",
    reason: Annotated[str, Form(max_length=teamwork.MAX_REASON + 1000)] = "",
    escalate: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Give the case to a person or a role; with `escalate`, hand it up with a reason (the role
    is alerted). An empty `to` without `escalate` takes the case back from whoever has it."""
    verify_csrf(request, csrf_token)
    case = visible_case(db, actor, case_id, for_update=True)
    try:
        if escalate:
            teamwork.escalate_case(db, actor=actor, case=case, to=to, reason=reason)
        else:
            teamwork.assign_case(db, actor=actor, case=case, to=to or None, reason=reason)
    except StaydownError as exc:
        return _rerender(
            db,
            request,
            actor,
            case_id,
            exc,
            assign={"to": to, "reason": reason, "error": exc.message, "escalate": bool(escalate)},
        )
    return RedirectResponse(f"/console/cases/{case_id}#assign-h", status_code=303)
