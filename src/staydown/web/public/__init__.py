"""Public pages, for anyone without an account: report, TAKE IT DOWN request, status by tracking code.

Every page works without JavaScript: multi-step forms carry their state in the form itself, errors
re-render the form with what the person typed, and every POST checks CSRF, the form size limit and
the same per-address rate limits as the JSON routes under /public."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from staydown.actors import Actor
from staydown.db import now
from staydown.http import DbSession, public_base, rate_limited, require
from staydown.i18n import current as current_language
from staydown.i18n import gettext as _
from staydown.i18n import localise
from staydown.intake import actions
from staydown.intake.models import Notice, NoticeKind, ReporterKind
from staydown.intake.schemas import CompletionIn, NoticeIn
from staydown.policies.schema import Policy
from staydown.staff.permissions import Permission
from staydown.web.public import ondevice, queries, redress
from staydown.web.public.forms import (
    EXPLANATION_LIMIT,
    Form,
    form_id,
    new_form_id,
    parse_location,
    parse_locations,
    read_form,
)
from staydown.web.public.words import (
    KIND_WORDS,
    MINOR_CHOICES,
    OUTCOME_WORDS,
    PLAIN,
    REPORTERS,
    RESOLUTION_WORDS,
    STATE_WORDS,
    TAKEDOWN_REPORTERS,
    TRACK_WORDS,
)
from staydown.web.templating import render, use_page_language

router = APIRouter(
    tags=["public pages"],
    include_in_schema=False,
    dependencies=[Depends(require(Permission.PUBLIC)), Depends(use_page_language)],
)

Public = Annotated[Actor, Depends(require(Permission.PUBLIC))]
Posted = Annotated[Form, Depends(read_form)]
CodePath = Annotated[str, Path(min_length=4, max_length=40)]

REPORT_STEPS = 3


@dataclass(frozen=True)
class Category:
    id: str
    label: str
    hint: str
    child_safety: bool


def categories(request: Request) -> list[Category]:
    """The report form's choices: child safety first, then intimate images, then by severity."""
    catalogue = request.app.state.catalogue
    policies: list[Policy] = list(catalogue)
    order = list(PLAIN)

    def rank(p: Policy) -> tuple[int, int, int]:
        known = order.index(p.id) if p.id in PLAIN else len(order)
        return (0 if p.child_safety else 1 if p.ncii else 2, known, -p.severity_rank)

    out = []
    for policy in sorted(policies, key=rank):
        if policy.id in PLAIN:
            label, hint = (_(text) if text else "" for text in PLAIN[policy.id])
        else:  # a platform's own policy, under its title in the page's language
            label, hint = policy.text(current_language()).title, ""
        out.append(Category(policy.id, label, hint, policy.child_safety))
    return out


def _content_param(value: str | None) -> tuple[str | None, str | None]:
    if value is None or not value.strip():
        return None, None
    location, problem = parse_location(value)
    if problem or location is None or location.content_id is None:
        return None, _("The link you followed does not name an item we can report; enter its web address")
    return location.content_id, None


# -- report -----------------------------------------------------------------------------------


@router.get("/report", response_class=HTMLResponse)
def report_form(
    request: Request,
    content: Annotated[str | None, Query(max_length=400)] = None,
    about: Annotated[str | None, Query(max_length=80)] = None,
    step: Annotated[str | None, Query(max_length=2)] = None,
) -> HTMLResponse:
    """Steps 1 and 2 of the report (X-6: at most three steps, reachable from `/report?content=ID`).
    Step 1 is a GET form, so choosing what it is about needs no session and no JavaScript."""
    cats = categories(request)
    content_id, content_problem = _content_param(content)
    chosen = next((c for c in cats if c.id == about), None)
    if chosen is None or step == "1":
        errors = {}
        if chosen is None and (step == "2" or about):
            errors["about"] = _("Choose what the content is about")
        given, _unused = parse_location(content or "")
        return render(
            request,
            "public/report_step1.html",
            {
                "categories": cats,
                "content_id": content_id,
                "errors": errors,
                "values": {"about": about or ""},
                # An address the platform linked with is carried to step 2, where it fills the location.
                "carry": content_id or (given.url if given is not None and given.url else None),
                "steps": REPORT_STEPS,
            },
            status_code=422 if errors else 200,
        )
    form = Form({"about": chosen.id, "form_id": new_form_id(), "location": ""})
    if content_problem:
        given, _unused = parse_location(content or "")
        if given is not None and given.url:
            form.values["location"] = given.url  # a platform that links with the item's address
        else:
            form.error("location", content_problem)
    return _report_step2(request, form, chosen, content_id)


