"""A client for NCMEC's CyberTipline Reporting API: one method per endpoint, typed errors, no retries.

The client never retries and never reconciles. Whether to send a call again depends on what the
caller already knows (which report ids it holds, which files went up, whether the report was
finished), and that lives in the caller's state machine, not here. What the client does is say
exactly what happened:

- `NcmecAuthError`: the credentials were refused (HTTP 401, or response code 2000). Nothing happened.
- `NcmecRejected`: the server answered with a non-zero response code. The step did not happen;
  `code` says why (see `ResponseCode`). `retryable` is True for the 1xxx family (the server failed).
- `NcmecTransportError`: no usable answer arrived (timeout, reset, dropped connection, a gateway's
  error page, an answer that cannot be read). When `outcome_unknown` is True the step may or may not
  have happened at NCMEC, and the caller must reconcile before going on (docs/ncmec-protocol.md
  explains how for each step). When it is False the request never left this machine (connection
  refused, connect timeout) and can be sent again as is.
- `NcmecHashMismatch`: the upload was stored but NCMEC's MD5 of it differs from ours.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from types import TracebackType
from typing import NamedTuple

import httpx

from staydown.authorities.ncmec_xml import (
    FileDetails,
    Report,
    Response,
    ResponseCode,
    file_details_xml,
    parse_response,
    report_xml,
)
from staydown.authorities.transport import check_base_url
from staydown.egress import OPERATOR, GuardedTransport

__all__ = [
    "PRODUCTION_URL",
    "TEST_URL",
    "CyberTiplineClient",
    "FinishReceipt",
    "NcmecAuthError",
    "NcmecError",
    "NcmecHashMismatch",
    "NcmecRejected",
    "NcmecTransportError",
    "Upload",
]

PRODUCTION_URL = "https://report.cybertip.org/ispws"
TEST_URL = "https://exttest.cybertip.org/ispws"

_XML_HEADERS = {"Content-Type": "text/xml; charset=utf-8"}
# Answers are a few hundred bytes; anything far larger is not NCMEC's.
_MAX_ANSWER_BYTES = 1024 * 1024
# The request cannot have reached the server: sending it again is safe even for /submit.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class NcmecError(Exception):
    """A CyberTipline call that did not succeed. `step` is the endpoint (submit, upload...),
    `report_id` the report concerned when known, `code` NCMEC's response code when it answered."""

    def __init__(
        self, step: str, message: str, *, code: int | None = None, description: str = "", report_id: int | None = None
    ) -> None:
        super().__init__(message)
        self.step = step
        self.code = code
        self.description = description
        self.report_id = report_id
        self.message = message


class NcmecAuthError(NcmecError):
    """NCMEC refused the credentials. Nothing was done; fix the configuration."""


class NcmecRejected(NcmecError):
    """NCMEC answered with a non-zero response code: the step did not happen."""

    @property
    def retryable(self) -> bool:
        """True for the 1xxx family: the server failed, and the same request may succeed later.
        Every other code needs a change first (credentials, the document, the report's state)."""
        return self.code is not None and 1000 <= self.code < 2000


class NcmecTransportError(NcmecError):
    """No usable answer. If `outcome_unknown`, the step may have happened at NCMEC: reconcile."""

    def __init__(self, step: str, message: str, *, outcome_unknown: bool, report_id: int | None = None) -> None:
        super().__init__(step, message, report_id=report_id)
        self.outcome_unknown = outcome_unknown


class NcmecHashMismatch(NcmecError):
    """NCMEC stored the upload, but its MD5 is not the MD5 of the bytes we sent: the copy attached
    to the report is not the evidence. The report is still open: retract it and start again."""

    def __init__(self, step: str, message: str, *, report_id: int, file_id: str, expected: str, received: str) -> None:
        super().__init__(step, message, report_id=report_id)
        self.file_id = file_id
        self.expected = expected
        self.received = received


class Upload(NamedTuple):
    file_id: str
    md5: str


@dataclass(frozen=True)
class FinishReceipt:
    """NCMEC's confirmation that the report is filed: the start of the one-year preservation hold."""

    report_id: int
    file_ids: tuple[str, ...]
    raw: bytes


