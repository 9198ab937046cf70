"""Limits at the edge: every id, cursor, string, list and caller JSON is bounded and a value past
a bound is a 4xx naming the field, never a 500 (the findings of issue 16 reproduced first)."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.routing import APIRoute

from staydown.db import Database
from staydown.errors import InvalidInput
from staydown.http import declared_permission, iter_routes
from staydown.limits import DB_INT_MAX, JSON_MAX_DEPTH, check_json, parse_json_object
from staydown.staff.permissions import API_SCOPES, Permission, Role, permissions_for_roles
from staydown.web.console.session import SESSION_COOKIE
from tests.helpers import auth, make_key
from tests.web.console_helpers import session_token

ALL_ROLES = tuple(r.value for r in Role)


@pytest.fixture
def callers(database: Database) -> dict[str, Any]:
    """A platform key with every scope a key may hold and a staff session with every role: between
    them, every route's permission (so the request reaches the parameters, not a 403)."""
    return {
        "key": make_key(database, sorted(p.value for p in API_SCOPES)),
        "staff": session_token(database, "everyone", *ALL_ROLES),
    }


def _headers(callers: dict[str, Any], permission: Permission | None) -> dict[str, str]:
    if permission is None or permission is Permission.PUBLIC:
        return {}
    if permission in API_SCOPES:
        return auth(callers["key"])
    assert permission.value in permissions_for_roles(ALL_ROLES), permission
    return auth(callers["staff"])


# -- the findings, reproduced ----------------------------------------------------------------------


def test_an_id_past_a_64_bit_integer_is_a_422_naming_it(client, callers) -> None:
    staff = auth(callers["staff"])
    for path, field in (
        ("/v1/cases/99999999999999999999", "path.case_id"),
        ("/v1/cases/9223372036854775808", "path.case_id"),
        ("/v1/cases/0", "path.case_id"),
    ):
        r = client.get(path, headers=staff)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["details"][0]["where"] == field
    # The largest id there can be is looked up (and not found), not refused.
    assert client.get(f"/v1/cases/{DB_INT_MAX}", headers=staff).status_code == 404


def test_a_cursor_past_a_64_bit_integer_is_a_422(client, callers) -> None:
    key = auth(callers["key"])
    r = client.get("/v1/actions", params={"after": "99999999999999999999"}, headers=key)
    assert r.status_code == 422 and "query.after" in r.json()["message"], r.text
    ok = client.get("/v1/actions", params={"after": str(DB_INT_MAX)}, headers=key)
    assert ok.status_code == 200 and ok.json()["actions"] == []


def test_a_console_page_with_a_huge_id_is_a_page_not_a_crash(client, callers) -> None:
    client.cookies.set(SESSION_COOKIE, callers["staff"])
    r = client.get("/console/cases/99999999999999999999")
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")


def test_bank_import_reads_bare_carriage_returns_and_refuses_control_bytes(client, callers) -> None:
    staff = auth(callers["staff"])
    r = client.post(
        "/v1/banks",
        headers=staff,
        json={
            "name": "crlf",
            "source": "own",
            "permitted_purpose": "test",
            "action_on_match": "hold",
            "policy_id": "csam",
        },
    )
    assert r.status_code == 201, r.text
    csv = {**staff, "content-type": "text/csv"}
    # An old Mac export: lines end in a bare \r (the csv module raised on it before).
    r = client.post(
        "/v1/banks/crlf/import", headers=csv, content=b"md5," + b"a" * 32 + b",one\rmd5," + b"b" * 32 + b"\r"
    )
    assert r.status_code == 200, r.text
    assert r.json()["added"] == 2
    r = client.post("/v1/banks/crlf/import", headers=csv, content=b"md5," + b"c" * 32 + b",x\nmd5,d\x00\n")
    assert r.status_code == 422 and "line 2" in r.json()["message"], r.text
    # A field past the csv module's own limit is a rejected line, not a crash.
    r = client.post("/v1/banks/crlf/import", headers=csv, content=b'md5,"' + b"e" * 200_000 + b"\n")
    assert r.status_code == 422 and "line 1" in r.json()["details"][0], r.text


