"""A local stand-in for the NCA's CSEA reporting API, for tests and demos: reports kept in memory,
the format checked as `nca_format` reads it, and failures injected on demand.

The NCA has not published its API, so this server speaks staydown's reading of it (see
docs/nca-protocol.md for what is confirmed and what is assumed): Bearer-token authentication; a
report created from a JSON document under the caller's `Idempotency-Key`; each file the document
names put under its `fileRef`; the report submitted once every named file is there, answered with
the NCA's reference. Every step can be repeated safely: the same key gives back the same report,
the same file under the same reference the same file id, and a second submit the same receipt. A
different document under a used key, or different bytes under a used file reference, is refused
(409): a retry must send exactly what the first attempt sent.

Its state is `app.state.nca` (a `NcaServerState`): the reports with their documents, files and
status, the calls received, `expire(report_id)` to make the server forget an unfinished report,
and `fail_next(step, mode)` to make the next call to a step fail, with the same modes as the local
CyberTipline (`ncmec_server`): "error" (answer `status` and do nothing), "timeout" (hold the request
unanswered), "drop" (close the connection unanswered), "after_commit_drop" and
"after_commit_timeout" (do the step, then lose the answer).

Run it for a demo, on 127.0.0.1 only: `python -m staydown.authorities.nca_server --port 8125`.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import secrets
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# The machinery that closes a connection without an answer is the local CyberTipline's; both
# stand-ins lose answers the same way.
from staydown.authorities.local_servers import DroppingApp as _DroppingApp
from staydown.authorities.local_servers import drop as _drop
from staydown.authorities.local_servers import hold as _hold
from staydown.authorities.nca_format import MAX_DOCUMENT_BYTES, REF_PATTERN, file_refs, parse_json, validate_report

__all__ = ["MODES", "STEPS", "NcaServerState", "StoredFile", "StoredReport", "create_app", "main"]

STEPS = ("status", "create", "upload", "submit", "report")
MODES = ("error", "timeout", "drop", "after_commit_drop", "after_commit_timeout")


@dataclass
class StoredFile:
    file_ref: str
    file_id: str
    file_name: str
    media_type: str
    data: bytes
    sha256: str
    uploaded_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"fileRef": self.file_ref, "fileId": self.file_id, "sha256": self.sha256, "size": len(self.data)}


@dataclass
class StoredReport:
    """A report as the server holds it. status: "open", "submitted" or "expired" (the server
    forgot it before it was submitted; it answers 404 for it, and keeps it for assertions)."""

    report_id: str
    idempotency_key: str
    document: bytes
    parsed: dict[str, Any]
    created_at: datetime
    status: str = "open"
    files: dict[str, StoredFile] = field(default_factory=dict)
    submitted_at: datetime | None = None
    nca_reference: str | None = None

    @property
    def provider_reference(self) -> str:
        return str(self.parsed.get("providerReference"))

    def receipt(self) -> dict[str, Any]:
        return {
            "reportId": self.report_id,
            "status": self.status,
            "ncaReference": self.nca_reference,
            "submittedAt": self.submitted_at.isoformat(timespec="seconds") if self.submitted_at else None,
            "files": [f.to_json() for f in self.files.values()],
        }


@dataclass(frozen=True)
class Fault:
    mode: str
    status: int
    hold_seconds: float


class _Refusal(Exception):
    def __init__(self, status: int, error: str, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.problems = status, error, message, problems or []

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"error": self.error, "message": self.message, "problems": self.problems}, status_code=self.status
        )


class NcaServerState:
    """Everything the local server holds; safe to read and change from the test's thread."""

    def __init__(
        self, *, token: str, max_upload_bytes: int = 64 * 1024 * 1024, clock: Callable[[], datetime] | None = None
    ) -> None:
        if not token:
            raise ValueError("the local NCA server needs a token")
        self._token = token
        self.max_upload_bytes = max_upload_bytes
        self.clock = clock or (lambda: datetime.now(UTC))
        self.lock = threading.RLock()
        self.reports: dict[str, StoredReport] = {}
        self.by_key: dict[str, str] = {}
        self.calls: list[str] = []  # each authenticated call's step, in arrival order
        self._next = 1
        self._faults: dict[str, deque[Fault]] = {step: deque() for step in STEPS}

    # -- for tests ----------------------------------------------------------------------------

    def fail_next(
        self, step: str, mode: str = "error", *, status: int = 503, times: int = 1, hold_seconds: float = 10.0
    ) -> None:
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}; expected one of {', '.join(STEPS)}")
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        if mode == "error" and not 400 <= status <= 599:
            raise ValueError("an injected error needs an HTTP error status")
        with self.lock:
            for _ in range(times):
                self._faults[step].append(Fault(mode, status, hold_seconds))

    def clear_faults(self) -> None:
        with self.lock:
            for queue in self._faults.values():
                queue.clear()

    def expire(self, report_id: str) -> None:
        """Forget an unfinished report, as a server might that discards stale ones."""
        with self.lock:
            report = self.reports[report_id]
            if report.status == "open":
                report.status = "expired"

    def find(self, provider_reference: str) -> list[StoredReport]:
        """Reports carrying our reference (a convenience for tests: nothing says the NCA offers it)."""
        with self.lock:
            return [r for r in self.reports.values() if r.provider_reference == provider_reference]

    def submitted(self) -> list[StoredReport]:
        with self.lock:
            return [r for r in self.reports.values() if r.status == "submitted"]

    # -- for the handlers ---------------------------------------------------------------------

    def authorized(self, header: str | None) -> bool:
        scheme, _, token = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self._token.encode())

    def take_fault(self, step: str) -> Fault | None:
        with self.lock:
            self.calls.append(step)
            queue = self._faults[step]
            return queue.popleft() if queue else None

    def live(self, report_id: str) -> StoredReport:
        report = self.reports.get(report_id)
        if report is None or report.status == "expired":
            raise _Refusal(404, "report_not_found", f"no open or submitted report {report_id}")
        return report

    def next_id(self, prefix: str) -> str:
        value = f"{prefix}{self._next:09d}"
        self._next += 1
        return value


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _Refusal(413, "too_large", f"the body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _Refusal(413, "too_large", f"the body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    *, token: str, max_upload_bytes: int = 64 * 1024 * 1024, clock: Callable[[], datetime] | None = None
) -> Starlette:
    """The local NCA reporting API; its state is `app.state.nca`."""
    state = NcaServerState(token=token, max_upload_bytes=max_upload_bytes, clock=clock)
    Work = Callable[[], Response]

    def endpoint(step: str, handle: Callable[[Request], Awaitable[Work]]) -> Callable[[Request], Any]:
        async def run(request: Request) -> Response:
            if not state.authorized(request.headers.get("authorization")):
                return JSONResponse(
                    {"error": "unauthorised", "message": "a valid Bearer token is required", "problems": []},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
            fault = state.take_fault(step)
            mode = fault.mode if fault is not None else None
            # The request is read in full first: an injected failure happens after the server
            # received it, as it would at the NCA.
            work: Work | None = None
            answer: Response | None = None
            try:
                work = await handle(request)
            except _Refusal as refusal:
                answer = refusal.response()
            if fault is not None and mode == "error":
                return JSONResponse(
                    {"error": "injected", "message": f"injected failure ({fault.status})", "problems": []},
                    status_code=fault.status,
                )
            if fault is not None and mode == "timeout":
                await _hold(request, fault.hold_seconds)
            if mode in ("drop", "timeout"):
                return _drop(request)
            if work is not None:
                try:
                    with state.lock:
                        answer = work()
                except _Refusal as refusal:
                    answer = refusal.response()
            if fault is not None and mode == "after_commit_timeout":
                await _hold(request, fault.hold_seconds)
            if mode in ("after_commit_drop", "after_commit_timeout"):
                return _drop(request)
            assert answer is not None
            return answer

        return run

    async def status(request: Request) -> Work:
        return lambda: JSONResponse({"status": "ok", "service": "local NCA CSEA reporting stand-in"})

    async def create(request: Request) -> Work:
        key = request.headers.get("idempotency-key", "")
        if not REF_PATTERN.fullmatch(key):
            raise _Refusal(
                400, "idempotency_key_required", "send an Idempotency-Key header of 1 to 100 letters, digits or . _ : -"
            )
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise _Refusal(415, "unsupported_media_type", "the report is sent as application/json")
        data = await _body(request, MAX_DOCUMENT_BYTES)
        try:
            document = parse_json(data)
        except ValueError as exc:
            raise _Refusal(400, "malformed_json", f"the report is not JSON: {exc}") from None
        problems = validate_report(document)
        if problems:
            raise _Refusal(422, "validation_failed", "the report does not meet the format", problems[:20])

        def work() -> Response:
            known = state.by_key.get(key)
            if known is not None:
                report = state.reports[known]
                if report.document != data:
                    raise _Refusal(
                        409,
                        "idempotency_key_reused",
                        f"Idempotency-Key {key} was used for a different report ({known})",
                    )
                if report.status == "expired":
                    raise _Refusal(
                        409,
                        "idempotency_key_expired",
                        f"the report made under Idempotency-Key {key} no longer exists; use a new key",
                    )
                return JSONResponse({"reportId": report.report_id, "status": report.status}, status_code=200)
            report = StoredReport(
                report_id=state.next_id("NCA-R"),
                idempotency_key=key,
                document=data,
                parsed=document,
                created_at=state.clock(),
            )
            state.reports[report.report_id] = report
            state.by_key[key] = report.report_id
            return JSONResponse({"reportId": report.report_id, "status": report.status}, status_code=201)

        return work

    async def upload(request: Request) -> Work:
        report_id = request.path_params["report_id"]
        file_ref = request.path_params["file_ref"]
        declared_sha = (request.headers.get("x-content-sha256") or "").lower()
        name = unquote(request.headers.get("x-file-name") or "")[:300] or file_ref
        media_type = (request.headers.get("content-type") or "application/octet-stream")[:100]
        if len(declared_sha) != 64:
            raise _Refusal(400, "sha256_required", "send the file's SHA-256 in X-Content-SHA256 (64 hex digits)")
        data = await _body(request, state.max_upload_bytes)
        if not data:
            raise _Refusal(422, "empty_file", "the file is empty")
        sha = hashlib.sha256(data).hexdigest()
        if sha != declared_sha:
            raise _Refusal(422, "sha256_mismatch", f"the bytes received have SHA-256 {sha}, not {declared_sha}")

        def work() -> Response:
            report = state.live(report_id)
            if file_ref not in file_refs(report.parsed):
                raise _Refusal(422, "unknown_file_ref", f"report {report_id} names no file {file_ref}")
            stored = report.files.get(file_ref)
            if stored is not None:
                if stored.sha256 != sha:
                    raise _Refusal(409, "file_ref_reused", f"file {file_ref} of report {report_id} holds other bytes")
                return JSONResponse(stored.to_json(), status_code=200)
            if report.status != "open":
                raise _Refusal(409, "report_submitted", f"report {report_id} is submitted: nothing can be added")
            stored = StoredFile(
                file_ref=file_ref,
                file_id=state.next_id("NCA-F"),
                file_name=name,
                media_type=media_type,
                data=data,
                sha256=sha,
                uploaded_at=state.clock(),
            )
            report.files[file_ref] = stored
            return JSONResponse(stored.to_json(), status_code=201)

        return work

    async def submit(request: Request) -> Work:
        report_id = request.path_params["report_id"]

        def work() -> Response:
            report = state.live(report_id)
            if report.status == "submitted":
                return JSONResponse(report.receipt(), status_code=200)
            missing = [ref for ref in file_refs(report.parsed) if ref not in report.files]
            if missing:
                raise _Refusal(
                    422,
                    "files_missing",
                    f"report {report_id} names files not yet uploaded",
                    [f"fileRef {ref}" for ref in missing],
                )
            report.status = "submitted"
            report.submitted_at = state.clock()
            report.nca_reference = state.next_id("CSEA-")
            return JSONResponse(report.receipt(), status_code=200)

        return work

    async def show(request: Request) -> Work:
        report_id = request.path_params["report_id"]

        def work() -> Response:
            return JSONResponse(state.live(report_id).receipt())

        return work

    app = _DroppingApp(
        routes=[
            Route("/status", endpoint("status", status), methods=["GET"]),
            Route("/reports", endpoint("create", create), methods=["POST"]),
            Route("/reports/{report_id}/files/{file_ref}", endpoint("upload", upload), methods=["PUT"]),
            Route("/reports/{report_id}/submit", endpoint("submit", submit), methods=["POST"]),
            Route("/reports/{report_id}", endpoint("report", show), methods=["GET"]),
        ]
    )
    app.state.nca = state
    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the local NCA stand-in on 127.0.0.1 for a demo."""
    parser = argparse.ArgumentParser(
        prog="python -m staydown.authorities.nca_server",
        description="A local stand-in for the NCA's CSEA reporting API (in memory, "
        "loopback only; the format is staydown's reading, not the NCA's).",
    )
    parser.add_argument("--port", type=int, default=8125)
    parser.add_argument(
        "--token",
        default=os.environ.get("STAYDOWN_NCA_DEMO_TOKEN"),
        help="default: $STAYDOWN_NCA_DEMO_TOKEN, else a random one printed at start",
    )
    args = parser.parse_args(argv)
    token = args.token or secrets.token_urlsafe(18)
    app = create_app(token=token)
    print(f"Local NCA reporting stand-in on http://127.0.0.1:{args.port}  token={token!r}", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="info")


if __name__ == "__main__":
    main()
