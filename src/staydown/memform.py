"""Multipart forms read into memory only, so that an upload is never written to disk in plaintext."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from staydown.errors import InvalidInput


class _InMemoryParser(MultiPartParser):
    # Starlette spools a file part over 1 MiB to a temporary file on disk: the plaintext of the
    # upload (a video, or evidence) would then sit in /tmp. The body limit (BodyLimitMiddleware)
    # already bounds what a request can hold, so the part stays in memory whatever its size.
    spool_max_size = 1 << 62


async def read_form(request: Request, *, max_files: int, max_fields: int) -> FormData:
    """The request's multipart form, every part in memory. Bad multipart is a 422 saying why."""
    if "boundary=" not in request.headers.get("content-type", "").lower():
        # The parser looks the boundary up without a default (a KeyError, an internal error).
        raise InvalidInput("send the body as multipart/form-data, with its boundary in the Content-Type header")
    parser = _InMemoryParser(request.headers, request.stream(), max_files=max_files, max_fields=max_fields)
    try:
        return await parser.parse()
    except MultiPartException as exc:
        raise InvalidInput(f"the multipart form cannot be read: {exc.message}") from None


def text_field(form: FormData, name: str, limit: int) -> str | None:
    """A text field of a multipart form (None if absent): a file, or text over `limit` characters, is
    refused with the field's name."""
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"form field {name!r} must be text, not a file")
    if len(value) > limit:
        raise InvalidInput(f"form field {name!r} is longer than {limit} characters")
    return value
