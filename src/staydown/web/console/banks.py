"""Console pages for hash banks: the banks with counts and provenance, their entries, imports, false positives."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from staydown.actors import Actor
from staydown.errors import InvalidInput, PayloadTooLarge
from staydown.http import DbSession, require
from staydown.i18n import N_, gettext
from staydown.limits import DbId
from staydown.matching import banks
from staydown.staff.permissions import Permission
from staydown.web.console import queries
from staydown.web.console.page_forms import done_message, page_number, see_other, text
from staydown.web.console.session import console_session
from staydown.web.security import verify_csrf
from staydown.web.templating import render

router = APIRouter(prefix="/console", dependencies=[Depends(console_session)], include_in_schema=False)

Reader = Annotated[Actor, Depends(require(Permission.BANKS_READ))]
Writer = Annotated[Actor, Depends(require(Permission.BANKS_WRITE))]
BankName = Annotated[str, Path(min_length=1, max_length=80)]

# A console upload is read into memory to parse; larger lists go through `staydown banks import`.
MAX_IMPORT_BYTES = 20 * 1024 * 1024
MAX_SHOWN_REJECTIONS = 500


@router.get("/banks", response_class=HTMLResponse)
def bank_list(request: Request, db: DbSession, _: Reader) -> Response:
    return render(request, "console/banks.html", {"rows": queries.bank_rows(db)})


@router.get("/banks/{name}", response_class=HTMLResponse)
def bank_page(
    request: Request,
    name: BankName,
    db: DbSession,
    _: Reader,
    page: str = "1",
    show: str = "all",
    done: str | None = None,
) -> Response:
    bank = banks.bank_by_name(db, name)
    entries = queries.bank_entries(db, bank, page=page_number(page), show=show)
    return render(
        request,
        "console/bank_entries.html",
        {"bank": bank, "entries": entries, "show": show, "done": done_message(done)},
    )


@router.post("/banks/{name}/import", response_class=HTMLResponse)
def bank_import(
    request: Request,
    name: BankName,
    db: DbSession,
    actor: Writer,
    csrf_token: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
    source_ref: Annotated[str, Form()] = "",
) -> Response:
    verify_csrf(request, csrf_token)
    bank = banks.bank_by_name(db, name)
    ref = text(source_ref, label=N_("the source of the list (where it came from)"), max_len=300)
    if file is None or not file.filename:
        raise InvalidInput(gettext("choose a file to import"))
    raw = file.file.read(MAX_IMPORT_BYTES + 1)
    if len(raw) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge(
            f"the console imports files up to {MAX_IMPORT_BYTES // (1024 * 1024)} MiB; "
            "use `staydown banks import` for larger lists"
        )
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            gettext("the file is not UTF-8 text (byte %(start)s is not valid)", start=exc.start)
        ) from None
    entries, problems, fmt = banks.parse_bank_file(content)
    if not entries:
        return render(
            request,
            "console/bank_import_result.html",
            {
                "bank": bank,
                "fmt": fmt,
                "report": None,
                "problems": problems[:MAX_SHOWN_REJECTIONS],
                "more": max(0, len(problems) - MAX_SHOWN_REJECTIONS),
                "filename": file.filename,
            },
            status_code=422,
        )
    report = banks.import_entries(
        db, actor=actor, bank=bank, entries=entries, problems=problems, source_ref=f"{ref} ({file.filename[:100]})"
    )
    return render(
        request,
        "console/bank_import_result.html",
        {
            "bank": bank,
            "fmt": fmt,
            "report": report,
            "problems": report.rejected[:MAX_SHOWN_REJECTIONS],
            "more": max(0, len(report.rejected) - MAX_SHOWN_REJECTIONS),
            "filename": file.filename,
        },
    )


@router.post("/bank-entries/{entry_id}/disable")
def entry_disable(
    request: Request,
    entry_id: DbId,
    db: DbSession,
    actor: Writer,
    csrf_token: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    verify_csrf(request, csrf_token)
    entry = banks.entry_by_id(db, entry_id)
    why = text(reason, label=N_("the reason for disabling (e.g. 'false positive: ...')"), max_len=500, min_len=5)
    banks.disable_entry(db, actor=actor, entry=entry, reason=why)
    return see_other(f"/console/banks/{entry.bank.name}?done=entry-disabled")


@router.post("/bank-entries/{entry_id}/enable")
def entry_enable(
    request: Request,
    entry_id: DbId,
    db: DbSession,
    actor: Writer,
    csrf_token: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    verify_csrf(request, csrf_token)
    entry = banks.entry_by_id(db, entry_id)
    why = text(reason, label=N_("the reason for re-enabling"), max_len=500, min_len=5)
    banks.enable_entry(db, actor=actor, entry=entry, reason=why)
    return see_other(f"/console/banks/{entry.bank.name}?done=entry-enabled")
