"""What the sync and async clients share: request descriptions, the retry rules, and parsing."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from staydown.client.errors import error_from_response, retry_after_seconds
from staydown.client.models import Account, Action, ActionPage, Content, EvidenceReceipt, NoticeReceipt, ScanResult

T = TypeVar("T")

USER_AGENT = "staydown-client/0.1"
Media = bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes]

# The transport failed before any byte of the request left this machine: the server cannot have
# acted on it, so even a non-idempotent call may be sent again.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Failures that another attempt will not cure.
PERMANENT = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)
RETRY_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API call: the request to send, whether sending it twice is harmless, and how to read
    the answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    idempotent: bool
    json: Any = None
    params: Mapping[str, Any] | None = None
    files: Mapping[str, Any] | None = None
    data: Mapping[str, str] | None = None

    def request_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.json is not None:
            kwargs["json"] = self.json
        if self.params is not None:
            kwargs["params"] = dict(self.params)
        if self.files is not None:
            kwargs["files"] = dict(self.files)
        if self.data is not None:
            kwargs["data"] = dict(self.data)
        return kwargs


@dataclass
class RetryPolicy:
    """When to send a call again, and how long to wait first.

    - GET, PUT and the action ack are idempotent: retried on connection errors, timeouts and
      502/503/504, with exponential backoff and jitter.
    - POST scan, match and notices are not: the same upload scanned twice is two scan records and
      may join a case twice, and a notice sent twice is two notices. They are sent again only when
      the transport failed before sending (connection refused, connect timeout, no free
      connection), never after a timeout or a dropped connection once the request went out.
    - 429 means the server refused the request without acting on it, so every call is retried,
      after the server's `Retry-After` if it gives one. Advice longer than `max_retry_after` is
      not waited out: the call raises `RateLimitedError` carrying `retry_after`.
    """

    retries: int = 3
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    max_retry_after: float = 60.0
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempt: int) -> float:
        # Half fixed, half random: waits still grow with each attempt, while clients that failed
        # together do not all come back in the same instant.
        ceiling = min(self.backoff_cap, self.backoff_base * (2**attempt))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def after_error(self, call: Call[Any], error: httpx.TransportError, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None to give up."""
        if attempt >= self.retries or isinstance(error, PERMANENT):
            return None
        if isinstance(error, NOT_SENT) or call.idempotent:
            return self.backoff(attempt)
        return None

    def after_response(self, call: Call[Any], response: httpx.Response, attempt: int) -> float | None:
        if attempt >= self.retries:
            return None
        status = response.status_code
        if status == 429:
            advised = retry_after_seconds(response)
            if advised is None:
                return self.backoff(attempt)
            return advised if advised <= self.max_retry_after else None
        if status in RETRY_STATUSES and call.idempotent:
            advised = retry_after_seconds(response)
            if advised is not None and advised <= self.max_retry_after:
                return max(advised, self.backoff(attempt))
            return self.backoff(attempt)
        return None


def maybe_processed(error: httpx.TransportError) -> bool:
    return not isinstance(error, NOT_SENT + PERMANENT)


def result(call: Call[T], response: httpx.Response) -> T:
    """The parsed answer, or the typed error it stands for."""
    if response.is_success:
        return call.parse(response)
    raise error_from_response(response)


# -- argument handling ------------------------------------------------------------------------


def _model(cls: type[BaseModel]) -> Callable[[httpx.Response], Any]:
    return lambda response: cls.model_validate(response.json())


def _iso(value: datetime | str | None, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        # staydown stores UTC; a naive time would be guessed at, so it is refused here, before
        # the network, rather than with a 422 after.
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return value.isoformat()


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, datetime):
        return _iso(value, "datetime")
    return to_jsonable_python(value)


def _drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _jsonable(v) for k, v in values.items() if v is not None}


def _segment(value: str | int) -> str:
    # Platform ids are free text ("posts/123" is a fine id): one path segment, fully escaped.
    text = str(value)
    if not text:
        raise ValueError("an id cannot be empty")
    return quote(text, safe="")


