"""A client for the NCA's CSEA reporting API as staydown reads it: one method per call, typed
errors, no retries.

Like the CyberTipline client, it never retries and never reconciles: the filing state machine
(`authorities.nca`) knows what it already holds and decides. Each call says exactly what happened:

- `NcaAuthError`: the token was refused (401/403). Nothing happened; fix the configuration.
- `NcaRejected`: the API answered an error. The step did not happen; `status`, `error` and
  `problems` say why, and `retryable` is True for 429 and 5xx (the same request may succeed later).
- `NcaTransportError`: no usable answer. With `outcome_unknown` the step may have happened; every
  call of this API is safe to repeat as it was (same Idempotency-Key, same file reference, same
  submit), so the caller sends it again. Without it the request never left this machine.
- `NcaHashMismatch`: the API stored a file whose SHA-256 is not that of the bytes sent.

The protocol itself (paths, JSON fields, idempotency) is assumed [U]: see docs/nca-protocol.md.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from staydown.authorities.nca_format import REF_PATTERN, parse_json

# One rule for which base URLs may carry credentials: https, or plain http to loopback only.
from staydown.authorities.transport import check_base_url
from staydown.egress import OPERATOR, GuardedTransport

__all__ = [
    "Created",
    "NcaAuthError",
    "NcaClient",
    "NcaError",
    "NcaHashMismatch",
    "NcaRejected",
    "NcaTransportError",
    "Receipt",
    "Uploaded",
]

_MAX_ANSWER_BYTES = 1024 * 1024
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class NcaError(Exception):
    """An NCA call that did not succeed. `step` is the call (create, upload, submit...)."""

    def __init__(
        self,
        step: str,
        message: str,
        *,
        status: int | None = None,
        error: str = "",
        problems: tuple[str, ...] = (),
        report_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.step = step
        self.message = message
        self.status = status
        self.error = error
        self.problems = problems
        self.report_id = report_id


class NcaAuthError(NcaError):
    """The NCA refused the token. Nothing was done."""


class NcaRejected(NcaError):
    """The NCA answered with an error: the step did not happen."""

    @property
    def retryable(self) -> bool:
        return self.status is not None and (self.status == 429 or self.status >= 500)


class NcaTransportError(NcaError):
    """No usable answer. If `outcome_unknown`, the step may have happened at the NCA."""

    def __init__(self, step: str, message: str, *, outcome_unknown: bool, report_id: str | None = None) -> None:
        super().__init__(step, message, report_id=report_id)
        self.outcome_unknown = outcome_unknown


class NcaHashMismatch(NcaError):
    """The NCA stored the upload, but says its SHA-256 is not that of the bytes we sent."""


@dataclass(frozen=True)
class Created:
    report_id: str
    replayed: bool  # True: the NCA already had a report under this key (a repeated create)


@dataclass(frozen=True)
class Uploaded:
    file_id: str
    sha256: str
    replayed: bool


@dataclass(frozen=True)
class Receipt:
    """The NCA's acknowledgement that the report is submitted: it starts the retention hold."""

    report_id: str
    nca_reference: str
    submitted_at: str
    file_ids: tuple[str, ...]
    raw: dict[str, Any]


def _ref(step: str, name: str, value: str) -> str:
    if not isinstance(value, str) or not REF_PATTERN.fullmatch(value):
        raise ValueError(f"{step}: {name} must be 1 to 100 letters, digits or . _ : -, not {value!r}")
    return value