def _report_id(step: str, report_id: int) -> int:
    if type(report_id) is not int or report_id < 1:
        raise ValueError(f"{step}: report_id must be a positive integer, not {report_id!r}")
    return report_id


class CyberTiplineClient:
    """The CyberTipline Reporting API over HTTPS with Basic auth, one blocking call per endpoint.

    `base_url` is `TEST_URL`, `PRODUCTION_URL` or a local server (`ncmec_server`); plain http is
    accepted for loopback addresses only. `transport` replaces httpx's network transport (tests)."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not username or not password:
            raise ValueError("the NCMEC username and password are both required")
        if not timeout or timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        self.base_url = check_base_url(base_url)
        self.username = username
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=httpx.BasicAuth(username, password),
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            # The operator configured this endpoint: private and local addresses are allowed (a
            # stand-in), metadata and link-local ones never (staydown.egress).
            transport=transport or GuardedTransport(OPERATOR),
            headers={"User-Agent": "staydown-cybertipline/0.1", "Accept": "text/xml, application/xml"},
        )

    def __repr__(self) -> str:
        return f"CyberTiplineClient({self.base_url!r}, username={self.username!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CyberTiplineClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- endpoints ----------------------------------------------------------------------------

    def status(self) -> Response:
        """`GET /status`: checks that the server is reachable and the credentials are accepted."""
        return self._call("status", "GET", "/status", report_id=None)

    def submit(self, report: Report | bytes) -> int:
        """`POST /submit`: opens a report and returns its id. Pass the exact bytes to send again a
        document already built and stored (the law asks to preserve what was sent)."""
        body = report if isinstance(report, bytes) else report_xml(report)
        answer = self._call("submit", "POST", "/submit", report_id=None, content=body, headers=_XML_HEADERS)
        if answer.report_id is None:
            raise NcmecTransportError(
                "submit",
                "NCMEC answered success to submit without a reportId: a report may have been opened "
                "that this client cannot name; the outcome is unknown",
                outcome_unknown=True,
            )
        return answer.report_id

    def upload(self, report_id: int, filename: str, data: bytes) -> Upload:
        """`POST /upload` (multipart: `id`, `file`): attaches a file to an open report. Returns the
        file id NCMEC assigned and the MD5 it computed, which must equal ours."""
        _report_id("upload", report_id)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ValueError("upload: data must be bytes")
        if not filename or "\x00" in filename or len(filename) > 1024:
            raise ValueError("upload: filename must be 1 to 1024 characters without NUL")
        data = bytes(data)
        answer = self._call(
            "upload",
            "POST",
            "/upload",
            report_id=report_id,
            data={"id": str(report_id)},
            files={"file": (filename, data, "application/octet-stream")},
        )
        if not answer.file_id or not answer.hash:
            raise NcmecTransportError(
                "upload",
                f"NCMEC answered success to the upload for report {report_id} without a fileId and hash: "
                "the file may be attached under an id this client does not know; the outcome is unknown",
                outcome_unknown=True,
                report_id=report_id,
            )
        expected = hashlib.md5(data, usedforsecurity=False).hexdigest()
        received = answer.hash.lower()
        if received != expected:
            raise NcmecHashMismatch(
                "upload",
                f"NCMEC stored file {answer.file_id} in report {report_id} with MD5 {received}, "
                f"but the bytes sent have MD5 {expected}: the attached copy is not the evidence",
                report_id=report_id,
                file_id=answer.file_id,
                expected=expected,
                received=received,
            )
        return Upload(answer.file_id, received)

    def file_info(self, details: FileDetails | bytes) -> Response:
        """`POST /fileinfo`: describes an uploaded file (see `FileDetails` on fileViewedByEsp)."""
        if isinstance(details, bytes):
            body, report_id = details, None
        else:
            body, report_id = file_details_xml(details), details.report_id
        return self._call("fileinfo", "POST", "/fileinfo", report_id=report_id, content=body, headers=_XML_HEADERS)

    def finish(self, report_id: int) -> FinishReceipt:
        """`POST /finish` (form `id`): files the report with NCMEC. After this the report cannot be
        changed or retracted."""
        _report_id("finish", report_id)
        answer = self._call("finish", "POST", "/finish", report_id=report_id, data={"id": str(report_id)})
        if answer.root != "reportDoneResponse":
            raise NcmecTransportError(
                "finish",
                f"NCMEC answered finish for report {report_id} with <{answer.root}> instead of "
                "<reportDoneResponse>: whether the report is finished is unknown",
                outcome_unknown=True,
                report_id=report_id,
            )
        return FinishReceipt(report_id=report_id, file_ids=answer.file_ids, raw=answer.raw)

    def retract(self, report_id: int) -> Response:
        """`POST /retract` (form `id`): cancels a report that is not finished."""
        _report_id("retract", report_id)
        return self._call("retract", "POST", "/retract", report_id=report_id, data={"id": str(report_id)})

    # -- one call -----------------------------------------------------------------------------

    def _call(self, step: str, method: str, path: str, *, report_id: int | None, **kwargs: object) -> Response:
        what = step if report_id is None else f"{step} for report {report_id}"
        try:
            with self._http.stream(method, path, **kwargs) as http_response:  # type: ignore[arg-type]
                body = self._read(http_response, step, what, report_id)
        except NcmecError:
            raise
        except _NOT_SENT as exc:
            raise NcmecTransportError(
                step,
                f"{what}: could not connect to {self.base_url} ({type(exc).__name__}: {exc}); "
                "the request was not sent and can be sent again",
                outcome_unknown=False,
                report_id=report_id,
            ) from exc
        except httpx.TimeoutException as exc:
            raise NcmecTransportError(
                step,
                f"{what}: no answer within the timeout ({type(exc).__name__}); the outcome is unknown: "
                "NCMEC may have done it, reconcile before going on",
                outcome_unknown=True,
                report_id=report_id,
            ) from exc
        except (httpx.TransportError, OSError) as exc:
            # OSError: a transport that raises the socket's own error (an in-process ASGI one).
            raise NcmecTransportError(
                step,
                f"{what}: the connection failed before an answer arrived ({type(exc).__name__}: {exc}); "
                "the outcome is unknown: NCMEC may have done it, reconcile before going on",
                outcome_unknown=True,
                report_id=report_id,
            ) from exc

        status = http_response.status_code
        if status == 401:
            raise NcmecAuthError(
                step,
                f"{what}: NCMEC refused the credentials for {self.username!r} (HTTP 401)",
                code=None,
                description="Unauthorized",
                report_id=report_id,
            )
        try:
            answer = parse_response(body)
        except ValueError as exc:
            if 400 <= status < 500 and status not in (408, 429):
                raise NcmecError(
                    step,
                    f"{what}: HTTP {status} without a CyberTipline answer ({exc}); "
                    "the request was refused before NCMEC read it (check base_url)",
                    report_id=report_id,
                ) from exc
            raise NcmecTransportError(
                step,
                f"{what}: HTTP {status} with an answer that cannot be read ({exc}); the outcome is unknown",
                outcome_unknown=True,
                report_id=report_id,
            ) from exc

        if answer.code == ResponseCode.AUTHENTICATION_REQUIRED:
            raise NcmecAuthError(
                step,
                f"{what}: NCMEC answered {answer.code} {answer.description}",
                code=answer.code,
                description=answer.description,
                report_id=report_id,
            )
        if answer.code != ResponseCode.SUCCESS:
            raise NcmecRejected(
                step,
                f"{what}: NCMEC refused it: {answer.code} {answer.description}",
                code=answer.code,
                description=answer.description,
                report_id=report_id,
            )
        if report_id is not None and answer.report_id is not None and answer.report_id != report_id:
            raise NcmecTransportError(
                step,
                f"{what}: NCMEC's answer names report {answer.report_id}, not {report_id}; "
                "the outcome for this report is unknown",
                outcome_unknown=True,
                report_id=report_id,
            )
        return answer

    @staticmethod
    def _read(http_response: httpx.Response, step: str, what: str, report_id: int | None) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in http_response.iter_bytes():
            size += len(chunk)
            if size > _MAX_ANSWER_BYTES:
                raise NcmecTransportError(
                    step,
                    f"{what}: the answer exceeds {_MAX_ANSWER_BYTES} bytes and is not a CyberTipline "
                    "answer; the outcome is unknown",
                    outcome_unknown=True,
                    report_id=report_id,
                )
            chunks.append(chunk)
        return b"".join(chunks)