def _report_step2(
    request: Request, form: Form, category: Category, content_id: str | None, status_code: int = 200
) -> HTMLResponse:
    return render(
        request,
        "public/report_step2.html",
        {
            "category": category,
            "content_id": content_id,
            "values": form.values,
            "errors": form.errors,
            "reporters": localise(REPORTERS),
            "minor_choices": localise(MINOR_CHOICES),
            "steps": REPORT_STEPS,
            "explanation_limit": EXPLANATION_LIMIT,
        },
        status_code=status_code,
    )


@router.post("/report", response_class=HTMLResponse, dependencies=[Depends(rate_limited("public-notices", 0))])
def report_submit(request: Request, form: Posted, db: DbSession, actor: Public) -> HTMLResponse:
    """Step 2 sent: check it, file the notice through the intake action, show step 3."""
    cats = categories(request)
    category = next((c for c in cats if c.id == form.get("about")), None)
    if category is None:
        return render(
            request,
            "public/report_step1.html",
            {
                "categories": cats,
                "content_id": None,
                "errors": {"about": _("Choose what the content is about")},
                "values": {"about": ""},
                "carry": None,
                "steps": REPORT_STEPS,
            },
            status_code=422,
        )
    key = form_id(form.get("form_id"))
    already = queries.already_filed(db, key)
    if already is not None:
        return _report_done(request, db, already)
    content_id, _unused = _content_param(form.get("content_id") or None)
    locations = (
        []
        if content_id
        else parse_locations(
            form, "location", required=True, missing=_("Enter the web address of what you are reporting")
        )
    )
    if content_id:
        items = [{"content_id": content_id}]
    else:
        items = [loc.as_item() for loc in locations[:1]]
        if len(locations) > 1:
            form.error("location", _("Enter one web address; send another report for each further item"))
    child_safety = category.child_safety
    explanation = form.text(
        "explanation",
        label=_("What is wrong with it?") if not child_safety else _("Anything we should know?"),
        limit=EXPLANATION_LIMIT,
        required=not child_safety,
        minimum=0 if child_safety else 10,
        missing=_("Say what is wrong with it"),
    )
    minor = (
        True
        if child_safety
        else form.choice("minor", MINOR_CHOICES, message=_("Say whether a child (someone under 18) is involved"))
        == "yes"
    )
    reporter = form.choice("reporter", REPORTERS, message=_("Say who you are, or choose 'I would rather not say'"))
    contact_name = form.text("contact_name", label=_("Your name"), limit=200)
    contact_email = form.email("contact_email")
    # DSA Art. 16(2)(d) asks every notice for a statement of good faith; a report about a child is
    # taken without it all the same (X-1: nothing stands between a parent and a report).
    good_faith = form.checked("good_faith")
    if not good_faith and not child_safety:
        form.error("good_faith", _("Confirm that you believe in good faith that what you report is accurate"))
    if form.errors:
        return _report_step2(request, form, category, content_id, status_code=422)
    try:
        notice_in = NoticeIn(
            kind=NoticeKind.public_report,
            reporter_kind=ReporterKind(reporter),
            items=items,
            policy_id=category.id,
            explanation=explanation,
            minor_involved=minor,
            good_faith=good_faith,
            contact_name=contact_name or None,
            contact_email=contact_email,
            language=current_language(),
            details={"source": "public_report_page"},
        )
    except ValidationError as exc:  # a limit of the intake schema that the page did not check
        form.error("location", "; ".join(e["msg"] for e in exc.errors()[:3]))
        return _report_step2(request, form, category, content_id, status_code=422)
    return _report_done(request, db, _file_once(request, db, actor, notice_in, key))


def _file_once(request: Request, db: Any, actor: Actor, notice_in: NoticeIn, key: str | None) -> Notice:
    """File the notice under the form's key (the caller holds the key's lock, see `queries.already_filed`)."""
    state = request.app.state
    receipt = actions.submit_notice(
        db, actor=actor, notice=notice_in, catalogue=state.catalogue, rules=state.case_rules, engine=state.match_engine
    )
    if key is not None:
        receipt.notice.idempotency_key = "public-form:" + key
    return receipt.notice


def _report_done(request: Request, db: Any, notice: Notice) -> HTMLResponse:
    deadlines = queries.notice_deadlines(db, notice)
    return render(
        request,
        "public/report_done.html",
        {
            "notice": notice,
            "deadlines": deadlines,
            "track_words": localise(TRACK_WORDS),
            "steps": REPORT_STEPS,
            "restricted": queries.restricted_pending_review(db, notice),
            "status_url": f"{public_base(request)}/status/{notice.tracking_code}",
        },
        status_code=201,
    )


