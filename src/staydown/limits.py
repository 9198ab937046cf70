"""The limits every input meets at the edge: ids and cursors, text lengths, JSON depth and size, CSV bytes.

Each is a typed `Annotated` alias, so a route or a request model states its limit in its signature,
the OpenAPI shows it, and a value outside it is a 422 naming the field, before any query runs. A
database id is a signed 64-bit integer on both databases: a larger number in a path would reach
the driver and fail there (SQLite's `OverflowError`), so it is refused here."""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import AfterValidator, Field, StringConstraints

from staydown.errors import InvalidInput

# The largest value of an INTEGER (SQLite) or BIGINT (PostgreSQL) column.
DB_INT_MAX = 2**63 - 1

DbId = Annotated[int, Field(ge=1, le=DB_INT_MAX, description="a record's id (1 to 2^63-1)")]
"""The id of a row of ours, in a path, a query or a body."""

Cursor = Annotated[
    int, Field(ge=0, le=DB_INT_MAX, description="the last sequence number you have read (0: from the start)")
]
"""A position in a feed (`after`): 0 or a sequence number already handed out."""

# Text sizes, in characters. A field that needs another bound says so with `Text(n)`.
NAME_MAX = 200  # a name, a handle, a platform's id for its content or account
WORD_MAX = 100  # a machine word: a state, a kind, an action, a policy reference
TEXT_MAX = 10_000  # what a person writes: facts, notes, reasons
URL_MAX = 2048


def Text(max_length: int, min_length: int = 0) -> Any:  # noqa: N802 - reads as a type in signatures
    """A string of at most `max_length` characters (and at least `min_length`)."""
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length)]


Name = Text(NAME_MAX, 1)
Word = Text(WORD_MAX, 1)
LongText = Text(TEXT_MAX)

# -- JSON supplied by the caller (metadata, details, context) ---------------------------------------

JSON_MAX_DEPTH = 16
JSON_MAX_BYTES = 65_536
JSON_MAX_KEYS = 1000


def _depth_and_check(value: Any, depth: int, where: str) -> None:
    """`depth`: how many objects and arrays hold `value`, itself included if it is one."""
    if isinstance(value, (dict, list)) and depth > JSON_MAX_DEPTH:
        raise ValueError(f"JSON nested deeper than {JSON_MAX_DEPTH} levels (at {where or 'the top'})")
    if isinstance(value, dict):
        if len(value) > JSON_MAX_KEYS:
            raise ValueError(f"a JSON object holds at most {JSON_MAX_KEYS} keys (at {where or 'the top'})")
        for key, item in value.items():
            _depth_and_check(item, depth + 1, f"{where}.{key}"[:80])
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _depth_and_check(item, depth + 1, f"{where}[{i}]"[:80])
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"JSON numbers must be finite (at {where or 'the top'})")


def check_json(value: Any, *, max_bytes: int = JSON_MAX_BYTES) -> Any:
    """Raise ValueError unless `value` is JSON of at most JSON_MAX_DEPTH levels and `max_bytes`
    bytes, with finite numbers only. Depth is checked first, so a deep value is never encoded."""
    _depth_and_check(value, 1, "")
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())
    if size > max_bytes:
        raise ValueError(f"JSON is {size} bytes; at most {max_bytes} are accepted here")
    return value


JsonObject = Annotated[
    dict[str, Any],
    AfterValidator(check_json),
    Field(
        description=f"a JSON object of at most {JSON_MAX_DEPTH} levels and {JSON_MAX_BYTES} bytes",
        json_schema_extra={"maxProperties": JSON_MAX_KEYS},
    ),
]
"""Free-form JSON from a caller (metadata, details): bounded in depth, size and kind of number."""


def parse_json_object(text: str, *, field: str, max_bytes: int = JSON_MAX_BYTES) -> dict[str, Any]:
    """A JSON object sent as text (a multipart form field), within the same limits as JsonObject;
    InvalidInput naming `field` otherwise."""
    if len(text.encode()) > max_bytes:
        raise InvalidInput(f"{field} is longer than {max_bytes} bytes")

    def refuse_constant(name: str) -> Any:
        raise InvalidInput(f"{field} is not JSON: {name} is not a JSON number")

    try:
        value = json.loads(text, parse_constant=refuse_constant)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{field} is not JSON: {exc.msg} at character {exc.pos}") from None
    except RecursionError:
        raise InvalidInput(f"{field} is nested deeper than {JSON_MAX_DEPTH} levels") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} must be a JSON object")
    try:
        return check_json(value, max_bytes=max_bytes)
    except ValueError as exc:
        raise InvalidInput(f"{field}: {exc}") from None


# -- CSV and other uploaded text -------------------------------------------------------------------

# C0 control characters other than tab, line feed and carriage return, and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_upload_text(text: str, *, field: str = "body") -> str:
    """Uploaded text (a hash list) holds printable characters, tabs and line ends only: a NUL or
    another control character is refused with its line, as a CSV reader would fail on it later."""
    found = _CONTROL.search(text)
    if found:
        line = text.count("\n", 0, found.start()) + 1
        raise ValueError(f"{field} holds the control character {found.group()!r} on line {line}")
    return text


CsvText = Annotated[str, AfterValidator(check_upload_text)]


# -- NUL in text, on PostgreSQL ----------------------------------------------------------------------


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_nul(v) for v in value)
    return False


def refuse_nul_text(engine: Any) -> None:
    """PostgreSQL's text cannot hold U+0000 and its driver fails the statement (an internal error
    for input the caller chose): on PostgreSQL, a statement carrying one is refused first, as the
    caller's invalid input. SQLite stores it, as it stores any character."""
    if engine.dialect.name != "postgresql":
        return

    def check(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if _holds_nul(parameters):
            raise InvalidInput("text may not contain the NUL character (U+0000)")

    sa.event.listen(engine, "before_cursor_execute", check)