class NcaClient:
    """The NCA reporting API over HTTPS with a Bearer token, one blocking call per method.
    `base_url` is the API's root (or a local `nca_server`); plain http only to loopback."""

    def __init__(
        self, base_url: str, token: str, *, timeout: float, transport: httpx.BaseTransport | None = None
    ) -> None:
        if not token:
            raise ValueError("the NCA token is required")
        if not timeout or timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        self.base_url = check_base_url(base_url)
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            transport=transport or GuardedTransport(OPERATOR),  # staydown.egress
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": "staydown-nca/0.1",
            },
        )

    def __repr__(self) -> str:
        return f"NcaClient({self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NcaClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- calls --------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """`GET /status`: the API is reachable and the token accepted."""
        return self._call("status", "GET", "/status", report_id=None)[1]

    def create_report(self, document: bytes, *, idempotency_key: str) -> Created:
        """`POST /reports`: the report document under our key. Sent again with the same key and
        the same bytes, it names the same report instead of making a second one."""
        _ref("create", "idempotency_key", idempotency_key)
        if not isinstance(document, bytes):
            raise ValueError("create: the document is the exact bytes to send (nca_format.report_json)")
        status, body = self._call(
            "create",
            "POST",
            "/reports",
            report_id=None,
            content=document,
            headers={"Content-Type": "application/json", "Idempotency-Key": idempotency_key},
        )
        report_id = body.get("reportId")
        if not isinstance(report_id, str) or not report_id:
            raise NcaTransportError(
                "create",
                "the NCA answered the create without a reportId: a report may exist "
                "that this client cannot name; send the same create again",
                outcome_unknown=True,
            )
        return Created(report_id, replayed=status == 200)

    def upload_file(self, report_id: str, file_ref: str, *, file_name: str, media_type: str, data: bytes) -> Uploaded:
        """`PUT /reports/{id}/files/{fileRef}`: one file the document names. Repeating it with the
        same bytes is harmless; the NCA's SHA-256 must equal ours."""
        _ref("upload", "file_ref", file_ref)
        if not isinstance(data, (bytes, bytearray)) or not data:
            raise ValueError("upload: data must be non-empty bytes")
        data = bytes(data)
        ours = hashlib.sha256(data).hexdigest()
        status, body = self._call(
            "upload",
            "PUT",
            f"/reports/{quote(report_id, safe='')}/files/{quote(file_ref, safe='')}",
            report_id=report_id,
            content=data,
            headers={
                "Content-Type": media_type or "application/octet-stream",
                "X-Content-SHA256": ours,
                "X-File-Name": quote(file_name or file_ref, safe=""),
            },
        )
        file_id, theirs = body.get("fileId"), str(body.get("sha256") or "").lower()
        if not isinstance(file_id, str) or not file_id or not theirs:
            raise NcaTransportError(
                "upload",
                f"the NCA answered the upload of {file_ref} without a fileId and sha256; send it again",
                outcome_unknown=True,
                report_id=report_id,
            )
        if theirs != ours:
            raise NcaHashMismatch(
                "upload",
                f"the NCA stored file {file_id} with SHA-256 {theirs}, but the bytes sent have {ours}",
                report_id=report_id,
            )
        return Uploaded(file_id, theirs, replayed=status == 200)

    def submit(self, report_id: str) -> Receipt:
        """`POST /reports/{id}/submit`: the report is finished. Repeated, it answers the same receipt."""
        _, body = self._call("submit", "POST", f"/reports/{quote(report_id, safe='')}/submit", report_id=report_id)
        if body.get("status") != "submitted" or not body.get("ncaReference"):
            raise NcaTransportError(
                "submit",
                f"the NCA answered the submit of {report_id} without a receipt; submit it again",
                outcome_unknown=True,
                report_id=report_id,
            )
        files = tuple(str(f.get("fileId")) for f in body.get("files") or [] if isinstance(f, dict))
        return Receipt(
            report_id=str(body.get("reportId") or report_id),
            nca_reference=str(body["ncaReference"]),
            submitted_at=str(body.get("submittedAt") or ""),
            file_ids=files,
            raw=body,
        )

    def report(self, report_id: str) -> dict[str, Any]:
        """`GET /reports/{id}`: what the NCA holds for a report."""
        return self._call("report", "GET", f"/reports/{quote(report_id, safe='')}", report_id=report_id)[1]

    # -- one call -----------------------------------------------------------------------------

    def _call(
        self, step: str, method: str, path: str, *, report_id: str | None, **kwargs: Any
    ) -> tuple[int, dict[str, Any]]:
        what = step if report_id is None else f"{step} for report {report_id}"
        try:
            with self._http.stream(method, path, **kwargs) as http_response:
                raw = self._read(http_response, step, what, report_id)
        except NcaError:
            raise
        except _NOT_SENT as exc:
            raise NcaTransportError(
                step,
                f"{what}: could not connect to {self.base_url} ({type(exc).__name__}); the request was not sent",
                outcome_unknown=False,
                report_id=report_id,
            ) from exc
        except (httpx.TransportError, OSError) as exc:
            raise NcaTransportError(
                step,
                f"{what}: no answer arrived ({type(exc).__name__}: {exc}); the outcome "
                "is unknown, and the call is safe to repeat",
                outcome_unknown=True,
                report_id=report_id,
            ) from exc
        status = http_response.status_code
        reason = "not a JSON object"
        try:
            body = parse_json(raw, limit=_MAX_ANSWER_BYTES) if raw else {}
        except ValueError as exc:
            body, reason = None, str(exc)
        if not isinstance(body, dict):
            if 200 <= status < 300 or status >= 500 or status in (408, 429):
                # A gateway's page or a cut answer: whether the NCA acted is not known.
                raise NcaTransportError(
                    step,
                    f"{what}: HTTP {status} with an answer that is not the API's JSON; the outcome is unknown",
                    outcome_unknown=True,
                    report_id=report_id,
                )
            raise NcaRejected(
                step,
                f"{what}: HTTP {status} without the API's JSON ({reason}); the request was "
                "refused before the API read it (check the URL)",
                status=status,
                report_id=report_id,
            )
        if status in (401, 403):
            raise NcaAuthError(
                step,
                f"{what}: the NCA refused the token (HTTP {status})",
                status=status,
                error=str(body.get("error", "")),
                report_id=report_id,
            )
        if status >= 400:
            problems = tuple(str(p) for p in body.get("problems") or [])[:20]
            detail = f": {'; '.join(problems[:5])}" if problems else ""
            raise NcaRejected(
                step,
                f"{what}: the NCA refused it (HTTP {status} {body.get('error', '')}: "
                f"{body.get('message', '')}){detail}",
                status=status,
                error=str(body.get("error", "")),
                problems=problems,
                report_id=report_id,
            )
        return status, body

    @staticmethod
    def _read(http_response: httpx.Response, step: str, what: str, report_id: str | None) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in http_response.iter_bytes():
            size += len(chunk)
            if size > _MAX_ANSWER_BYTES:
                raise NcaTransportError(
                    step,
                    f"{what}: the answer exceeds {_MAX_ANSWER_BYTES} bytes; the outcome is unknown",
                    outcome_unknown=True,
                    report_id=report_id,
                )
            chunks.append(chunk)
        return b"".join(chunks)