# -- TAKE IT DOWN -----------------------------------------------------------------------------


@router.get("/takedown", response_class=HTMLResponse)
def takedown_form(
    request: Request,
    db: DbSession,
    content: Annotated[str | None, Query(max_length=400)] = None,
    code: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    """The TAKE IT DOWN request with its plain-language notice (TID-4). `?code=` is the completion
    link the acknowledgement sends for an incomplete request."""
    if code:
        return _completion_page(request, actions.notice_by_code(db, code), Form({}))
    content_id, _unused = _content_param(content)
    values = {"locations": content_id or "", "form_id": new_form_id()}
    return _takedown_page(request, Form(values))


def _takedown_page(request: Request, form: Form, status_code: int = 200) -> HTMLResponse:
    return render(
        request,
        "public/takedown.html",
        {
            "values": form.values,
            "errors": form.errors,
            "reporters": localise(TAKEDOWN_REPORTERS),
            "elements": localise(actions.TAKE_IT_DOWN_ELEMENTS),
            "hours": int(request.app.state.case_rules.hours["take_it_down"]),
            "explanation_limit": EXPLANATION_LIMIT,
        },
        status_code=status_code,
    )


@router.post("/takedown", response_class=HTMLResponse, dependencies=[Depends(rate_limited("takedown", 0))])
def takedown_submit(request: Request, form: Posted, db: DbSession, actor: Public) -> HTMLResponse:
    """Store the request even when elements are missing (TID-1), and say exactly which."""
    key = form_id(form.get("form_id"))
    already = queries.already_filed(db, key)
    if already is not None:
        return _takedown_result(request, db, already)
    reporter = form.choice(
        "reporter", TAKEDOWN_REPORTERS, message=_("Say whether you are the person shown or act for them")
    )
    locations = parse_locations(form, "locations", required=True)
    explanation = form.text("explanation", label=_("The facts"), limit=EXPLANATION_LIMIT)
    signature = form.text("signature", label=_("Your signature"), limit=300)
    contact_name = form.text("contact_name", label=_("Your name"), limit=200)
    contact_email = form.email("contact_email")
    if form.errors:
        return _takedown_page(request, form, status_code=422)
    try:
        notice_in = NoticeIn(
            kind=NoticeKind.take_it_down,
            reporter_kind=ReporterKind(reporter),
            items=[loc.as_item() for loc in locations],
            explanation=explanation,
            minor_involved=form.checked("minor"),
            good_faith=form.checked("good_faith"),
            signature=signature or None,
            contact_name=contact_name or None,
            contact_email=contact_email,
            language=current_language(),
            details={"source": "takedown_page"},
        )
    except ValidationError as exc:  # a limit of the intake schema that the page did not check
        form.error("locations", "; ".join(e["msg"] for e in exc.errors()[:3]))
        return _takedown_page(request, form, status_code=422)
    return _takedown_result(request, db, _file_once(request, db, actor, notice_in, key))


def _takedown_result(
    request: Request,
    db: Any,
    notice: Notice,
    form: Form | None = None,
    status_code: int = 201,
    by_code_only: bool = False,
) -> HTMLResponse:
    # Reached with the tracking code alone (not right after filing), the page does not repeat the
    # requester's e-mail address: a code is not proof of being that person.
    return render(
        request,
        "public/takedown_result.html",
        {
            "show_contact": not by_code_only,
            "notice": notice,
            "missing": list(notice.missing_elements),
            "elements": localise(actions.TAKE_IT_DOWN_ELEMENTS),
            "deadlines": queries.notice_deadlines(db, notice),
            "track_words": localise(TRACK_WORDS),
            "values": (form.values if form else {}),
            "errors": (form.errors if form else {}),
            "explanation_limit": EXPLANATION_LIMIT,
            "hours": int(request.app.state.case_rules.hours["take_it_down"]),
            "status_url": f"{public_base(request)}/status/{notice.tracking_code}",
        },
        status_code=status_code,
    )


def _completion_page(request: Request, notice: Notice, form: Form, status_code: int = 200) -> HTMLResponse:
    return render(
        request,
        "public/takedown_complete.html",
        {
            "notice": notice,
            "missing": list(notice.missing_elements),
            "elements": localise(actions.TAKE_IT_DOWN_ELEMENTS),
            "values": form.values,
            "errors": form.errors,
            "explanation_limit": EXPLANATION_LIMIT,
            "hours": int(request.app.state.case_rules.hours["take_it_down"]),
        },
        status_code=status_code,
    )


@router.get("/takedown/complete", response_class=HTMLResponse)
def completion_code_form(request: Request) -> HTMLResponse:
    return render(request, "public/takedown_code.html", {"values": {}, "errors": {}})


@router.post("/takedown/complete", response_class=HTMLResponse, dependencies=[Depends(rate_limited("takedown", 0))])
def completion_submit(request: Request, form: Posted, db: DbSession, actor: Public) -> HTMLResponse:
    """Send what an incomplete request lacked, with its tracking code. A post with the code alone
    shows the fields still missing."""
    code = form.get("code")
    if not code:
        form.error("code", _("Enter the tracking code you were given"))
        return render(
            request, "public/takedown_code.html", {"values": form.values, "errors": form.errors}, status_code=422
        )
    notice = actions.notice_by_code(db, code)
    if notice.kind != NoticeKind.take_it_down.value:
        return render(
            request,
            "public/takedown_code.html",
            {
                "values": form.values,
                "errors": {
                    "code": _("This tracking code is for a report, not a TAKE IT DOWN request: see its status instead")
                },
            },
            status_code=422,
        )
    if notice.state != "incomplete":
        return _takedown_result(request, db, notice, status_code=200, by_code_only=True)
    if form.get("stage") != "fields":
        return _completion_page(request, notice, Form({}))
    missing = set(notice.missing_elements)
    update: dict[str, Any] = {}
    if "signature" in missing:
        update["signature"] = form.text("signature", label=_("Your signature"), limit=300) or None
    if "explanation" in missing:
        update["explanation"] = form.text("explanation", label=_("The facts"), limit=EXPLANATION_LIMIT) or None
    if "good_faith_statement" in missing:
        update["good_faith"] = form.checked("good_faith") or None
    if "contact" in missing:
        update["contact_email"] = form.email("contact_email")
        update["contact_name"] = form.text("contact_name", label=_("Your name"), limit=200) or None
    if "items" in missing:
        update["items"] = [loc.as_item() for loc in parse_locations(form, "locations", required=False)] or None
    if form.errors:
        return _completion_page(request, notice, form, status_code=422)
    state = request.app.state
    receipt = actions.complete_notice(
        db,
        actor=actor,
        notice=notice,
        completion=CompletionIn(**update),
        catalogue=state.catalogue,
        rules=state.case_rules,
        engine=state.match_engine,
    )
    return _takedown_result(request, db, receipt.notice, status_code=200)


# -- status -----------------------------------------------------------------------------------


@router.get("/status", response_class=HTMLResponse)
def status_form(request: Request) -> HTMLResponse:
    return render(request, "public/status_form.html", {"values": {}, "errors": {}})


@router.post("/status", response_class=HTMLResponse, dependencies=[Depends(rate_limited("status", 0))])
def status_lookup(request: Request, form: Posted, db: DbSession) -> HTMLResponse:
    """The status by a code sent in the body: the page's own form keeps the code out of the address
    bar, the history and the access log."""
    code = form.get("code")
    if not code:
        form.error("code", _("Enter the tracking code you were given"))
        return render(
            request, "public/status_form.html", {"values": form.values, "errors": form.errors}, status_code=422
        )
    return _status_page(request, db, actions.notice_by_code(db, code))


@router.get("/status/{code}", response_class=HTMLResponse, dependencies=[Depends(rate_limited("status", 0))])
def status_page(request: Request, code: CodePath, db: DbSession) -> HTMLResponse:
    """The address the acknowledgement e-mail links to."""
    return _status_page(request, db, actions.notice_by_code(db, code))


def _status_page(request: Request, db: Any, notice: Notice) -> HTMLResponse:
    status = queries.public_status(
        db, notice, catalogue=getattr(request.app.state, "catalogue", None), language=current_language()
    )
    return render(
        request,
        "public/status.html",
        {
            "status": status,
            "notice": notice,
            "state_words": localise(STATE_WORDS),
            "outcome_words": localise(OUTCOME_WORDS),
            "track_words": localise(TRACK_WORDS),
            "resolution_words": localise(RESOLUTION_WORDS),
            "now": now(db),
            "kind_words": localise(KIND_WORDS),
            "elements": localise(actions.TAKE_IT_DOWN_ELEMENTS),
        },
    )


# The statement, appeal and transparency pages live in their own module, on this router.
router.include_router(redress.router)
# The page that fingerprints pictures on the person's device (and its withdrawal), on this router.
router.include_router(ondevice.router)
