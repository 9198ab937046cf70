"""Public pages for redress and openness: the statement of reasons, the appeal form and its status,
and the transparency figures."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse

from staydown.actors import Actor
from staydown.appeals import filing
from staydown.appeals import queries as appeal_queries
from staydown.appeals.models import NOTIFIER_BASES, AppealBasis
from staydown.appeals.rules import AppealRules
from staydown.cases.models import Outcome
from staydown.db import now
from staydown.errors import Conflict, InvalidInput, NotFound, RuleViolation
from staydown.http import DbSession, rate_limited, require
from staydown.i18n import N_, localise
from staydown.i18n import current as current_language
from staydown.i18n import gettext as _
from staydown.intake import actions as intake
from staydown.staff.permissions import Permission
from staydown.transparency import statement_views
from staydown.transparency.labels import figure_labels
from staydown.transparency.report import MAX_PERIOD_DAYS
from staydown.transparency.report_api import public_figures, public_limit
from staydown.web.public import queries
from staydown.web.public.forms import Form, read_form
from staydown.web.templating import render, use_page_language

router = APIRouter(
    tags=["public pages"],
    include_in_schema=False,
    dependencies=[Depends(require(Permission.PUBLIC)), Depends(use_page_language)],
)

Public = Annotated[Actor, Depends(require(Permission.PUBLIC))]
Posted = Annotated[Form, Depends(read_form)]
CodePath = Annotated[str, Path(min_length=4, max_length=40)]
CodeQuery = Annotated[str | None, Query(max_length=40)]

MAX_APPEAL_EXPLANATION = filing.MAX_EXPLANATION

BASIS_WORDS = {
    AppealBasis.content_restriction.value: (N_("My content was removed, hidden or restricted"), ""),
    AppealBasis.account_restriction.value: (N_("My account was warned, suspended or closed"), ""),
    AppealBasis.monetisation_restriction.value: (N_("My earnings were stopped or reduced"), ""),
    AppealBasis.proactive_technology.value: (N_("An automated system caught my content by mistake"), ""),
    AppealBasis.no_action.value: (N_("You decided not to act on my report"), ""),
    AppealBasis.insufficient_action.value: (N_("You acted on my report, but not enough"), ""),
}
APPEAL_STATE_WORDS = {
    "received": N_("Received: waiting for a reviewer"),
    "in_review": N_("Being reviewed"),
    "decided": N_("Decided"),
    "withdrawn": N_("Withdrawn"),
}
APPEAL_OUTCOME_WORDS = {
    "upheld": N_("The original decision stands."),
    "reversed": N_("We reversed the decision."),
    "modified": N_("We changed the decision."),
}
SOURCE_WORDS = {
    "notice": N_("a report (notice) about it"),
    "trusted_flagger": N_("a report from a trusted flagger"),
    "other_notification": N_("a notification or order from an authority"),
    "own_initiative": N_("our own checks"),
}
AUTOMATED_WORDS = {
    "fully": N_("taken by automated means"),
    "partially": N_("taken partly by automated means"),
    "not_automated": N_("taken by a person"),
}


def _affected_bases(statement: Any) -> list[str]:
    first = (
        AppealBasis.account_restriction.value
        if statement.target == "account"
        else AppealBasis.content_restriction.value
    )
    rest = [b.value for b in AppealBasis if b.value not in NOTIFIER_BASES and b.value != first]
    return [first, *rest]


def _contested(db: Any, statement_code: str | None, notice_code: str | None) -> dict[str, Any]:
    """What the appeal is about, as the person may see it, and the bases open to them."""
    if statement_code:
        statement = statement_views.statement_by_code(db, statement_code)
        return {
            "kind": "statement",
            "code": statement.code,
            "statement": statement_views.public_view_in(db, statement, current_language()),
            "deadline": statement.appeal_deadline,
            "bases": _affected_bases(statement),
            "fixed_basis": None,
        }
    notice = intake.notice_by_code(db, notice_code or "")
    status = queries.public_status(db, notice, language=current_language())
    fixed = (
        AppealBasis.insufficient_action.value
        if status.outcome == Outcome.violates.value
        else AppealBasis.no_action.value
    )
    return {
        "kind": "notice",
        "code": notice.tracking_code,
        "status": status,
        "bases": [fixed],
        "fixed_basis": fixed,
        "deadline": None,
    }


def _which_code(db: Any, code: str) -> tuple[str | None, str | None]:
    """(statement code, tracking code) for a code given alone; NotFound when it is neither."""
    try:
        return statement_views.statement_by_code(db, code).code, None
    except NotFound:
        return None, intake.notice_by_code(db, code).tracking_code


def _appeal_form(
    request: Request, contested: dict[str, Any], form: Form, status_code: int = 200, problem: str | None = None
) -> HTMLResponse:
    values = dict(form.values)
    values.setdefault("basis", contested["bases"][0])
    return render(
        request,
        "public/appeal_form.html",
        {
            "contested": contested,
            "values": values,
            "errors": form.errors,
            "problem": problem,
            "basis_choices": {b: localise(BASIS_WORDS)[b] for b in contested["bases"]},
            "limit": MAX_APPEAL_EXPLANATION,
            "outcome_words": {"violates": _("We acted on it."), "does_not_violate": _("We did not act on it.")},
        },
        status_code=status_code,
    )


@router.get("/appeal", response_class=HTMLResponse)
def appeal_start(
    request: Request,
    db: DbSession,
    statement: CodeQuery = None,
    notice: CodeQuery = None,
    kind: Annotated[str | None, Query(max_length=20)] = None,
    code: CodeQuery = None,
) -> HTMLResponse:
    """Reached from a statement of reasons (`?statement=`) or a report's status (`?notice=`);
    without either, a form asks which code the person holds."""
    if code and kind in ("statement", "notice"):
        statement, notice = (code, None) if kind == "statement" else (None, code)
    elif code and kind is None and not (statement or notice):
        # `/appeal?code=` alone, as decision e-mails sent before `?notice=` link: the code says
        # which it is (a statement code carries its own prefix).
        statement, notice = _which_code(db, code)
    if not statement and not notice:
        errors = {}
        if kind is not None or code is not None:
            if kind not in ("statement", "notice"):
                errors["kind"] = _("Say which code you have")
            if not code:
                errors["code"] = _("Enter the code")
        return render(
            request,
            "public/appeal_code.html",
            {"values": {"kind": kind or "", "code": code or ""}, "errors": errors},
            status_code=422 if errors else 200,
        )
    return _appeal_form(request, _contested(db, statement, notice), Form({}))


@router.post("/appeal", response_class=HTMLResponse, dependencies=[Depends(rate_limited("public-appeals", 0))])
def appeal_submit(request: Request, form: Posted, db: DbSession, actor: Public) -> HTMLResponse:
    kind = form.get("kind")
    if kind not in ("statement", "notice"):
        raise InvalidInput(N_("send the appeal from its page: it names the statement or the report it is about"))
    contested = _contested(
        db, form.get("code") if kind == "statement" else None, form.get("code") if kind == "notice" else None
    )
    basis = form.choice(
        "basis", dict.fromkeys(contested["bases"], 1), message=_("Choose what you are appealing against")
    )
    explanation = form.text(
        "explanation",
        label=_("Why is the decision wrong?"),
        limit=MAX_APPEAL_EXPLANATION,
        required=True,
        missing=_("Say why the decision is wrong"),
    )
    email = form.email("contact_email")
    if form.errors:
        return _appeal_form(request, contested, form, status_code=422)
    rules = AppealRules.from_settings(request.app.state.settings)
    try:
        appeal = filing.file_appeal(
            db,
            actor=actor,
            statement_code=contested["code"] if kind == "statement" else None,
            tracking_code=contested["code"] if kind == "notice" else None,
            basis=basis or "",
            explanation=explanation,
            contact_email=email,
            language=current_language(),
            rules=rules,
        )
    except (InvalidInput, Conflict, RuleViolation) as exc:
        # file_appeal refuses before it writes, with a message written for the appellant.
        return _appeal_form(
            request,
            contested,
            form,
            status_code=409 if not isinstance(exc, InvalidInput) else 422,
            problem=_(exc.message),
        )
    return render(
        request,
        "public/appeal_done.html",
        {
            "appeal": appeal_queries.public_view(appeal, db),
            "status_path": f"/appeal/{appeal.code}",
            "contact_email": email,
        },
        status_code=201,
    )


@router.get("/appeal/{code}", response_class=HTMLResponse, dependencies=[Depends(rate_limited("status", 0))])
def appeal_status(request: Request, code: CodePath, db: DbSession) -> HTMLResponse:
    """The address the appeal's acknowledgement links to: its progress and, once decided, the
    outcome with its reasons and the out-of-court option."""
    view = appeal_queries.public_view(appeal_queries.appeal_by_code(db, code), db)
    return render(
        request,
        "public/appeal_status.html",
        {
            "appeal": view,
            "state_words": localise(APPEAL_STATE_WORDS),
            "outcome_words": localise(APPEAL_OUTCOME_WORDS),
            "basis_words": localise(BASIS_WORDS),
        },
    )


# -- statement of reasons -----------------------------------------------------------------------


@router.get("/statements/{code}", response_class=HTMLResponse, dependencies=[Depends(rate_limited("statements", 0))])
def statement_page(request: Request, code: CodePath, db: DbSession) -> HTMLResponse:
    """A statement of reasons (DSA Art. 17) as a page: every element, no personal data."""
    statement = statement_views.statement_by_code(db, code)
    view = statement_views.public_view_in(db, statement, current_language())
    deadline = statement.appeal_deadline
    return render(
        request,
        "public/statement.html",
        {
            "s": view,
            "source_words": localise(SOURCE_WORDS),
            "automated_words": localise(AUTOMATED_WORDS),
            "issued_at": statement.issued_at,
            "starts_at": statement.starts_at,
            "ends_at": statement.ends_at,
            "deadline": deadline,
            "appeal_open": deadline is None or now(db) <= deadline,
            "appeal_path": f"/appeal?statement={statement.code}",
        },
    )


# -- how uploads are checked (EUI-3) -------------------------------------------------------------


@router.get("/detection", response_class=HTMLResponse)
def detection_page(request: Request) -> HTMLResponse:
    """EUI-3: users are told that uploads are compared with hash lists, with which techniques, what
    a match leads to, and how to complain (Regulation (EU) 2021/1232, Art. 3(1)(g))."""
    return render(request, "public/detection.html", {})


# -- transparency -------------------------------------------------------------------------------


def _period(start: str | None, end: str | None, today: date) -> tuple[date, date, dict[str, str]]:
    errors: dict[str, str] = {}
    default_start, default_end = today.replace(day=1) - timedelta(days=365), today + timedelta(days=1)
    default_start = default_start.replace(day=1)

    def parse(value: str | None, name: str, fallback: date) -> date:
        if not value:
            return fallback
        try:
            return date.fromisoformat(value)
        except ValueError:
            errors[name] = _("Enter a date as YYYY-MM-DD")
            return fallback

    first, last = parse(start, "from", default_start), parse(end, "to", default_end)
    if not errors and last <= first:
        errors["to"] = _("The end of the period must be after its start")
    elif not errors and (last - first).days > MAX_PERIOD_DAYS:
        errors["to"] = _("A period covers at most %(days)s days", days=MAX_PERIOD_DAYS)
    if errors:
        first, last = default_start, default_end
    return first, last, errors


@router.get("/transparency", response_class=HTMLResponse)
def transparency_page(
    request: Request,
    db: DbSession,
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
) -> HTMLResponse:
    """The public figures (DSA Art. 15/24) for a period, as tables with server-drawn bars; the
    same figure set as GET /public/transparency, small counts suppressed."""
    public_limit(request)
    first, last, errors = _period(start, end, now(db).date())
    figures = _withheld_in_words(public_figures(request, db, first, last))
    return render(
        request,
        "public/transparency.html",
        {
            "f": figures,
            "errors": errors,
            "first": first,
            "last": last,
            "values": {"from": start or first.isoformat(), "to": end or last.isoformat()},
            "json_path": f"/public/transparency?from={first.isoformat()}&to={last.isoformat()}",
            "generated_at": datetime.fromisoformat(figures["generated_at"].replace("Z", "+00:00")),
            "labels": figure_labels(),
        },
        status_code=422 if errors else 200,
    )


WITHHELD = "withheld"


def _withheld_in_words(node: Any) -> Any:
    """The figures with the word for a withheld count in the page's language."""
    if isinstance(node, dict):
        return {k: _withheld_in_words(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_withheld_in_words(v) for v in node]
    return _(N_("withheld")) if node == WITHHELD else node