def read_media(data: Media) -> tuple[bytes, str]:
    """The bytes to upload and a file name for the multipart part. `str` is always a path; bytes
    are the media itself."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data), "upload"
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        return path.read_bytes(), path.name or "upload"
    if hasattr(data, "read"):
        content = data.read()
        if not isinstance(content, bytes):
            raise TypeError("a file object given to scan must be opened in binary mode")
        return content, Path(str(getattr(data, "name", "upload"))).name or "upload"
    raise TypeError(f"scan takes bytes, a path or a binary file, not {type(data).__name__}")


# -- the calls --------------------------------------------------------------------------------

VISIBILITIES = ("public", "unlisted", "followers", "private", "unknown")


def _visibility(value: str | None) -> str | None:
    if value is not None and value not in VISIBILITIES:
        raise ValueError(f"visibility is one of {', '.join(VISIBILITIES)}, not {value!r}")
    return value


def _port(value: int | None) -> str | None:
    if value is None:
        return None
    if type(value) is not int or not 1 <= value <= 65535:
        raise ValueError(f"uploader_port must be an integer from 1 to 65535, not {value!r}")
    return str(value)


def scan_call(
    data: Media,
    *,
    content_id: str | None,
    account_id: str | None,
    account_handle: str | None,
    content_kind: str | None,
    content_url: str | None,
    uploader_ip: str | None,
    uploaded_at: datetime | str | None,
    content_visibility: str | None = None,
    uploader_port: int | None = None,
    original_filename: str | None = None,
) -> Call[ScanResult]:
    content, filename = read_media(data)
    if account_id is not None and content_id is None:
        raise ValueError("account_id needs a content_id: scans are recorded against the platform's content")
    form = _drop_none(
        {
            "content_id": content_id,
            "account_id": account_id,
            "account_handle": account_handle,
            "content_kind": content_kind,
            "content_url": content_url,
            "content_visibility": _visibility(content_visibility),
            "uploader_ip": uploader_ip,
            "uploader_port": _port(uploader_port),
            "uploaded_at": _iso(uploaded_at, "uploaded_at"),
            "original_filename": original_filename,
        }
    )
    return Call(
        "POST",
        "/v1/scan",
        _model(ScanResult),
        idempotent=False,
        files={"file": (filename, content, "application/octet-stream")},
        data=form,
    )


def scan_url_call(
    url: str,
    *,
    content: Mapping[str, Any] | BaseModel | None,
    uploader_ip: str | None,
    uploaded_at: datetime | str | None,
    uploader_port: int | None = None,
    original_filename: str | None = None,
) -> Call[ScanResult]:
    body = _drop_none(
        {
            "url": url,
            "content": content,
            "uploader_ip": uploader_ip,
            "uploader_port": int(port) if (port := _port(uploader_port)) is not None else None,
            "uploaded_at": _iso(uploaded_at, "uploaded_at"),
            "original_filename": original_filename,
        }
    )
    return Call("POST", "/v1/scan", _model(ScanResult), idempotent=False, json=body)


PdqInput = Sequence[tuple[str, int] | str]


def match_call(
    *,
    pdq: PdqInput | None,
    md5: str | None,
    sha256: str | None,
    content: Mapping[str, Any] | BaseModel | None,
    uploader_ip: str | None,
    uploaded_at: datetime | str | None,
    uploader_port: int | None = None,
    original_filename: str | None = None,
) -> Call[ScanResult]:
    hashes = []
    for item in pdq or ():
        if isinstance(item, str):
            hashes.append({"hash": item, "quality": 100})
        else:
            value, quality = item
            hashes.append({"hash": value, "quality": int(quality)})
    if not hashes and not md5 and not sha256:
        raise ValueError("give at least one signal: pdq, md5 or sha256")
    body = _drop_none(
        {
            "pdq": hashes or None,
            "md5": md5,
            "sha256": sha256,
            "content": content,
            "uploader_ip": uploader_ip,
            "uploader_port": int(port) if (port := _port(uploader_port)) is not None else None,
            "uploaded_at": _iso(uploaded_at, "uploaded_at"),
            "original_filename": original_filename,
        }
    )
    return Call("POST", "/v1/match", _model(ScanResult), idempotent=False, json=body)


def notice_call(fields: Mapping[str, Any]) -> Call[NoticeReceipt]:
    if not fields.get("items"):
        raise ValueError("a notice needs items: [{'content_id': ...} or {'url': ...}]")
    return Call("POST", "/v1/notices", _model(NoticeReceipt), idempotent=False, json=_drop_none(fields))


def put_content_call(
    content_id: str,
    *,
    kind: str | None,
    url: str | None,
    account: str | Mapping[str, Any] | None,
    created_at: datetime | str | None,
    metadata: Mapping[str, Any] | None,
    visibility: str | None = None,
) -> Call[Content]:
    account_ref = {"id": account} if isinstance(account, str) else account
    body = _drop_none(
        {
            "kind": kind,
            "url": url,
            "account": account_ref,
            "created_at": _iso(created_at, "created_at"),
            "visibility": _visibility(visibility),
            "metadata": metadata,
        }
    )
    return Call("PUT", f"/v1/content/{_segment(content_id)}", _model(Content), idempotent=True, json=body)


def put_account_call(
    account_id: str, *, handle: str | None, status: str | None, metadata: Mapping[str, Any] | None
) -> Call[Account]:
    body = _drop_none({"handle": handle, "status": status, "metadata": metadata})
    return Call("PUT", f"/v1/accounts/{_segment(account_id)}", _model(Account), idempotent=True, json=body)


def get_content_call(content_id: str) -> Call[Content]:
    return Call("GET", f"/v1/content/{_segment(content_id)}", _model(Content), idempotent=True)


def get_account_call(account_id: str) -> Call[Account]:
    return Call("GET", f"/v1/accounts/{_segment(account_id)}", _model(Account), idempotent=True)


def actions_call(*, after: int, limit: int) -> Call[ActionPage]:
    if after < 0 or limit < 1:
        raise ValueError("after must be >= 0 and limit >= 1")
    return Call(
        "GET", "/v1/actions", _model(ActionPage), idempotent=True, params={"after": int(after), "limit": int(limit)}
    )


ACK_STATUSES = ("applied", "failed")


def ack_call(action_id: int, *, status: str, detail: str) -> Call[Action]:
    if status not in ACK_STATUSES:
        raise ValueError(f"status must be one of {', '.join(ACK_STATUSES)}, not {status!r}")
    # An acknowledgement states a fact about the action; saying it again changes nothing more,
    # so it is retried like a PUT.
    return Call(
        "POST",
        f"/v1/actions/{_segment(int(action_id))}/ack",
        _model(Action),
        idempotent=True,
        json={"status": status, "detail": detail},
    )


def evidence_call(
    data: Media,
    *,
    content_id: str | None,
    request_id: int | None,
    account_id: str | None,
    original_filename: str | None,
    context: Mapping[str, Any] | None,
) -> Call[EvidenceReceipt]:
    """Deposit a file for the vault. Sending the same file again for the same request returns
    the same item (the server compares the bytes), so it is retried like a PUT."""
    content, filename = read_media(data)
    if content_id is None and request_id is None:
        raise ValueError("give the content_id, or the request_id of the provide_file action it answers")
    form = _drop_none(
        {
            "content_id": content_id,
            "request_id": str(int(request_id)) if request_id is not None else None,
            "account_id": account_id,
            "original_filename": original_filename,
            "context": json.dumps(_jsonable(dict(context))) if context else None,
        }
    )
    return Call(
        "POST",
        "/v1/evidence",
        _model(EvidenceReceipt),
        idempotent=request_id is not None,
        files={"file": (original_filename or filename, content, "application/octet-stream")},
        data=form,
    )
