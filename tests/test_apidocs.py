"""The OpenAPI document and its pages: the error answers of every operation in the one error shape,
Allow on every 405, and /docs served from the package's own files under the CSP."""

from __future__ import annotations

import re

from starlette.routing import Mount

from staydown.http import iter_routes
from staydown.web.security import CONTENT_SECURITY_POLICY
from tests.helpers import auth, make_key

ASSET_RE = re.compile(r'(?:src|href)="([^"]+)"')


def test_every_operation_documents_its_errors_in_the_service_error_shape(app) -> None:
    spec = app.openapi()
    error = spec["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "message"} and "details" in error["properties"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    operations = [(p, m, op) for p, ops in spec["paths"].items() for m, op in ops.items()]
    assert len(operations) >= 70
    for path, method, op in operations:
        for code, response in op["responses"].items():
            if code.startswith(("4", "5")):
                assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, (
                    method,
                    path,
                    code,
                )
                assert response["description"], (method, path, code)
    by_op = {(m.upper(), p): set(op["responses"]) for p, m, op in operations}
    assert {"401", "403", "404", "422", "503"} <= by_op[("GET", "/v1/cases/{case_id}")]
    assert {"409"} <= by_op[("POST", "/v1/cases/{case_id}/claim")]
    assert {"429", "422"} <= by_op[("POST", "/public/notices")]
    assert "401" not in by_op[("GET", "/healthz")]
    assert "Retry-After" in spec["paths"]["/v1/scan"]["post"]["responses"]["503"]["headers"]


def test_documented_error_bodies_match_what_the_service_sends(client) -> None:
    """A 401, 404 and 422 as sent validate against the documented Error schema."""
    import jsonschema_rs  # noqa: PLC0415 - comes with schemathesis (test extra), not a declared dependency

    spec = client.get("/openapi.json").json()
    schema = spec["components"]["schemas"]["Error"]
    key = make_key(client.app.state.database, ["actions:ack"])
    for response in (
        client.get("/v1/queue"),
        client.post("/v1/actions/1/ack", headers=auth(key), json={"status": "applied"}),
        client.get("/v1/actions", headers=auth(key), params={"after": "x"}),
    ):
        assert response.status_code >= 400
        jsonschema_rs.validate(schema, response.json())


def _probe_method(methods: set[str]) -> str:
    return next(m for m in ("DELETE", "PATCH", "PUT", "POST", "GET") if m not in methods)


def test_every_405_names_the_allowed_methods(app, client) -> None:
    paths: dict[str, set[str]] = {}
    for path, route in iter_routes(app.routes):
        if isinstance(route, Mount):
            continue
        concrete = re.sub(r"\{(\w+)(:\w+)?\}", "1", path)
        paths.setdefault(concrete, set()).update(getattr(route, "methods", None) or ())
    assert len(paths) > 100
    missing = []
    for path, methods in paths.items():
        r = client.request(_probe_method(methods), path)
        if r.status_code != 405:
            continue  # another route with a parameter took the path (e.g. /v1/banks/{name})
        allow = {m.strip() for m in r.headers.get("allow", "").split(",") if m.strip()}
        if not methods <= allow:
            missing.append(f"{path}: Allow {sorted(allow)}, routes {sorted(methods)}")
    assert not missing, "\n".join(missing)
    r = client.delete("/static/staydown.css")
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"


def _assets(html: str) -> list[str]:
    return ASSET_RE.findall(html)


def test_docs_pages_use_only_same_origin_assets_that_are_served(client) -> None:
    assert client.get("/redoc").status_code == 404  # ReDoc cannot render under the CSP
    for page in ("/docs",):
        r = client.get(page)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "<script>" not in r.text and "style=" not in r.text  # nothing inline for the CSP to refuse
        assets = _assets(r.text)
        assert any(a.endswith(".js") for a in assets), r.text
        for asset in assets:
            assert asset.startswith("/") and not asset.startswith("//"), asset
            served = client.get(asset)
            assert served.status_code == 200, asset
            assert served.headers["content-type"].split(";")[0] in (
                "text/javascript",
                "application/javascript",
                "text/css",
                "image/svg+xml",
            ), asset
        assert "/openapi.json" in r.text


def test_vendored_bundles_fetch_nothing_from_elsewhere_on_their_own(client) -> None:
    """The bundles hold URLs in strings (licences, examples); what matters is that the pages do not
    point them anywhere: the Swagger UI start script sets no remote validator."""
    init = client.get("/static/apidocs/swagger-init.js").text
    assert "validatorUrl: null" in init and "http" not in init
