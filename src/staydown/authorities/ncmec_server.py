"""A local CyberTipline Reporting API for tests and demos: the real protocol, reports kept in memory,
and failures injected on demand.

`create_app(username=..., password=...)` returns an ASGI app that answers `/status`, `/submit`,
`/upload`, `/fileinfo`, `/finish` and `/retract` the way NCMEC documents them: Basic auth, XML
checked against the structure in `ncmec_xml` (4110 when it is not XML, 4100 when it breaks the
schema), report and file ids assigned, the upload's MD5 computed, and the documented codes for a
report that does not exist (5001), a file that does not exist (5002), a report already retracted
(5101) or already finished (5102). Unfinished reports expire as NCMEC's do: 24 hours after they were
opened or 1 hour after the last upload or file details, whichever is later.

Its state is `app.state.ncmec` (a `NcmecServerState`): the reports with their XML, files, file
details and status, and `fail_next(...)` to make the next call to a step fail:

- "error": answer a non-zero response code (1000 unless told) and do nothing;
- "timeout": do nothing and hold the request without answering until the client gives up;
- "drop": do nothing and close the connection without answering;
- "after_commit_drop": do the step (open the report, store the file...), then close the
  connection without answering: the case that leaves a client not knowing what happened;
- "after_commit_timeout": do the step, then hold the request until the client gives up.

Closing a connection without an answer needs the server's transport: this works under uvicorn;
under another ASGI server a drop surfaces as ConnectionResetError raised from the app.

Run it for a demo, on 127.0.0.1 only: `python -m staydown.authorities.ncmec_server --port 8123`.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import threading
import uuid
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from staydown.authorities.local_servers import DroppingApp as _App
from staydown.authorities.local_servers import drop as _drop
from staydown.authorities.local_servers import hold as _hold
from staydown.authorities.ncmec_xml import (
    FILE_DETAILS,
    REPORT,
    ResponseCode,
    Spec,
    XmlProblem,
    parse_xml,
    response_xml,
    validate,
)
from staydown.memform import read_form

__all__ = ["MODES", "STEPS", "NcmecServerState", "StoredFile", "StoredReport", "create_app", "main"]

STEPS = ("status", "submit", "upload", "fileinfo", "finish", "retract")
MODES = ("error", "timeout", "drop", "after_commit_drop", "after_commit_timeout")

# NCMEC deletes a report nobody finished: 24 h after it was opened, or 1 h after the last upload
# or file details, whichever is later (CyberTipline Reporting API documentation).
UNFINISHED_LIFETIME = timedelta(hours=24)
AFTER_LAST_CHANGE = timedelta(hours=1)
MAX_XML_BYTES = 10 * 1024 * 1024


@dataclass
class StoredFile:
    file_id: str
    filename: str
    data: bytes
    md5: str
    uploaded_at: datetime
    details_xml: bytes | None = None

    @property
    def details(self) -> ET.Element | None:
        return None if self.details_xml is None else ET.fromstring(self.details_xml)


@dataclass
class StoredReport:
    """A report as the server holds it. status: "open", "finished", "retracted" or "expired"
    (NCMEC deletes expired reports; this server keeps them, answering 5001, for assertions)."""

    report_id: int
    xml: bytes
    opened_at: datetime
    modified_at: datetime
    status: str = "open"
    files: dict[str, StoredFile] = field(default_factory=dict)
    finished_at: datetime | None = None
    retracted_at: datetime | None = None

    @property
    def expires_at(self) -> datetime:
        return max(self.opened_at + UNFINISHED_LIFETIME, self.modified_at + AFTER_LAST_CHANGE)

    @property
    def element(self) -> ET.Element:
        return ET.fromstring(self.xml)


@dataclass(frozen=True)
class Fault:
    mode: str
    code: int
    description: str | None
    hold_seconds: float


class _Answer(Exception):
    """Stop handling and answer this response code."""

    def __init__(self, code: int, description: str | None = None) -> None:
        super().__init__(code, description)
        self.code = code
        self.description = description


class NcmecServerState:
    """Everything the local server holds; safe to read and change from the test's thread."""

    def __init__(
        self,
        *,
        username: str,
        password: str,
        first_report_id: int = 100_000_001,
        max_upload_bytes: int = 256 * 1024 * 1024,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not username or not password:
            raise ValueError("the local CyberTipline server needs a username and a password")
        self.username = username
        self._password = password
        self.max_upload_bytes = max_upload_bytes
        self.clock = clock or (lambda: datetime.now(UTC))
        self.offset = timedelta(0)
        self.lock = threading.RLock()
        self.reports: dict[int, StoredReport] = {}
        self.calls: list[str] = []  # each authenticated call's step, in arrival order
        self._next_report_id = first_report_id
        self._faults: dict[str, deque[Fault]] = {step: deque() for step in STEPS}

    # -- for tests ----------------------------------------------------------------------------

    def fail_next(
        self,
        step: str,
        mode: str = "error",
        *,
        code: int = ResponseCode.SERVER_ERROR,
        description: str | None = None,
        times: int = 1,
        hold_seconds: float = 10.0,
    ) -> None:
        """Make the next `times` calls to `step` fail in `mode` (see the module docstring)."""
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}; expected one of {', '.join(STEPS)}")
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        if mode == "error" and code == ResponseCode.SUCCESS:
            raise ValueError("an injected error needs a non-zero response code")
        with self.lock:
            for _ in range(times):
                self._faults[step].append(Fault(mode, code, description, hold_seconds))

    def clear_faults(self) -> None:
        with self.lock:
            for queue in self._faults.values():
                queue.clear()

    def advance(self, delta: timedelta) -> None:
        """Move this server's clock forward (to let unfinished reports expire)."""
        with self.lock:
            self.offset += delta

    def now(self) -> datetime:
        return self.clock() + self.offset

    def report(self, report_id: int) -> StoredReport:
        with self.lock:
            self._sweep()
            return self.reports[report_id]

    def finished_reports(self) -> list[StoredReport]:
        with self.lock:
            return [r for r in self.reports.values() if r.status == "finished"]

    def find_reports(self, marker: str | bytes) -> list[StoredReport]:
        """Reports whose XML contains `marker`. A convenience of this local server only: the real
        API has no way to look reports up."""
        needle = marker.encode() if isinstance(marker, str) else marker
        with self.lock:
            self._sweep()
            return [r for r in self.reports.values() if needle in r.xml]

    # -- for the handlers ---------------------------------------------------------------------

    def authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        username, sep, password = decoded.partition(":")
        return bool(sep) and (
            hmac.compare_digest(username.encode(), self.username.encode())
            & hmac.compare_digest(password.encode(), self._password.encode())
        )

    def take_fault(self, step: str) -> Fault | None:
        with self.lock:
            self.calls.append(step)
            queue = self._faults[step]
            return queue.popleft() if queue else None

    def _sweep(self) -> None:
        now = self.now()
        for report in self.reports.values():
            if report.status == "open" and now >= report.expires_at:
                report.status = "expired"

    def open_report(self, report_id: int) -> StoredReport:
        """The report, if it can still be changed; else the documented refusal."""
        self._sweep()
        report = self.reports.get(report_id)
        if report is None or report.status == "expired":
            raise _Answer(ResponseCode.REPORT_DOES_NOT_EXIST)
        if report.status == "retracted":
            raise _Answer(ResponseCode.REPORT_ALREADY_RETRACTED)
        if report.status == "finished":
            raise _Answer(ResponseCode.REPORT_ALREADY_FINISHED)
        return report

    def new_report(self, xml: bytes) -> StoredReport:
        now = self.now()
        report = StoredReport(report_id=self._next_report_id, xml=xml, opened_at=now, modified_at=now)
        self._next_report_id += 1
        self.reports[report.report_id] = report
        return report