def test_evidence_context_nested_too_deep_is_a_422(client, callers) -> None:
    key = auth(callers["key"])
    for depth in (JSON_MAX_DEPTH + 1, 5000):  # 5000: past Python's own recursion limit
        context = '{"a":' + "[" * depth + "]" * depth + "}"
        r = client.post(
            "/v1/evidence",
            headers=key,
            data={"content_id": "deep", "context": context},
            files={"file": ("f.bin", b"evidence", "application/octet-stream")},
        )
        assert r.status_code == 422 and "context" in r.json()["message"], r.text
    r = client.post(
        "/v1/evidence",
        headers=key,
        data={"content_id": "deep", "context": '{"at": NaN}'},
        files={"file": ("f.bin", b"evidence", "application/octet-stream")},
    )
    assert r.status_code == 422 and "NaN" in r.json()["message"], r.text
    r = client.post(
        "/v1/evidence",
        headers=key,
        data={"content_id": "c" * 100_000},
        files={"file": ("f.bin", b"evidence", "application/octet-stream")},
    )
    assert r.status_code == 422 and "content_id" in r.json()["message"], r.text


def test_caller_json_is_bounded_in_depth_and_number_kind(client, callers) -> None:
    key = auth(callers["key"])
    deep: Any = 1
    for _ in range(JSON_MAX_DEPTH):
        deep = [deep]
    r = client.put("/v1/content/c1", headers=key, json={"metadata": {"a": deep}})
    assert r.status_code == 422 and r.json()["details"][0]["where"] == "body.metadata", r.text
    r = client.put(
        "/v1/content/c1", headers={**key, "content-type": "application/json"}, content=b'{"metadata": {"a": Infinity}}'
    )
    assert r.status_code == 422 and "finite" in r.json()["message"], r.text
    r = client.put("/v1/content/c1", headers=key, json={"metadata": {"a": deep[0]}})
    assert r.status_code == 200, r.text


def test_an_audit_checkpoint_is_ascii_digits_within_range(client, callers) -> None:
    key = make_key(client.app.state.database, ["audit:read"])
    for pinned in ("\u00b2:" + "a" * 64, "9999999999999999999:" + "a" * 64):
        r = client.get("/v1/audit/verify", params={"pinned": pinned}, headers=auth(key))
        assert r.status_code == 422, (pinned, r.text)


def test_check_json_and_parse_json_object() -> None:
    assert check_json({"a": [1, {"b": 2.5}]}) == {"a": [1, {"b": 2.5}]}
    with pytest.raises(ValueError, match="keys"):
        check_json({str(i): i for i in range(1001)})
    with pytest.raises(ValueError, match="bytes"):
        check_json({"a": "x" * 70_000})
    with pytest.raises(InvalidInput, match="must be a JSON object"):
        parse_json_object("[1]", field="context")
    with pytest.raises(InvalidInput, match="not JSON"):
        parse_json_object("{", field="context")


# -- every input bounded, by the OpenAPI --------------------------------------------------------------


