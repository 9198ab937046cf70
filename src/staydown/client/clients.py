"""`Client` and `AsyncClient`: the same methods over httpx, blocking or with `await`."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, TypeVar

import anyio
import httpx
from pydantic import BaseModel

from staydown.client import _core
from staydown.client._core import Call, Media, PdqInput, RetryPolicy
from staydown.client.errors import StaydownConnectionError
from staydown.client.models import Account, Action, ActionPage, Content, EvidenceReceipt, NoticeReceipt, ScanResult

T = TypeVar("T")


def _headers(api_key: str) -> dict[str, str]:
    if not api_key:
        raise ValueError("an API key is needed: create one with `staydown apikey create NAME`")
    return {"Authorization": f"Bearer {api_key}", "User-Agent": _core.USER_AGENT, "Accept": "application/json"}


def _give_up(call: Call[Any], error: httpx.TransportError, request_id: str) -> StaydownConnectionError:
    return StaydownConnectionError(
        f"{call.method} {call.path} got no answer: {type(error).__name__}: {error}",
        maybe_processed=_core.maybe_processed(error),
        request_id=request_id,
    )


class _Base:
    def __init__(self, *, retries: int, backoff_base: float, backoff_cap: float, max_retry_after: float) -> None:
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.retry_policy = RetryPolicy(
            retries=retries, backoff_base=backoff_base, backoff_cap=backoff_cap, max_retry_after=max_retry_after
        )

    @staticmethod
    def _request_id() -> str:
        # One id per call, the same on every attempt: the server logs it, and errors carry it, so
        # the attempts of one call can be found together.
        return "sdc-" + secrets.token_hex(8)


class Client(_Base):
    """The blocking client. Use it as a context manager, or call `close()`.

    `retries` is how many times a call may be sent again (so at most `retries + 1` attempts); what
    is retried, and when, is `RetryPolicy`'s rule. `transport` replaces httpx's network transport
    (e.g. `httpx.MockTransport` in tests).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        max_retry_after: float = 60.0,
    ) -> None:
        super().__init__(
            retries=retries, backoff_base=backoff_base, backoff_cap=backoff_cap, max_retry_after=max_retry_after
        )
        self._http = httpx.Client(base_url=base_url, headers=_headers(api_key), timeout=timeout, transport=transport)
        self._sleep: Callable[[float], None] = time.sleep

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _run(self, call: Call[T]) -> T:
        request_id = self._request_id()
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    call.method, call.path, headers={"X-Request-ID": request_id}, **call.request_kwargs()
                )
            except httpx.TransportError as error:
                delay = self.retry_policy.after_error(call, error, attempt)
                if delay is None:
                    raise _give_up(call, error, request_id) from error
            else:
                delay = self.retry_policy.after_response(call, response, attempt)
                if delay is None:
                    return _core.result(call, response)
                response.close()
            self._sleep(delay)
            attempt += 1

    # -- scanning -------------------------------------------------------------------------------

    def scan(
        self,
        data: Media,
        *,
        content_id: str | None = None,
        account_id: str | None = None,
        account_handle: str | None = None,
        content_kind: str | None = None,
        content_url: str | None = None,
        uploader_ip: str | None = None,
        uploaded_at: datetime | str | None = None,
        content_visibility: str | None = None,
        uploader_port: int | None = None,
        original_filename: str | None = None,
    ) -> ScanResult:
        """Scan an upload (bytes, a path, or a binary file) and get `allow`, `hold` or `block`.
        Give the platform's `content_id` (and account) so a hold or block opens a case for it;
        the uploader's address and port, the time and the file's own name are what a report to
        the authorities carries if the upload is ever reported, and `content_visibility`
        (public, unlisted, followers, private, unknown) whether it was publicly available."""
        return self._run(
            _core.scan_call(
                data,
                content_id=content_id,
                account_id=account_id,
                account_handle=account_handle,
                content_kind=content_kind,
                content_url=content_url,
                uploader_ip=uploader_ip,
                uploaded_at=uploaded_at,
                content_visibility=content_visibility,
                uploader_port=uploader_port,
                original_filename=original_filename,
            )
        )

    def scan_url(
        self,
        url: str,
        *,
        content: Mapping[str, Any] | BaseModel | None = None,
        uploader_ip: str | None = None,
        uploaded_at: datetime | str | None = None,
        uploader_port: int | None = None,
        original_filename: str | None = None,
    ) -> ScanResult:
        """Have staydown fetch and scan a URL (its host must be on staydown's allow-list).
        `content` is `{"id": ..., "kind": ..., "visibility": ..., "account": {"id": ...}}`."""
        return self._run(
            _core.scan_url_call(
                url,
                content=content,
                uploader_ip=uploader_ip,
                uploaded_at=uploaded_at,
                uploader_port=uploader_port,
                original_filename=original_filename,
            )
        )

    def match(
        self,
        *,
        pdq: PdqInput | None = None,
        md5: str | None = None,
        sha256: str | None = None,
        content: Mapping[str, Any] | BaseModel | None = None,
        uploader_ip: str | None = None,
        uploaded_at: datetime | str | None = None,
        uploader_port: int | None = None,
        original_filename: str | None = None,
    ) -> ScanResult:
        """Match hashes the platform computed itself (`pdq` as `[(hex, quality)]` or `[hex]`)."""
        return self._run(
            _core.match_call(
                pdq=pdq,
                md5=md5,
                sha256=sha256,
                content=content,
                uploader_ip=uploader_ip,
                uploaded_at=uploaded_at,
                uploader_port=uploader_port,
                original_filename=original_filename,
            )
        )

    # -- notices and subjects -------------------------------------------------------------------

    def submit_notice(self, **fields: Any) -> NoticeReceipt:
        """Send a notice (a user's report, a flagger's, an authority's); the fields are those of
        `POST /v1/notices`, e.g. `items=[{"content_id": "p1"}], policy_id="csam"`."""
        return self._run(_core.notice_call(fields))

    def put_content(
        self,
        content_id: str,
        *,
        kind: str | None = None,
        url: str | None = None,
        account: str | Mapping[str, Any] | None = None,
        created_at: datetime | str | None = None,
        metadata: Mapping[str, Any] | None = None,
        visibility: str | None = None,
    ) -> Content:
        """Register or update content by the platform's id; `account` is an id or `{"id", "handle"}`;
        `visibility` is who could see it (public, unlisted, followers, private, unknown)."""
        return self._run(
            _core.put_content_call(
                content_id,
                kind=kind,
                url=url,
                account=account,
                created_at=created_at,
                metadata=metadata,
                visibility=visibility,
            )
        )

    def put_account(
        self,
        account_id: str,
        *,
        handle: str | None = None,
        status: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Account:
        return self._run(_core.put_account_call(account_id, handle=handle, status=status, metadata=metadata))

    def get_content(self, content_id: str) -> Content:
        return self._run(_core.get_content_call(content_id))

    def get_account(self, account_id: str) -> Account:
        return self._run(_core.get_account_call(account_id))

    # -- actions --------------------------------------------------------------------------------

    def actions(self, after: int = 0, limit: int = 100) -> ActionPage:
        """One page of actions with a sequence number above `after`."""
        return self._run(_core.actions_call(after=after, limit=limit))

    def iter_actions(self, after: int = 0, *, limit: int = 100) -> Iterator[Action]:
        """Every action after `after`, page by page, until the feed is drained. Store each
        action's `seq` once it is carried out, and pass it back as `after` to resume."""
        while True:
            page = self.actions(after, limit)
            yield from page.actions
            # A short page means the feed is drained for now; a cursor that does not move would
            # loop forever, so it ends the walk too.
            if len(page.actions) < limit or page.next_cursor <= after:
                return
            after = page.next_cursor

    def ack_action(self, action_id: int, *, status: str = "applied", detail: str = "") -> Action:
        """Tell staydown the action was carried out (`applied`) or could not be (`failed`)."""
        return self._run(_core.ack_call(action_id, status=status, detail=detail))

    # -- evidence ---------------------------------------------------------------------------------

    def deposit_evidence(
        self,
        data: Media,
        *,
        content_id: str | None = None,
        request_id: int | None = None,
        account_id: str | None = None,
        original_filename: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> EvidenceReceipt:
        """Put a file in staydown's vault, for the content `content_id`; `request_id` when it
        answers a `provide_file` action. `context` is what the platform knows about it, e.g.
        `{"ip_capture": [{"ip", "port", "event": "Upload", "at"}], "uploaded_at": ...}`."""
        return self._run(
            _core.evidence_call(
                data,
                content_id=content_id,
                request_id=request_id,
                account_id=account_id,
                original_filename=original_filename,
                context=context,
            )
        )

    def provide_file(
        self,
        action: Action,
        data: Media,
        *,
        original_filename: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> EvidenceReceipt:
        """Answer a `provide_file` action with the content's file; then acknowledge the action."""
        if action.file_request_id is None:
            raise ValueError(f"action {action.id} is a {action.kind!r}, not a provide_file request")
        return self.deposit_evidence(
            data,
            content_id=action.content_id,
            request_id=action.file_request_id,
            account_id=action.account_id,
            original_filename=original_filename,
            context=context,
        )


class AsyncClient(_Base):
    """The same methods as `Client`, awaited. Use `async with`, or call `aclose()`."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        max_retry_after: float = 60.0,
    ) -> None:
        super().__init__(
            retries=retries, backoff_base=backoff_base, backoff_cap=backoff_cap, max_retry_after=max_retry_after
        )
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=_headers(api_key), timeout=timeout, transport=transport
        )
        self._sleep: Callable[[float], Any] = anyio.sleep

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _run(self, call: Call[T]) -> T:
        request_id = self._request_id()
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    call.method, call.path, headers={"X-Request-ID": request_id}, **call.request_kwargs()
                )
            except httpx.TransportError as error:
                delay = self.retry_policy.after_error(call, error, attempt)
                if delay is None:
                    raise _give_up(call, error, request_id) from error
            else:
                delay = self.retry_policy.after_response(call, response, attempt)
                if delay is None:
                    return _core.result(call, response)
                await response.aclose()
            await self._sleep(delay)
            attempt += 1

    async def scan(
        self,
        data: Media,
        *,
        content_id: str | None = None,
        account_id: str | None = None,
        account_handle: str | None = None,
        content_kind: str | None = None,
        content_url: str | None = None,
        uploader_ip: str | None = None,
        uploaded_at: datetime | str | None = None,
        content_visibility: str | None = None,
        uploader_port: int | None = None,
        original_filename: str | None = None,
    ) -> ScanResult:
        # Reading a path is a short blocking read; acceptable for upload-sized files, and callers
        # holding bytes already (the usual case in a web handler) pay nothing.
        return await self._run(
            _core.scan_call(
                data,
                content_id=content_id,
                account_id=account_id,
                account_handle=account_handle,
                content_kind=content_kind,
                content_url=content_url,
                uploader_ip=uploader_ip,
                uploaded_at=uploaded_at,
                content_visibility=content_visibility,
                uploader_port=uploader_port,
                original_filename=original_filename,
            )
        )

    async def scan_url(
        self,
        url: str,
        *,
        content: Mapping[str, Any] | BaseModel | None = None,
        uploader_ip: str | None = None,
        uploaded_at: datetime | str | None = None,
        uploader_port: int | None = None,
        original_filename: str | None = None,
    ) -> ScanResult:
        return await self._run(
            _core.scan_url_call(
                url,
                content=content,
                uploader_ip=uploader_ip,
                uploaded_at=uploaded_at,
                uploader_port=uploader_port,
                original_filename=original_filename,
            )
        )

    async def match(
        self,
        *,
        pdq: PdqInput | None = None,
        md5: str | None = None,
        sha256: str | None = None,
        content: Mapping[str, Any] | BaseModel | None = None,
        uploader_ip: str | None = None,
        uploaded_at: datetime | str | None = None,
        uploader_port: int | None = None,
        original_filename: str | None = None,
    ) -> ScanResult:
        return await self._run(
            _core.match_call(
                pdq=pdq,
                md5=md5,
                sha256=sha256,
                content=content,
                uploader_ip=uploader_ip,
                uploaded_at=uploaded_at,
                uploader_port=uploader_port,
                original_filename=original_filename,
            )
        )

    async def submit_notice(self, **fields: Any) -> NoticeReceipt:
        return await self._run(_core.notice_call(fields))

    async def put_content(
        self,
        content_id: str,
        *,
        kind: str | None = None,
        url: str | None = None,
        account: str | Mapping[str, Any] | None = None,
        created_at: datetime | str | None = None,
        metadata: Mapping[str, Any] | None = None,
        visibility: str | None = None,
    ) -> Content:
        return await self._run(
            _core.put_content_call(
                content_id,
                kind=kind,
                url=url,
                account=account,
                created_at=created_at,
                metadata=metadata,
                visibility=visibility,
            )
        )

    async def put_account(
        self,
        account_id: str,
        *,
        handle: str | None = None,
        status: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Account:
        return await self._run(_core.put_account_call(account_id, handle=handle, status=status, metadata=metadata))

    async def get_content(self, content_id: str) -> Content:
        return await self._run(_core.get_content_call(content_id))

    async def get_account(self, account_id: str) -> Account:
        return await self._run(_core.get_account_call(account_id))

    async def actions(self, after: int = 0, limit: int = 100) -> ActionPage:
        return await self._run(_core.actions_call(after=after, limit=limit))

    async def iter_actions(self, after: int = 0, *, limit: int = 100) -> AsyncIterator[Action]:
        while True:
            page = await self.actions(after, limit)
            for action in page.actions:
                yield action
            if len(page.actions) < limit or page.next_cursor <= after:
                return
            after = page.next_cursor

    async def ack_action(self, action_id: int, *, status: str = "applied", detail: str = "") -> Action:
        return await self._run(_core.ack_call(action_id, status=status, detail=detail))

    async def deposit_evidence(
        self,
        data: Media,
        *,
        content_id: str | None = None,
        request_id: int | None = None,
        account_id: str | None = None,
        original_filename: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> EvidenceReceipt:
        return await self._run(
            _core.evidence_call(
                data,
                content_id=content_id,
                request_id=request_id,
                account_id=account_id,
                original_filename=original_filename,
                context=context,
            )
        )

    async def provide_file(
        self,
        action: Action,
        data: Media,
        *,
        original_filename: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> EvidenceReceipt:
        if action.file_request_id is None:
            raise ValueError(f"action {action.id} is a {action.kind!r}, not a provide_file request")
        return await self.deposit_evidence(
            data,
            content_id=action.content_id,
            request_id=action.file_request_id,
            account_id=action.account_id,
            original_filename=original_filename,
            context=context,
        )
