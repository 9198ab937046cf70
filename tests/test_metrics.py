"""`GET /metrics` (Prometheus exposition, scope `metrics:read`) and JSON log lines with the request
id (`STAYDOWN_LOG_FORMAT=json`)."""

from __future__ import annotations

import contextlib
import io
import json
import logging

import httpx
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from staydown.actors import SYSTEM
from staydown.cases.actions import sweep_deadlines
from staydown.clock import FrozenClock
from staydown.db import Database
from staydown.delivery.webhooks import WebhookRejected, _post
from staydown.http import RequestIdLogFilter, request_id_var
from staydown.observability.logs import JsonFormatter
from staydown.observability.metrics import WEBHOOKS
from tests.helpers import auth, make_key, make_staff, sign_in
from tests.intake.test_notices import MINOR_REPORT


def figures(client, h) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get("/metrics", headers=h)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_need_their_own_scope(client, database: Database, api_key: str) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=auth(api_key)).status_code == 403  # a platform's default key
    assert client.get("/metrics", headers=auth(make_key(database, ["metrics:read"]))).status_code == 200
    make_staff(database, "ops", "admin")
    assert client.get("/metrics", headers=sign_in(client, "ops")).status_code == 200
    make_staff(database, "mod", "moderator")
    assert client.get("/metrics", headers=sign_in(client, "mod")).status_code == 403


def test_requests_counted_by_route_template_and_status_with_latency(client, database: Database) -> None:
    h = auth(make_key(database, ["metrics:read", "banks:read"]))
    before = figures(client, h)
    for entry_id in (5, 6, 7):
        assert client.get(f"/v1/bank-entries/{entry_id}", headers=h).status_code == 404
    client.get("/no/such/path/123")
    after = figures(client, h)
    key = {"method": "GET", "route": "/v1/bank-entries/{entry_id}"}
    assert (
        value(after, "staydown_http_requests_total", **key, status="404")
        - value(before, "staydown_http_requests_total", **key, status="404")
        == 3
    )
    assert (
        value(after, "staydown_http_request_duration_seconds_count", **key)
        - value(before, "staydown_http_request_duration_seconds_count", **key)
        == 3
    )
    assert value(after, "staydown_http_request_duration_seconds_bucket", **key, le="+Inf") >= 3
    # An unknown path is one series, not one per path tried.
    assert value(after, "staydown_http_requests_total", method="GET", route="unmatched", status="404") >= 1
    assert not any("/no/such" in str(labels) for _, labels in after)


def _jpeg(seed: int) -> bytes:
    img = Image.effect_noise((256, 256), 40 + seed).convert("RGB")
    out = io.BytesIO()
    img.save(out, format="JPEG")
    return out.getvalue()


def test_intake_scans_matches_outbox_tracks_and_breaches(client, database: Database, clock: FrozenClock, app) -> None:
    """The figures an operator watches, each moved by the event it counts (REQ TID-2: breaches)."""
    h = auth(make_key(database, ["metrics:read", "scan", "match", "banks:read", "banks:write"]))
    before = figures(client, h)
    assert client.post("/public/notices", json=MINOR_REPORT).status_code == 201
    client.post(
        "/v1/banks",
        headers=h,
        json={
            "name": "known",
            "source": "other",
            "permitted_purpose": "testing",
            "policy_id": "csam",
            "action_on_match": "flag",
        },
    )
    image = _jpeg(1)
    pdq = client.post("/v1/scan", headers=h, files={"file": ("a.jpg", image, "image/jpeg")}).json()["signals"]["pdq"]
    client.post("/v1/banks/known/entries", headers=h, json={"entries": [{"signal_type": "pdq", "signal": pdq}]})
    app.state.match_engine.catch_up()
    assert client.post("/v1/scan", headers=h, files={"file": ("a.jpg", image, "image/jpeg")}).json()["matches"]
    after = figures(client, h)

    assert value(after, "staydown_intake_batch_size_count") - value(before, "staydown_intake_batch_size_count") == 1
    assert value(after, "staydown_intake_notices_total") - value(before, "staydown_intake_notices_total") == 1
    assert value(after, "staydown_intake_waiting") == 0
    assert (
        value(after, "staydown_scans_total", verdict="allow") - value(before, "staydown_scans_total", verdict="allow")
        == 2
    )
    assert (
        value(after, "staydown_matches_total", bank="known", signal_type="pdq")
        - value(before, "staydown_matches_total", bank="known", signal_type="pdq")
        == 1
    )
    assert value(after, "staydown_index_rows", replica="bank_signals", signal_type="pdq") == 1
    assert value(after, "staydown_index_behind_rows", replica="bank_signals") == 0
    # The report opened its legal tracks; the 24 h priority takedown is "later" now.
    assert value(after, "staydown_legal_tracks_open", kind="priority_takedown", time_left="later") == 1
    pending = {labels: v for (name, labels), v in after.items() if name == "staydown_outbox_jobs"}
    assert pending and all(v > 0 for v in pending.values())

    clock.advance(hours=23.5)
    near = figures(client, h)
    assert value(near, "staydown_legal_tracks_open", kind="priority_takedown", time_left="under_1h") == 1
    ages = [v for (name, _), v in near.items() if name == "staydown_outbox_oldest_due_seconds"]
    assert ages and max(ages) >= 23.5 * 3600  # a job due since the report, never run (no worker here)
    clock.advance(hours=1)
    with database.unit_of_work() as db:
        sweep_deadlines(db, actor=SYSTEM)
    late = figures(client, h)
    assert value(late, "staydown_legal_tracks_open", kind="priority_takedown", time_left="overdue") == 1
    assert value(late, "staydown_legal_track_breaches", kind="priority_takedown") == 1


def test_webhook_deliveries_and_failures_are_counted(database: Database) -> None:
    def count(outcome: str) -> float:
        return WEBHOOKS.labels(outcome)._value.get()

    answers = iter([httpx.Response(200), httpx.Response(500)])
    client = httpx.Client(transport=httpx.MockTransport(lambda request: next(answers)))
    ok, rejected = count("ok"), count("rejected")
    _post(client, "http://platform.test/hook", b"{}", {})
    with contextlib.suppress(WebhookRejected):
        _post(client, "http://platform.test/hook", b"{}", {})
    assert (count("ok") - ok, count("rejected") - rejected) == (1, 1)


def test_json_log_lines_carry_the_request_id(client, database: Database, capsys) -> None:
    """STAYDOWN_LOG_FORMAT=json: each line a JSON object with the id the caller sees in X-Request-ID."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdLogFilter())
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    try:
        r = client.get("/v1/banks", headers={"X-Request-ID": "req-abc.123", **auth(make_key(database, ["banks:read"]))})
        assert r.headers["x-request-id"] == "req-abc.123"
        logging.getLogger("staydown.test").warning("outside any request")

        token = request_id_var.set("req-xyz")
        try:
            try:
                raise ValueError("boom")
            except ValueError:
                logging.getLogger("staydown.test").exception("inside a request")
        finally:
            request_id_var.reset(token)
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines, "nothing was logged"
    outside = next(line for line in lines if line["message"] == "outside any request")
    inside = next(line for line in lines if line["message"] == "inside a request")
    assert outside["request_id"] == "-" and outside["level"] == "WARNING" and outside["logger"] == "staydown.test"
    assert inside["request_id"] == "req-xyz" and "ValueError: boom" in inside["exception"]
    assert all({"time", "level", "logger", "request_id", "message"} <= set(line) for line in lines)