def _xml(body: bytes, status: int = 200) -> Response:
    return Response(
        body, status_code=status, media_type="text/xml; charset=utf-8", headers={"Request-ID": uuid.uuid4().hex}
    )


def _answer(code: int, description: str | None = None) -> Response:
    return _xml(response_xml(code, description))


# Digests whose form is fixed: a value of another length or alphabet is no such digest.
HEX_DIGESTS = {"MD5": 32, "SHA1": 40, "SHA256": 64, "PDQ": 64}
# How far ahead of this server's clock a reported time may be (clocks differ a little).
CLOCK_SKEW = timedelta(minutes=5)


def _parsed_time(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _meaning_problems(root: ET.Element, now: datetime) -> list[str]:
    """What the schema's types cannot say but a report must get right: digests of the right form,
    no time in the future, and the documented rule that only a "Reported" file is classified or
    flagged as a potential meme. (The first two are this server's assumptions; see
    docs/ncmec-protocol.md.)"""
    problems: list[str] = []
    name = root.tag
    for element in root.iter():
        if element.tag in ("incidentDateTime", "uploadedToEspTimestamp", "dateTime"):
            when = _parsed_time(element.text or "")
            if when is not None and when > now + CLOCK_SKEW:
                problems.append(f"{name}: <{element.tag}> {element.text!r} is in the future")
    if name != "fileDetails":
        return problems
    digests = [(h.get("hashType") or "", h.text or "", "originalFileHash") for h in root.findall("originalFileHash")]
    digests += [
        ((p.findtext("name") or ""), (p.findtext("value") or ""), "details/nameValuePair")
        for p in root.findall("details/nameValuePair")
        if p.get("type") == "HASH"
    ]
    for kind, value, where in digests:
        size = HEX_DIGESTS.get(kind.strip().upper())
        if size and not re.fullmatch(f"[0-9a-fA-F]{{{size}}}", value.strip()):
            problems.append(
                f"fileDetails/{where} {kind}: {value.strip()[:80]!r} is not a {size}-digit hexadecimal {kind}"
            )
    if (root.findtext("fileRelevance") or "").strip() == "Supplemental Reported" and (
        root.find("industryClassification") is not None
        or root.find("fileAnnotations/potentialMeme") is not None
        or root.find("potentialMeme") is not None
    ):
        problems.append("fileDetails: only a 'Reported' file may carry an industryClassification or potentialMeme")
    return problems


def _checked(data: bytes, spec: Spec, now: datetime | None = None) -> ET.Element:
    try:
        root = parse_xml(data)
    except XmlProblem as exc:
        raise _Answer(ResponseCode.MALFORMED_XML, f"Malformed XML submittal: {exc.message}") from None
    problems = validate(root, spec)
    if not problems and now is not None:
        problems = _meaning_problems(root, now)
    if problems:
        raise _Answer(ResponseCode.VALIDATION_FAILED, "Validation failed: " + "; ".join(problems[:5]))
    return root


def _form_report_id(form: Any) -> int:
    value = form.get("id")
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{1,18}", value.strip()):
        raise _Answer(ResponseCode.INVALID_REQUEST, "Invalid request: the form field 'id' must be the report id")
    return int(value.strip())


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _Answer(ResponseCode.INVALID_REQUEST, f"Invalid request: the body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _Answer(ResponseCode.INVALID_REQUEST, f"Invalid request: the body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _small_form(request: Request) -> Any:
    """The url-encoded or multipart form of /finish and /retract (just `id`)."""
    try:
        return await request.form(max_files=0, max_fields=10)
    except Exception as exc:  # noqa: BLE001 - the form parsers' errors are not one class
        raise _Answer(ResponseCode.INVALID_REQUEST, f"Invalid request: {exc}") from None


def create_app(
    *,
    username: str,
    password: str,
    first_report_id: int = 100_000_001,
    max_upload_bytes: int = 256 * 1024 * 1024,
    clock: Callable[[], datetime] | None = None,
) -> Starlette:
    """The local CyberTipline Reporting API; its state is `app.state.ncmec`."""
    state = NcmecServerState(
        username=username,
        password=password,
        first_report_id=first_report_id,
        max_upload_bytes=max_upload_bytes,
        clock=clock,
    )

    def endpoint(step: str, handle: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def run(request: Request) -> Response:
            if not state.authorized(request.headers.get("authorization")):
                return Response(b"", status_code=401, headers={"WWW-Authenticate": 'Basic realm="CyberTipline"'})
            fault = state.take_fault(step)
            mode = fault.mode if fault is not None else None
            # The request is read in full first: an injected failure happens after the server
            # received it, as it would at NCMEC.
            work: Callable[[], bytes] | None = None
            try:
                work = await handle(request)
            except _Answer as refusal:
                body = response_xml(refusal.code, refusal.description)
            if fault is not None and mode == "error":
                return _answer(fault.code, fault.description)
            if fault is not None and mode == "timeout":
                await _hold(request, fault.hold_seconds)
            if mode in ("drop", "timeout"):
                return _drop(request)
            if work is not None:
                try:
                    with state.lock:
                        body = work()
                except _Answer as refusal:
                    body = response_xml(refusal.code, refusal.description)
            if fault is not None and mode == "after_commit_timeout":
                await _hold(request, fault.hold_seconds)
            if mode in ("after_commit_drop", "after_commit_timeout"):
                return _drop(request)
            return _xml(body)

        return run

    async def status(request: Request) -> Callable[[], bytes]:
        return lambda: response_xml(ResponseCode.SUCCESS, f"Remote User : {state.username}")

    async def submit(request: Request) -> Callable[[], bytes]:
        data = await _read_body(request, MAX_XML_BYTES)

        def work() -> bytes:
            _checked(data, REPORT, state.now())
            report = state.new_report(data)
            return response_xml(ResponseCode.SUCCESS, report_id=report.report_id)

        return work

    async def upload(request: Request) -> Callable[[], bytes]:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > state.max_upload_bytes + 64 * 1024:
            raise _Answer(
                ResponseCode.MALFORMED_FILE,
                f"Malformed file submittal: larger than this local server accepts ({state.max_upload_bytes} bytes)",
            )
        try:
            # In memory, as staydown's own upload routes: the file is evidence, in plaintext.
            form = await read_form(request, max_files=1, max_fields=10)
        except Exception as exc:  # noqa: BLE001 - the multipart parser's errors are not one class
            raise _Answer(ResponseCode.MALFORMED_FILE, f"Malformed file submittal: {exc}") from None
        try:
            report_id = _form_report_id(form)
            file = form.get("file")
            if not isinstance(file, UploadFile):
                raise _Answer(ResponseCode.MALFORMED_FILE, "Malformed file submittal: no file part named 'file'")
            data = await file.read()
            filename = file.filename or "upload.bin"
        finally:
            await form.close()
        if not data:
            raise _Answer(ResponseCode.MALFORMED_FILE, "Malformed file submittal: the file is empty")
        if len(data) > state.max_upload_bytes:
            raise _Answer(ResponseCode.MALFORMED_FILE, "Malformed file submittal: the file is too large")

        def work() -> bytes:
            report = state.open_report(report_id)
            now = state.now()
            stored = StoredFile(
                file_id=uuid.uuid4().hex,
                filename=filename,
                data=data,
                md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
                uploaded_at=now,
            )
            report.files[stored.file_id] = stored
            report.modified_at = now
            return response_xml(ResponseCode.SUCCESS, report_id=report_id, file_id=stored.file_id, hash=stored.md5)

        return work

    async def fileinfo(request: Request) -> Callable[[], bytes]:
        data = await _read_body(request, MAX_XML_BYTES)

        def work() -> bytes:
            root = _checked(data, FILE_DETAILS, state.now())
            report_id = int((root.findtext("reportId") or "").strip())
            file_id = (root.findtext("fileId") or "").strip()
            report = state.open_report(report_id)
            stored = report.files.get(file_id)
            if stored is None:
                raise _Answer(ResponseCode.FILE_DOES_NOT_EXIST)
            # Sent again, details replace the earlier ones (assumed; NCMEC does not say).
            stored.details_xml = data
            report.modified_at = state.now()
            return response_xml(ResponseCode.SUCCESS, report_id=report_id)

        return work

    async def finish(request: Request) -> Callable[[], bytes]:
        report_id = _form_report_id(await _small_form(request))

        def work() -> bytes:
            report = state.open_report(report_id)
            report.status = "finished"
            report.finished_at = state.now()
            return response_xml(ResponseCode.SUCCESS, report_id=report_id, done_file_ids=list(report.files))

        return work

    async def retract(request: Request) -> Callable[[], bytes]:
        report_id = _form_report_id(await _small_form(request))

        def work() -> bytes:
            report = state.open_report(report_id)
            report.status = "retracted"
            report.retracted_at = state.now()
            return response_xml(ResponseCode.SUCCESS, report_id=report_id)

        return work

    app = _App(
        routes=[
            Route("/status", endpoint("status", status), methods=["GET"]),
            Route("/submit", endpoint("submit", submit), methods=["POST"]),
            Route("/upload", endpoint("upload", upload), methods=["POST"]),
            Route("/fileinfo", endpoint("fileinfo", fileinfo), methods=["POST"]),
            Route("/finish", endpoint("finish", finish), methods=["POST"]),
            Route("/retract", endpoint("retract", retract), methods=["POST"]),
        ]
    )
    app.state.ncmec = state
    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the local CyberTipline on 127.0.0.1 for a demo."""
    parser = argparse.ArgumentParser(
        prog="python -m staydown.authorities.ncmec_server",
        description="A local CyberTipline Reporting API (in memory, loopback only).",
    )
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--username", default="staydown-demo")
    parser.add_argument(
        "--password",
        default=os.environ.get("STAYDOWN_NCMEC_DEMO_PASSWORD"),
        help="default: $STAYDOWN_NCMEC_DEMO_PASSWORD, else a random one printed at start",
    )
    args = parser.parse_args(argv)
    password = args.password or secrets.token_urlsafe(12)
    app = create_app(username=args.username, password=password)
    print(
        f"Local CyberTipline Reporting API on http://127.0.0.1:{args.port}  "
        f"username={args.username!r} password={password!r}",
        flush=True,
    )
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="info")


if __name__ == "__main__":
    main()
