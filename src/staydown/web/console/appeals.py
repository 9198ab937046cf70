"""The console's appeals: the queue (open, mine, decided), one appeal with its claim and decision
form, and the out-of-court disputes list; views parallel to the appeals API, calling the same
actions (the same rules and effects: a different person decides, reasons are required, confirmed
CSAM is never restored)."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from staydown.actors import Actor
from staydown.appeals import actions, disputes
from staydown.appeals.models import NOTIFIER_BASES, Appeal, AppealOutcome, AppealState, AppellantKind
from staydown.appeals.rules import AppealRules
from staydown.cases.models import Case, Decision
from staydown.db import now
from staydown.enforcement.models import ActionState, EnforcementAction
from staydown.errors import InvalidInput, NotFound, StaydownError, http_status_for
from staydown.http import DbSession, require
from staydown.i18n import N_, localise
from staydown.i18n import gettext as _
from staydown.limits import DbId
from staydown.policies.vocab import ACCOUNT_ACTIONS, CONTENT_ACTIONS
from staydown.staff.permissions import Permission
from staydown.web.console.cases import policies_by_area, staff_names
from staydown.web.console.queue import remaining_text
from staydown.web.console.session import console_session
from staydown.web.security import verify_csrf
from staydown.web.templating import render

router = APIRouter(
    prefix="/console", tags=["console"], include_in_schema=False, dependencies=[Depends(console_session)]
)

Decider = Annotated[Actor, Depends(require(Permission.APPEALS_DECIDE))]
DisputeStaff = Annotated[Actor, Depends(require(Permission.APPEALS_DISPUTES))]

TABS = {"open": N_("Open"), "mine": N_("Claimed by me"), "decided": N_("Decided")}
OUTCOMES = [
    (AppealOutcome.upheld.value, N_("Upheld: the decision stands")),
    (AppealOutcome.reversed.value, N_("Reversed")),
    (AppealOutcome.modified.value, N_("Modified: other measures replace the current ones")),
]
DONE = {
    "claimed": N_("You hold this appeal; decide it before your claim runs out."),
    "released": N_("The appeal is back in the queue."),
    "decided": N_(
        "The appeal was decided; the appellant is told the outcome, your reasons and the out-of-court option."
    ),
}
LIMIT = 200


def _rules(request: Request) -> AppealRules:
    return AppealRules.from_settings(request.app.state.settings)


def _sees_child_safety(actor: Actor) -> bool:
    return Permission.CHILD_SAFETY_CASES.value in actor.permissions


def visible_appeal(db: Session, actor: Actor, appeal_id: int, *, for_update: bool = False) -> Appeal:
    """As the API: an appeal on a child-safety case does not exist for someone who may not see the case."""
    appeal = actions.appeal_by_id(db, appeal_id, for_update=for_update)
    case = db.get(Case, appeal.case_id)
    if case is not None and case.child_safety and not _sees_child_safety(actor):
        raise NotFound(f"no appeal {appeal_id}")
    return appeal


def appeals_tab(db: Session, actor: Actor, tab: str) -> list[Appeal]:
    include_cs = _sees_child_safety(actor)
    if tab == "open":
        return actions.appeal_queue(db, include_child_safety=include_cs, limit=LIMIT)
    stmt = sa.select(Appeal).join(Case, Case.id == Appeal.case_id)
    if not include_cs:
        stmt = stmt.where(Case.child_safety.is_(False))
    if tab == "mine":
        stmt = stmt.where(
            Appeal.claimed_by == actor.ref, Appeal.state.in_(actions.OPEN_STATES), Appeal.claim_expires_at > now(db)
        ).order_by(Appeal.due_at.asc().nulls_last(), Appeal.id)
    else:
        stmt = stmt.where(Appeal.state == AppealState.decided.value).order_by(
            Appeal.decided_at.desc(), Appeal.id.desc()
        )
    return list(db.execute(stmt.limit(LIMIT)).scalars())


@router.get("/appeals")
def appeals_page(request: Request, db: DbSession, actor: Decider) -> Response:
    tab = (request.query_params.get("tab") or "open").strip()
    if tab not in TABS:
        shown = tab[:40] if tab.isprintable() else "that value"
        return render(
            request,
            "console/appeals.html",
            {
                "tabs": localise(TABS),
                "tab": "",
                "appeals": [],
                "at": now(db),
                "remaining": remaining_text,
                "names": {},
                "error": _(
                    "\u201c%(shown)s\u201d is not a list of appeals; choose one of: %(tabs)s",
                    shown=shown,
                    tabs=", ".join(TABS),
                ),
            },
            status_code=422,
        )
    rows = appeals_tab(db, actor, tab)
    names = staff_names(db, {a.claimed_by or "" for a in rows} | {a.decided_by or "" for a in rows})
    return render(
        request,
        "console/appeals.html",
        {
            "tabs": localise(TABS),
            "tab": tab,
            "appeals": rows,
            "at": now(db),
            "remaining": remaining_text,
            "names": names,
            "error": "",
            "me": actor.ref,
        },
    )


@router.get("/appeals/disputes")
def disputes_page(request: Request, db: DbSession, actor: DisputeStaff) -> Response:
    """DSA Art. 21: the disputes before certified out-of-court bodies, their outcome and whether the
    platform implemented it. Recorded through the API (`POST /v1/disputes`)."""
    open_only = request.query_params.get("open") == "1"
    rows = disputes.list_disputes(db, open_only=open_only, limit=LIMIT)
    if not _sees_child_safety(actor) and rows:
        hidden = set(
            db.execute(
                sa.select(Case.id).where(Case.id.in_({d.case_id for d in rows}), Case.child_safety.is_(True))
            ).scalars()
        )
        rows = [d for d in rows if d.case_id not in hidden]
    appeals = (
        {
            a.id: a
            for a in db.execute(
                sa.select(Appeal).where(Appeal.id.in_({d.appeal_id for d in rows if d.appeal_id}))
            ).scalars()
        }
        if rows
        else {}
    )
    return render(
        request,
        "console/disputes.html",
        {
            "disputes": rows,
            "open_only": open_only,
            "appeals": appeals,
            "names": staff_names(db, {d.recorded_by for d in rows}),
            "can_decide": Permission.APPEALS_DECIDE.value in actor.permissions,
        },
    )


def appeal_context(
    db: Session, request: Request, actor: Actor, appeal: Appeal, *, form: dict[str, Any] | None = None
) -> dict[str, Any]:
    case = db.get(Case, appeal.case_id)
    assert case is not None  # appeals.case_id: not null, and a case is never deleted under an appeal
    decision = db.get(Decision, appeal.decision_id) if appeal.decision_id else None
    when = now(db)
    deciders = sorted(set(appeal.original_deciders) | set(actions.original_deciders(db, case)))
    measures = list(
        db.execute(
            sa.select(EnforcementAction)
            .where(EnforcementAction.case_id == case.id, EnforcementAction.state == ActionState.active.value)
            .order_by(EnforcementAction.id)
        ).scalars()
    )
    claimed_by_me = appeal.claimed_by == actor.ref and bool(appeal.claim_expires_at and appeal.claim_expires_at > when)
    claimed_by_other = bool(
        appeal.claimed_by
        and appeal.claimed_by != actor.ref
        and appeal.claim_expires_at
        and appeal.claim_expires_at > when
    )
    is_open = appeal.state in actions.OPEN_STATES
    took_part = actor.ref in deciders
    notifier = appeal.appellant_kind == AppellantKind.notifier.value
    return {
        "appeal": appeal,
        "case": case,
        "decision": decision,
        "at": when,
        "remaining": remaining_text,
        "names": staff_names(db, set(deciders) | {appeal.claimed_by or "", appeal.decided_by or ""}),
        "deciders": deciders,
        "measures": measures,
        "took_part": took_part,
        "is_open": is_open,
        "claimed_by_me": claimed_by_me,
        "claimed_by_other": claimed_by_other,
        "can_claim": is_open and not took_part and not claimed_by_me and not claimed_by_other,
        "notifier": notifier,
        "notifier_bases": NOTIFIER_BASES,
        "asks_bank_entry": (not notifier) and bool(actions.matched_entries(db, case)),
        "outcomes": [(value, _(label)) for value, label in OUTCOMES],
        "all_actions": list(CONTENT_ACTIONS) + list(ACCOUNT_ACTIONS),
        "areas": policies_by_area(request.app.state.catalogue),
        "form": form or {"outcome": "", "reasons": "", "chosen": [], "policy": "", "bank_entry_wrong": "", "error": ""},
        "done": localise(DONE).get(request.query_params.get("done", "")),
        "disputes": [d for d in disputes.list_disputes(db, limit=LIMIT) if d.appeal_id == appeal.id],
    }


@router.get("/appeals/{appeal_id}")
def appeal_page(appeal_id: DbId, request: Request, db: DbSession, actor: Decider) -> Response:
    appeal = visible_appeal(db, actor, appeal_id)
    return render(request, "console/appeal.html", appeal_context(db, request, actor, appeal))


@router.post("/appeals/{appeal_id}/claim")
def claim(
    appeal_id: DbId,
    request: Request,
    db: DbSession,
    actor: Decider,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    verify_csrf(request, csrf_token)
    appeal = visible_appeal(db, actor, appeal_id, for_update=True)
    try:
        actions.claim_appeal(db, actor=actor, appeal=appeal, rules=_rules(request))
    except StaydownError as exc:
        return _rerender(db, request, actor, appeal_id, exc, form=None)
    return RedirectResponse(f"/console/appeals/{appeal_id}?done=claimed", status_code=303)


@router.post("/appeals/{appeal_id}/release")
def release(
    appeal_id: DbId,
    request: Request,
    db: DbSession,
    actor: Decider,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    verify_csrf(request, csrf_token)
    appeal = visible_appeal(db, actor, appeal_id, for_update=True)
    actions.release_appeal(db, actor=actor, appeal=appeal)
    return RedirectResponse(f"/console/appeals/{appeal_id}?done=released", status_code=303)


def _rerender(
    db: Session, request: Request, actor: Actor, appeal_id: int, exc: StaydownError, form: dict[str, Any] | None
) -> Response:
    """A refusal from the action: nothing it did is kept, and the page says why."""
    db.rollback()
    appeal = visible_appeal(db, actor, appeal_id)
    ctx = appeal_context(db, request, actor, appeal, form=form)
    if form is None:
        ctx["form"] = {**ctx["form"], "error": exc.message}
    return render(request, "console/appeal.html", ctx, status_code=http_status_for(exc))


@router.post("/appeals/{appeal_id}/decide")
def decide(
    appeal_id: DbId,
    request: Request,
    db: DbSession,
    actor: Decider,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    outcome: Annotated[str, Form(max_length=30)] = "",
    reasons: Annotated[str, Form(max_length=actions.MAX_REASONS + 1000)] = "",
    policy: Annotated[str, Form(max_length=100)] = "",
    bank_entry_wrong: Annotated[str, Form(max_length=10)] = "",
    chosen_actions: Annotated[list[str] | None, Form(alias="actions", max_length=20)] = None,
) -> Response:
    verify_csrf(request, csrf_token)
    appeal = visible_appeal(db, actor, appeal_id, for_update=True)
    picked = [a for a in (chosen_actions or []) if a]
    form = {
        "outcome": outcome,
        "reasons": reasons,
        "chosen": picked,
        "policy": policy,
        "bank_entry_wrong": bank_entry_wrong,
        "error": "",
    }
    notifier = appeal.appellant_kind == AppellantKind.notifier.value
    # The measures matter to 'modified' and to a notifier's 'reversed' (the measures to take); the
    # API takes them only then, so the form's ticks are passed only then.
    uses_actions = outcome == AppealOutcome.modified.value or (outcome == AppealOutcome.reversed.value and notifier)
    try:
        if outcome not in {o for o, _ in OUTCOMES}:
            raise InvalidInput(_("choose an outcome: upheld, reversed or modified"))
        if bank_entry_wrong not in ("", "yes", "no"):
            raise InvalidInput(_("say whether the bank entry was wrong: yes or no"))
        actions.decide_appeal(
            db,
            actor=actor,
            appeal=appeal,
            outcome=outcome,
            reasons=reasons,
            actions=(picked or (None if outcome == AppealOutcome.reversed.value else [])) if uses_actions else None,
            policy_ref=(policy or None) if uses_actions else None,
            catalogue=request.app.state.catalogue,
            rules=_rules(request),
            case_rules=request.app.state.case_rules,
            bank_entry_wrong={"yes": True, "no": False}.get(bank_entry_wrong)
            if outcome == AppealOutcome.reversed.value
            else None,
        )
    except StaydownError as exc:
        return _rerender(db, request, actor, appeal_id, exc, form={**form, "error": exc.message})
    return RedirectResponse(f"/console/appeals/{appeal_id}?done=decided", status_code=303)
