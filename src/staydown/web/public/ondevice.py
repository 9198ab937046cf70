"""The public page that fingerprints pictures on the person's own device and sends only the hashes,
and the page that withdraws such a request with its tracking code (intake.hash_submissions).

The pictures never reach these handlers: the page's file pickers are outside the form, the
browser hashes each file in a Web Worker (static/ondevice/), and the form carries one line of
hashes per picture with the declaration. Without JavaScript the page says what it needs and
links to the request form that takes web addresses instead."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from staydown.actors import Actor
from staydown.errors import InvalidInput, NotFound
from staydown.http import DbSession, public_base, rate_limited, require
from staydown.i18n import current as current_language
from staydown.i18n import gettext as _
from staydown.i18n import localise
from staydown.intake import hash_submissions
from staydown.intake.models import NoticeKind, ReporterKind
from staydown.staff.permissions import Permission
from staydown.web.public import queries
from staydown.web.public.forms import EXPLANATION_LIMIT, Form, form_id, new_form_id, read_form
from staydown.web.public.words import TAKEDOWN_REPORTERS, TRACK_WORDS
from staydown.web.templating import render, use_page_language

router = APIRouter(
    tags=["public pages"],
    include_in_schema=False,
    dependencies=[Depends(require(Permission.PUBLIC)), Depends(use_page_language)],
)

Public = Annotated[Actor, Depends(require(Permission.PUBLIC))]
Posted = Annotated[Form, Depends(read_form)]

PAGE = "public/ondevice.html"


def _page(request: Request, form: Form, status_code: int = 200) -> HTMLResponse:
    return render(
        request,
        PAGE,
        {
            "values": form.values,
            "errors": form.errors,
            "reporters": localise(TAKEDOWN_REPORTERS),
            "max_pictures": hash_submissions.MAX_PICTURES,
            "min_quality": hash_submissions.MIN_QUALITY,
            "explanation_limit": EXPLANATION_LIMIT,
            "active": "takedown",
            "hours": int(request.app.state.case_rules.hours["take_it_down"]),
        },
        status_code=status_code,
    )


@router.get("/takedown/pictures", response_class=HTMLResponse)
def pictures_form(request: Request) -> HTMLResponse:
    return _page(request, Form({"form_id": new_form_id()}))


@router.post(
    "/takedown/pictures",
    response_class=HTMLResponse,
    dependencies=[Depends(rate_limited("hash-submissions", hash_submissions.RATE_PER_MINUTE))],
)
def pictures_submit(request: Request, form: Posted, db: DbSession, actor: Public) -> HTMLResponse:
    """Check the declaration and the hashes, then file the request and bank its hashes (held for
    review until a reviewer confirms a first match). A refusal re-renders the page with the
    hashes still in the form, so nothing has to be hashed again."""
    key = form_id(form.get("form_id"))
    already = queries.already_filed(db, key)
    if already is not None:
        return _done(request, db, already)
    pictures: list[hash_submissions.PictureHashes] = []
    try:
        pictures = hash_submissions.parse_pictures(form.get("pictures"))
    except InvalidInput as exc:
        form.error("pictures", exc.message[0].upper() + exc.message[1:])
    minor = form.checked("minor")
    reporter = form.choice(
        "reporter", TAKEDOWN_REPORTERS, message=_("Say whether you are the person shown or act for them")
    )
    if not form.checked("good_faith"):
        form.error("good_faith", _("Confirm that the pictures were shared without the consent of the person shown"))
    explanation = form.text(
        "explanation", label=_("The facts"), limit=EXPLANATION_LIMIT, required=not minor, minimum=0 if minor else 10
    )
    # A request about an adult is a TAKE IT DOWN request: signed, with a way to reach the person
    # (TID-1). About a child, nothing stands between a parent and a report: no name, no e-mail.
    signature = form.text(
        "signature", label=_("Your signature"), limit=300, required=not minor, missing=_("Enter your signature")
    )
    contact_email = form.email("contact_email", required=not minor)
    if form.errors:
        return _page(request, form, status_code=422)
    try:
        notice_in = hash_submissions.notice_without_items(
            kind=NoticeKind.public_report if minor else NoticeKind.take_it_down,
            reporter_kind=ReporterKind(reporter),
            policy_id="csam" if minor else "ncii",
            explanation=explanation,
            minor_involved=minor,
            good_faith=True,
            signature=signature or None,
            contact_email=contact_email,
            language=current_language(),
            details={"source": "takedown_pictures_page", "hashed_on_device": len(pictures)},
        )
    except ValidationError as exc:  # a limit of the intake schema that the page did not check
        form.error("explanation", "; ".join(e["msg"] for e in exc.errors()[:3]))
        return _page(request, form, status_code=422)
    state = request.app.state
    receipt, _submission = hash_submissions.submit_pictures(
        db,
        actor=actor,
        notice=notice_in,
        pictures=pictures,
        catalogue=state.catalogue,
        rules=state.case_rules,
        engine=state.match_engine,
        client={"page": "takedown_pictures"},
    )
    if key is not None:
        receipt.notice.idempotency_key = "public-form:" + key
    return _done(request, db, receipt.notice)


def _done(request: Request, db: Any, notice: Any) -> HTMLResponse:
    submission = hash_submissions.submission_for_notice(db, notice)
    return render(
        request,
        "public/ondevice_done.html",
        {
            "notice": notice,
            "submission": submission,
            "deadlines": queries.notice_deadlines(db, notice),
            "track_words": TRACK_WORDS,
            "active": "takedown",
            "hours": int(request.app.state.case_rules.hours["take_it_down"]),
            "status_url": f"{public_base(request)}/status/{notice.tracking_code}",
        },
        status_code=201,
    )


@router.get("/takedown/pictures/withdraw", response_class=HTMLResponse)
def withdraw_form(request: Request) -> HTMLResponse:
    return render(request, "public/ondevice_withdraw.html", {"values": {}, "errors": {}, "active": "takedown"})


@router.post(
    "/takedown/pictures/withdraw", response_class=HTMLResponse, dependencies=[Depends(rate_limited("status", 0))]
)
def withdraw_submit(request: Request, form: Posted, db: DbSession, actor: Public) -> HTMLResponse:
    """Withdraw with the tracking code (sent in the body, never in the address)."""
    code = form.get("code")
    if not code:
        form.error("code", _("Enter the tracking code you were given when you sent the pictures' fingerprints"))
    elif not form.checked("confirm"):
        form.error("confirm", _("Confirm that you want to withdraw the fingerprints"))
    submission = None
    if not form.errors:
        try:
            submission = hash_submissions.withdraw(db, actor=actor, code=code)
        except NotFound:
            form.error("code", _("We found no request with this tracking code. Check it and try again"))
        except InvalidInput as exc:
            form.error("code", exc.message[0].upper() + exc.message[1:])
    if form.errors or submission is None:
        return render(
            request,
            "public/ondevice_withdraw.html",
            {"values": form.values, "errors": form.errors, "active": "takedown"},
            status_code=422,
        )
    return render(request, "public/ondevice_withdrawn.html", {"submission": submission, "active": "takedown"})