def _unbounded(spec: dict[str, Any], schema: dict[str, Any], where: str, seen: tuple[str, ...] = ()) -> list[str]:
    """What in `schema` has no upper bound: a string without maxLength (unless an enum, a date or a
    file), an integer without maximum, an array without maxItems, a free-form object without
    maxProperties."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return (
            []
            if name in seen
            else _unbounded(spec, spec["components"]["schemas"][name], f"{where}<{name}>", (*seen, name))
        )
    found = [
        f
        for key in ("anyOf", "oneOf", "allOf")
        for sub in schema.get(key, [])
        for f in _unbounded(spec, sub, where, seen)
    ]
    kind = schema.get("type")
    if (
        kind == "string"
        and not ({"maxLength", "enum", "const"} & schema.keys())
        and schema.get("format") not in ("date-time", "date", "binary")
    ):
        found.append(f"string {where}")
    if kind == "integer" and "maximum" not in schema:
        found.append(f"integer {where}")
    if kind == "array":
        if "maxItems" not in schema:
            found.append(f"array {where}")
        found += _unbounded(spec, schema.get("items", {}), where + "[]", seen)
    if kind == "object" or "properties" in schema:
        for name, sub in schema.get("properties", {}).items():
            found += _unbounded(spec, sub, f"{where}.{name}", seen)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            found += _unbounded(spec, extra, where + ".*", seen)
        if "properties" not in schema and "maxProperties" not in schema:
            found.append(f"object {where}")
    return found


def test_every_request_input_in_the_openapi_has_an_upper_bound(app) -> None:
    spec = app.openapi()
    problems, checked = [], 0
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            checked += 1
            for param in op.get("parameters", []):
                problems += [
                    f"{method.upper()} {path}: {p}"
                    for p in _unbounded(spec, param["schema"], f"{param['in']}.{param['name']}")
                ]
            for media, content in op.get("requestBody", {}).get("content", {}).items():
                if media == "text/csv":
                    continue  # bounded by the upload body limit and checked byte by byte (CsvText)
                problems += [
                    f"{method.upper()} {path}: {p}" for p in _unbounded(spec, content.get("schema", {}), media)
                ]
    assert checked >= 70
    assert not problems, "unbounded inputs:\n" + "\n".join(problems)


# -- boundary values for each parameter, by the OpenAPI ----------------------------------------------------

INTEGER_VALUES = ("0", "-1", str(DB_INT_MAX), str(2**63), str(2**64), "99999999999999999999", "1.5", "1e3", "abc", "")
# 60,000: about the longest URL an HTTP client sends (httpx stops at 65,536).
STRING_VALUES = ("", "x" * 60_000, "\t", "\x00", "%", "../..", "\u00b2", "é" * 300)


def _fill(path: str, params: list[dict[str, Any]], name: str, value: str) -> str:
    for param in params:
        if param["in"] == "path":
            ok = "1" if param["schema"].get("type") == "integer" else "x1"
            path = path.replace("{" + param["name"] + "}", quote(value if param["name"] == name else ok, safe=""))
    return path


def _kind(schema: dict[str, Any]) -> str:
    kinds = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
    return "integer" if "integer" in kinds else "boolean" if "boolean" in kinds else "string"


def test_boundary_values_in_every_path_and_query_parameter_give_no_5xx(app, client, callers, caplog) -> None:
    caplog.set_level(logging.CRITICAL, logger="staydown")
    permissions = {
        (m, p): declared_permission(r)
        for p, r in iter_routes(app.routes)
        if isinstance(r, APIRoute)
        for m in r.methods or ()
    }
    spec = app.openapi()
    failures, sent = [], 0
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            headers = _headers(
                callers,
                permissions.get((method.upper(), path.replace("{platform_id}", "{platform_id:path}")))
                or permissions.get((method.upper(), path)),
            )
            params = op.get("parameters", [])
            for param in params:
                if param["in"] not in ("path", "query"):
                    continue
                kind = _kind(param["schema"])
                values = (
                    INTEGER_VALUES if kind == "integer" else ("2", "yes?", "") if kind == "boolean" else STRING_VALUES
                )
                for value in values:
                    if param["in"] == "path" and value == "":
                        continue  # no such path: a 404 or 405 from the router
                    url = _fill(path, params, param["name"], value)
                    query = {param["name"]: value} if param["in"] == "query" else None
                    r = client.request(method.upper(), url, params=query, headers=headers)
                    sent += 1
                    if r.status_code >= 500:
                        failures.append(
                            f"{method.upper()} {url[:120]} {param['name']}={value[:20]!r}: "
                            f"{r.status_code} {r.text[:200]}"
                        )
                    elif r.status_code == 422 and value in ("abc", str(2**64)):
                        assert param["name"] in r.text, (url, r.text)  # the 4xx names the field
    assert sent > 500
    assert not failures, "\n".join(failures)


def test_integer_path_parameters_of_pages_are_bounded(app) -> None:
    """The console's pages are not in the OpenAPI: their int path parameters are DbId too."""
    unbounded, checked = [], 0
    for path, route in iter_routes(app.routes):
        if not isinstance(route, APIRoute):
            continue
        for param in route.dependant.path_params + route.dependant.query_params:
            info = param.field_info
            if info.annotation is int:
                checked += 1
                bounds = {type(m).__name__ for m in info.metadata}
                if not {"Ge", "Le"} <= bounds:
                    unbounded.append(f"{path} {param.name}")
    assert checked > 40  # the walk reached the console's routers
    assert not unbounded, unbounded


def test_nul_in_text_is_a_422_on_either_database(client, callers) -> None:
    """PostgreSQL's text cannot hold U+0000: its driver failed the statement (a 500)."""
    key = auth(callers["key"])
    r = client.put("/v1/accounts/acc1", headers=key, json={"handle": "a\u0000b"})
    assert r.status_code in (200, 422) and r.status_code < 500, r.text
    if client.app.state.database.engine.dialect.name == "postgresql":
        assert r.status_code == 422 and "NUL" in r.json()["message"]
    r = client.put("/v1/content/c%00x", headers=key, json={})
    assert r.status_code < 500, r.text
