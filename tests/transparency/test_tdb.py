"""The EU Transparency Database (DSA-9): bodies that pass the schema for every decision type, no
personal data in them (property-tested), batches of at most 100 over real HTTP to the local
server, a duplicate puid counted once, transient failures retried, permanent ones surfaced."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from typer.testing import CliRunner

from staydown.actors import SYSTEM
from staydown.audit.models import AuditEvent
from staydown.cases.models import StaffAlert
from staydown.cli import app as cli_app
from staydown.db import Database
from staydown.delivery.models import Job
from staydown.delivery.outbox import enqueue
from staydown.enforcement.actions import apply_action
from staydown.errors import InvalidInput
from staydown.intake.actions import submit_notice
from staydown.intake.schemas import NoticeIn
from staydown.jobs import PERIODIC, build_registry
from staydown.policies import default_catalogue
from staydown.settings import DEV_TDB_TOKEN, Settings
from staydown.subjects.models import PlatformContent
from staydown.subjects.records import ensure_content
from staydown.subjects.schemas import AccountRef, ContentRef
from staydown.transparency.models import StatementOfReasons
from staydown.transparency.scrub import scrub_personal_data
from staydown.transparency.statement_views import statement_for_action
from staydown.transparency.statements import RESTRICTIONS
from staydown.transparency.tdb import (
    TDB_SUBMIT_JOB,
    TdbClient,
    TdbConfigurationError,
    TdbUnavailable,
    requeue_failed,
    submit_pending,
    tdb_statement,
    validate_statement,
)
from staydown.transparency.tdb_server import create_app as create_tdb_app
from staydown.worker import RetryPolicy, Worker
from tests.client.servers import serve
from tests.conftest import T0

CATALOGUE = default_catalogue()
TOKEN = "test-tdb-token-0123456789abcdef0123"


@pytest.fixture(scope="module")
def tdb_server() -> Iterator[tuple[Any, str]]:
    app = create_tdb_app(token=TOKEN)
    with serve(app) as url:
        yield app.state.tdb, url


@pytest.fixture
def tdb(tdb_server: tuple[Any, str]) -> Iterator[tuple[Any, str]]:
    state, url = tdb_server
    state.statements.clear()
    state.requests.clear()
    state.clear_faults()
    yield state, url
    state.clear_faults()


def _client(url: str, token: str = TOKEN) -> TdbClient:
    return TdbClient(url, token, timeout=10)


_counter = iter(range(1, 10**9))


def _action(db: Any, kind: str = "remove", *, policy: str = "harassment@2", facts: str = "threats", **kw: Any) -> Any:
    n = next(_counter)
    content = ensure_content(
        db,
        actor=SYSTEM,
        ref=ContentRef(id=f"post-{n}", kind=kw.pop("content_kind", "image"), account=AccountRef(id=f"user-{n}")),
    )
    target = {"account_id": content.account_id} if kind in ("suspend", "terminate") else {"content_id": content.id}
    return apply_action(db, actor=SYSTEM, kind=kind, policy_ref=policy, facts=facts, **target, **kw)


def _sor(db: Any, action: Any) -> StatementOfReasons:
    found = statement_for_action(db, action.id)
    assert found is not None
    return found


def _make_statements(database: Database, count: int, **kw: Any) -> list[int]:
    with database.unit_of_work() as db:
        return [_sor(db, _action(db, **kw)).id for _ in range(count)]


def _states(database: Database) -> dict[str, int]:
    with database.unit_of_work(write=False) as db:
        rows = db.execute(
            sa.select(StatementOfReasons.tdb_state, sa.func.count()).group_by(StatementOfReasons.tdb_state)
        ).all()
    return dict(rows)


# -- the body ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, policy, decision",
    [
        ("remove", "harassment@2", "decision_visibility"),
        ("disable", "csam@2", "decision_visibility"),
        ("age_restrict", "harassment@2", "decision_visibility"),
        ("demote", "hate@2", "decision_visibility"),
        ("exclude_from_recommendations", "spam@2", "decision_visibility"),
        ("label", "harassment@2", "decision_visibility"),
        ("restrict_distribution", "csam@2", "decision_monetary"),
        ("demonetise", "scams@2", "decision_monetary"),
        ("suspend", "harassment@2", "decision_provision"),
        ("terminate", "csam@2", "decision_account"),
    ],
)
def test_dsa9_every_decision_type_passes_the_local_server(
    db: Any, tdb: tuple[Any, str], kind: str, policy: str, decision: str
) -> None:
    ends = T0 + timedelta(days=10) if kind in ("suspend", "demonetise") else None
    s = _sor(db, _action(db, kind, policy=policy, ends_at=ends))
    assert s is not None
    body = tdb_statement(s)
    assert validate_statement(body) == {}
    assert body.get(decision), body
    assert body["application_date"] == "2026-06-01" and body["content_date"] == "2026-06-01"
    if ends is not None:
        assert "2026-06-11" in {
            body.get(k)
            for k in ("end_date_account_restriction", "end_date_monetary_restriction", "end_date_service_restriction")
        }
    state, url = tdb
    outcomes = _client(url).submit([body])
    assert outcomes[body["puid"]].status == "accepted" and outcomes[body["puid"]].reference
    assert state.statements[body["puid"]]["category"] == s.category


def test_dsa9_grounds_source_and_automation_map_to_the_schema(db: Any) -> None:
    illegal = tdb_statement(_sor(db, _action(db, policy="csam@2")))
    assert illegal["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert illegal["illegal_content_legal_ground"] and illegal["illegal_content_explanation"]
    assert "incompatible_content_ground" not in illegal
    assert illegal["category_specification"] == [
        "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL",
        "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE",
    ]
    terms = tdb_statement(_sor(db, _action(db, policy="harassment@2")))
    assert terms["decision_ground"] == "DECISION_GROUND_INCOMPATIBLE_CONTENT" and terms["incompatible_content_ground"]
    assert (terms["source_type"], terms["automated_detection"], terms["automated_decision"]) == (
        "SOURCE_VOLUNTARY",
        "No",
        "AUTOMATED_DECISION_NOT_AUTOMATED",
    )
    assert len(terms["territorial_scope"]) == 30 and "GR" in terms["territorial_scope"]
    auto = tdb_statement(
        _sor(db, _action(db, automated_detection=True, automated_decision=True, territorial_scope=["DE", "EL", "US"]))
    )
    assert (auto["automated_detection"], auto["automated_decision"]) == ("Yes", "AUTOMATED_DECISION_FULLY")
    assert auto["territorial_scope"] == ["DE", "GR"]
    text = tdb_statement(_sor(db, _action(db, content_kind="link")))
    assert text["content_type"] == ["CONTENT_TYPE_OTHER"] and text["content_type_other"] == "link"


def test_dsa9_a_notice_source_reaches_the_body(db: Any) -> None:
    receipt = submit_notice(
        db,
        actor=SYSTEM,
        catalogue=CATALOGUE,
        notice=NoticeIn(
            kind="trusted_flagger",
            reporter_kind="trusted_flagger",
            policy_id="hate",
            explanation="x",
            items=[{"content_id": "tf-1", "account_id": "tf-u"}],
        ),
    )
    case = receipt.cases[0]
    action = apply_action(
        db, actor=SYSTEM, kind="remove", content_id=case.content_id, case_id=case.id, policy_ref="hate@2", facts="f"
    )
    assert tdb_statement(_sor(db, action))["source_type"] == "SOURCE_TRUSTED_FLAGGER"


def test_dsa9_a_restriction_outside_the_eea_is_not_for_the_database(db: Any) -> None:
    s = _sor(db, _action(db, territorial_scope=["US", "GB"]))
    assert s.tdb_state == "not_required"


def test_dsa9_local_server_enforces_the_schema_rules() -> None:
    good = {
        "puid": "a-1",
        "decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"],
        "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
        "illegal_content_legal_ground": "law",
        "illegal_content_explanation": "why",
        "content_type": ["CONTENT_TYPE_IMAGE"],
        "category": "STATEMENT_CATEGORY_VIOLENCE",
        "content_date": "2026-01-02",
        "application_date": "2026-01-03",
        "decision_facts": "facts",
        "source_type": "SOURCE_VOLUNTARY",
        "automated_detection": "No",
        "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",
    }
    assert validate_statement(good) == {}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"decision_visibility": None}, "decision_account"),  # at least one decision
        ({"illegal_content_legal_ground": None}, "illegal_content_legal_ground"),
        ({"decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT"}, "incompatible_content_explanation"),
        ({"content_type": ["CONTENT_TYPE_OTHER"]}, "content_type_other"),
        ({"decision_visibility": ["DECISION_VISIBILITY_OTHER"]}, "decision_visibility_other"),
        ({"decision_monetary": "DECISION_MONETARY_OTHER"}, "decision_monetary_other"),
        ({"content_date": "1999-12-31"}, "content_date"),
        ({"application_date": "2026-1-3"}, "application_date"),
        ({"end_date_account_restriction": "2038-01-02"}, "end_date_account_restriction"),
        ({"decision_facts": "x" * 5001}, "decision_facts"),
        ({"puid": "has space"}, "puid"),
        ({"puid": "p" * 501}, "puid"),
        ({"territorial_scope": ["US"]}, "territorial_scope"),
        ({"automated_detection": "yes"}, "automated_detection"),
        ({"category": "STATEMENT_CATEGORY_NOPE"}, "category"),
        ({"category_specification": ["KEYWORD_NOPE"]}, "category_specification"),
        ({"end_date_visibility_restrictions": "2026-02-01"}, "end_date_visibility_restrictions"),
    ]
    for change, field in cases:
        errors = validate_statement({**good, **change})
        assert field in errors, (change, errors)


def test_dsa9_local_server_answers_like_the_database(tdb: tuple[Any, str], db: Any) -> None:
    state, url = tdb
    body = tdb_statement(_sor(db, _action(db)))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=url) as http:
        assert http.post("/api/v1/statements", json={"statements": [body]}).status_code == 401
        assert (
            http.post(
                "/api/v1/statements", json={"statements": [body]}, headers={"Authorization": "Bearer wrong"}
            ).status_code
            == 401
        )
        r = http.post("/api/v1/statements", json={"statements": [body] * 101}, headers=headers)
        assert r.status_code == 422 and "statements" in r.json()["errors"]
        r = http.post("/api/v1/statements", json={"statements": [body, {**body, "category": "X"}]}, headers=headers)
        assert r.status_code == 422 and list(r.json()["errors"]) == ["statement_1"] and not state.statements
        r = http.post("/api/v1/statement", json=body, headers=headers)
        assert r.status_code == 201 and r.json()["puid"] == body["puid"] and r.json()["uuid"]
        r = http.post("/api/v1/statement", json=body, headers=headers)
        assert r.status_code == 422 and r.json()["existing"]["puid"] == body["puid"]
        r = http.post("/api/v1/statements", json={"statements": [body]}, headers=headers)
        assert r.status_code == 422 and r.json()["errors"]["existing_puids"] == [body["puid"]]
        assert http.get(f"/api/v1/statement/existing-puid/{body['puid']}", headers=headers).status_code == 302
        assert http.get("/api/v1/statement/existing-puid/nope", headers=headers).status_code == 404


# -- no personal data --------------------------------------------------------------------------

FIRST = ["Alicja", "Bogdan", "Chiara", "Dmitri", "Eleni", "Fatima", "Gunnar", "Hana", "Ionut", "Jolanda"]
LAST = ["Kowalczyk", "Lindqvist", "Moreau", "Nakamura", "Oyelaran", "Papadakis", "Quintero", "Rasmussen"]
_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=3, max_size=10)
PII = st.fixed_dictionaries(
    {
        "name": st.builds(lambda first, last: f"{first} {last}", st.sampled_from(FIRST), st.sampled_from(LAST)),
        "handle": st.builds(lambda s: f"{s}_x", _label),
        "email": st.builds(lambda a, b: f"{a}@{b}.example", _label, _label),
        "ipv4": st.builds(lambda a, b, c, d: f"{a}.{b}.{c}.{d}", *(st.integers(1, 254) for _ in range(4))),
        "ipv6": st.builds(lambda a, b: f"2001:db8:{a:x}::{b:x}", st.integers(1, 65535), st.integers(1, 65535)),
        "url": st.builds(lambda a, b: f"https://{a}.example/{b}", _label, _label),
        "phone": st.builds(lambda n: f"+49 30 {n:07d}", st.integers(1_000_000, 9_999_999)),
        "platform_id": st.builds(lambda n: f"u{n}", st.integers(10**7, 10**9)),
    }
)


def _secrets(pii: dict[str, str]) -> list[str]:
    out = [v for k, v in pii.items() if k != "name"]
    out += pii["name"].split()
    return [*out, pii["handle"].lower()]


@hsettings(max_examples=300, deadline=None)
@given(pii=PII, filler=st.text(alphabet="abcdefghij ,.;", max_size=40))
def test_dsa9_scrubber_removes_every_kind_of_personal_data(pii: dict[str, str], filler: str) -> None:
    text = (
        f"{pii['name']} ({pii['email']}, {pii['ipv4']}, {pii['ipv6']}) wrote to @{pii['handle']} at "
        f"{pii['url']} {filler} and www.{pii['handle']}.example; call {pii['phone']}. id {pii['platform_id']}"
    )
    out = scrub_personal_data(text, known=[pii["handle"], pii["platform_id"]])
    for secret in _secrets(pii):
        assert secret not in out, (secret, out)
    assert "wrote to" in out and "call" in out


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pii=PII, kind=st.sampled_from(sorted(RESTRICTIONS)), include=st.booleans())
def test_dsa9_no_personal_data_reaches_the_transparency_database(
    db: Any, pii: dict[str, str], kind: str, include: bool
) -> None:
    n = next(_counter)
    receipt = submit_notice(
        db,
        actor=SYSTEM,
        catalogue=CATALOGUE,
        notice=NoticeIn(
            kind="public_report",
            reporter_kind="user",
            policy_id="harassment",
            contact_name=pii["name"],
            contact_email=pii["email"],
            reporter_id=f"r{pii['platform_id']}",
            explanation=f"{pii['name']} at {pii['url']}",
            items=[
                {"content_id": f"{pii['platform_id']}-{n}", "account_id": f"{pii['handle']}-{n}", "url": pii["url"]}
            ],
        ),
    )
    case = receipt.cases[0]
    content_id = case.content_id

    content = db.get_one(PlatformContent, content_id)
    facts = (
        f"{pii['name']} (@{pii['handle']}-{n}, {pii['email']}, {pii['ipv4']}, {pii['ipv6']}) posted "
        f"{pii['url']} and asked people to call {pii['phone']}; account {pii['platform_id']}-{n}"
    )
    target = {"account_id": content.account_id} if kind in ("suspend", "terminate") else {"content_id": content_id}
    action = apply_action(
        db, actor=SYSTEM, kind=kind, case_id=case.id, policy_ref="harassment@2", facts=facts, **target
    )
    body = tdb_statement(_sor(db, action), include_reviewer_facts=include)
    assert validate_statement(body) == {}
    dumped = json.dumps(body)
    for secret in [*_secrets(pii), f"{pii['handle']}-{n}", f"{pii['platform_id']}-{n}"]:
        assert secret not in dumped, (secret, body["decision_facts"])
    if include:
        assert "asked people to call" in body["decision_facts"]


# -- submission --------------------------------------------------------------------------------


def test_dsa9_250_statements_go_in_three_batches(database: Database, tdb: tuple[Any, str]) -> None:
    state, url = tdb
    _make_statements(database, 250)
    with database.unit_of_work() as db:
        report = submit_pending(db, client=_client(url), batch_size=100)
    assert [n for path, n in state.requests] == [100, 100, 50]
    assert (report.batches, report.accepted, report.duplicates, report.rejected) == (3, 250, 0, 0)
    assert _states(database) == {"submitted": 250} and len(state.statements) == 250
    with database.unit_of_work(write=False) as db:
        row = db.execute(sa.select(StatementOfReasons).limit(1)).scalar_one()
        assert row.tdb_submitted_at == T0 and row.tdb_reference == state.statements[row.tdb_puid]["uuid"]
        events = db.execute(sa.select(AuditEvent).where(AuditEvent.tag == "transparency:tdb:submit")).scalars().all()
        assert [e.data["accepted"] for e in events] == [100, 100, 50]


def test_dsa9_a_duplicate_puid_is_done_and_not_counted_twice(
    database: Database, tdb: tuple[Any, str], clock: Any
) -> None:
    state, url = tdb
    ids = _make_statements(database, 3)
    with database.unit_of_work() as db:
        assert submit_pending(db, client=_client(url)).accepted == 3
    # The answer was lost: staydown still thinks two are pending; one more is new.
    clock.advance(hours=1)
    with database.unit_of_work() as db:
        db.execute(sa.update(StatementOfReasons).where(StatementOfReasons.id.in_(ids[:2])).values(tdb_state="pending"))
    ids += _make_statements(database, 1)
    with database.unit_of_work() as db:
        report = submit_pending(db, client=_client(url))
    assert (report.accepted, report.duplicates, report.rejected) == (1, 2, 0)
    assert len(state.statements) == 4 and _states(database) == {"submitted": 4}
    with database.unit_of_work(write=False) as db:
        first = db.get_one(StatementOfReasons, ids[0])
        assert first.tdb_submitted_at == T0  # the first acceptance, not the duplicate's
    # the first call was refused whole (existing_puids), the second stored the new one
    assert [n for _, n in state.requests][-2:] == [3, 1]


def test_dsa9_a_transient_failure_is_retried_by_the_next_run(
    database: Database, tdb: tuple[Any, str], clock: Any, tmp_path: Any
) -> None:
    """An outage leaves the statements pending and the run ends quietly (no dead-job alarm a
    minute); the next periodic run sends them. A backlog a day old alerts the administrators once."""

    state, url = tdb
    _make_statements(database, 5)
    settings = Settings(env="test", data_dir=tmp_path, tdb_url=url, tdb_token=TOKEN, worker_in_process=False)
    worker = Worker(
        database, build_registry(), retry=RetryPolicy(base_seconds=10, cap_seconds=60), services={"settings": settings}
    )
    with database.unit_of_work() as db:
        enqueue(db, kind=TDB_SUBMIT_JOB, payload={}, max_attempts=5)
    state.fail_next(1, status=503)
    worker.run_until_idle()  # the actions' webhook jobs run too (no receiver: nothing to do)
    with database.unit_of_work(write=False) as db:
        job = db.execute(sa.select(Job).where(Job.kind == TDB_SUBMIT_JOB)).scalar_one()
        assert job.state == "done"
        rows = db.execute(sa.select(StatementOfReasons)).scalars().all()
        assert {r.tdb_state for r in rows} == {"pending"} and {r.tdb_attempts for r in rows} == {1}
        error = rows[0].tdb_error
        assert error is not None and error.startswith("transient: ") and "503" in error
        assert db.scalar(sa.select(sa.func.count()).select_from(StaffAlert)) == 0  # not a day old yet
    # A day of outage: one alert, not one per run.
    clock.advance(hours=25)
    for _ in range(2):
        state.fail_next(1, status=503)
        with database.unit_of_work() as db:
            enqueue(db, kind=TDB_SUBMIT_JOB, payload={})
        worker.run_until_idle()
    with database.unit_of_work(write=False) as db:
        alerts = db.execute(sa.select(StaffAlert).where(StaffAlert.kind == "tdb_backlog")).scalars().all()
        assert len(alerts) == 1 and alerts[0].role == "admin" and "Art. 24(5)" in alerts[0].message
    with database.unit_of_work() as db:
        enqueue(db, kind=TDB_SUBMIT_JOB, payload={})
    worker.run_until_idle()
    assert _states(database) == {"submitted": 5} and len(state.statements) == 5


def test_dsa9_network_errors_and_429_are_transient(database: Database, tdb: tuple[Any, str]) -> None:
    state, url = tdb
    _make_statements(database, 2)
    with database.unit_of_work() as db, pytest.raises(TdbUnavailable):
        submit_pending(db, client=TdbClient("http://127.0.0.1:9", TOKEN, timeout=2))
    state.fail_next(1, status=429)
    with database.unit_of_work() as db, pytest.raises(TdbUnavailable):
        submit_pending(db, client=_client(url))
    assert _states(database) == {"pending": 2}


def test_dsa9_a_permanent_refusal_is_failed_and_surfaced(database: Database, tdb: tuple[Any, str]) -> None:
    state, url = tdb
    ids = _make_statements(database, 3)
    with database.unit_of_work() as db:
        # A statement the schema refuses (here: a category the Database does not know) is never sent.
        db.get_one(StatementOfReasons, ids[0]).category = "STATEMENT_CATEGORY_NOT_A_THING"
    state.fail_next(1, status=400)
    with database.unit_of_work() as db:
        report = submit_pending(db, client=_client(url))
    assert (report.accepted, report.rejected) == (0, 3)
    assert [n for _, n in state.requests] == [2]  # only the two valid ones went out
    with database.unit_of_work(write=False) as db:
        bad = db.get_one(StatementOfReasons, ids[0])
        assert (
            bad.tdb_state == "failed"
            and bad.tdb_error is not None
            and "category" in bad.tdb_error
            and bad.tdb_error.startswith("not sent")
        )
        other = db.get_one(StatementOfReasons, ids[1])
        assert other.tdb_state == "failed" and other.tdb_error is not None and "HTTP 400" in other.tdb_error
        fails = db.execute(sa.select(AuditEvent).where(AuditEvent.tag == "transparency:tdb:fail")).scalars().all()
        assert sorted(int(e.subject_id) for e in fails) == sorted(ids)
    # Failed statements are not picked up again.
    with database.unit_of_work() as db:
        assert submit_pending(db, client=_client(url)).batches == 0


def test_dsa9_a_refused_statement_in_a_batch_does_not_hold_back_the_others(
    database: Database, tdb: tuple[Any, str]
) -> None:
    state, url = tdb
    bodies = []
    with database.unit_of_work() as db:
        for _ in range(3):
            bodies.append(tdb_statement(_sor(db, _action(db))))
    bodies[1]["decision_facts"] = ""  # the Database would say: required
    outcomes = _client(url).submit(bodies)
    assert [outcomes[b["puid"]].status for b in bodies] == ["accepted", "rejected", "accepted"]
    error = outcomes[bodies[1]["puid"]].error
    assert error is not None and "decision facts" in error
    assert sorted(state.statements) == sorted([bodies[0]["puid"], bodies[2]["puid"]])


def test_dsa9_a_wrong_token_leaves_statements_pending(database: Database, tdb: tuple[Any, str]) -> None:
    _, url = tdb
    _make_statements(database, 2)
    with database.unit_of_work() as db, pytest.raises(TdbConfigurationError):
        submit_pending(db, client=_client(url, token="not-the-token"))
    assert _states(database) == {"pending": 2}


def test_dsa9_without_a_database_url_statements_wait(database: Database, tmp_path: Any) -> None:
    _make_statements(database, 2)
    settings = Settings(env="test", data_dir=tmp_path, worker_in_process=False)
    assert settings.tdb_url is None and settings.tdb_token.get_secret_value() == DEV_TDB_TOKEN
    worker = Worker(database, build_registry(), services={"settings": settings})
    with database.unit_of_work() as db:
        enqueue(db, kind=TDB_SUBMIT_JOB, payload={})
    worker.run_once()
    assert _states(database) == {"pending": 2}


def test_dsa9_the_submit_job_is_periodic() -> None:
    assert (TDB_SUBMIT_JOB, 60) in PERIODIC and TDB_SUBMIT_JOB in build_registry().kinds


def test_dsa9_cli_submits_pending_statements(
    database: Database, database_url: str, tdb: tuple[Any, str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = tdb
    _make_statements(database, 3)
    for name, value in (("DATABASE_URL", database_url), ("DATA_DIR", str(tmp_path / "var")), ("ENV", "test")):
        monkeypatch.setenv(f"STAYDOWN_{name}", value)
    r = CliRunner().invoke(cli_app, ["transparency", "submit"])
    assert r.exit_code == 2 and "STAYDOWN_TDB_URL" in r.output
    monkeypatch.setenv("STAYDOWN_TDB_URL", url)
    monkeypatch.setenv("STAYDOWN_TDB_TOKEN", TOKEN)
    r = CliRunner().invoke(cli_app, ["transparency", "submit"])
    assert r.exit_code == 0, r.output
    assert "3 accepted, 0 already in the Database, 0 refused" in r.output
    assert len(state.statements) == 3 and _states(database) == {"submitted": 3}


def test_dsa9_refused_statements_can_be_requeued_with_a_reason(database: Database, tdb: tuple[Any, str]) -> None:
    state, url = tdb
    ids = _make_statements(database, 2)
    state.fail_next(1, status=400)
    with database.unit_of_work() as db:
        submit_pending(db, client=_client(url))
    with database.unit_of_work() as db, pytest.raises(InvalidInput):
        requeue_failed(db, actor=SYSTEM, reason="again")
    with database.unit_of_work() as db:
        assert requeue_failed(db, actor=SYSTEM, reason="the Database had an outage answering 400", ids=ids[:1]) == 1
    assert _states(database) == {"pending": 1, "failed": 1}
    with database.unit_of_work() as db:
        assert submit_pending(db, client=_client(url)).accepted == 1
        event = db.execute(sa.select(AuditEvent).where(AuditEvent.tag == "transparency:tdb:requeue")).scalar_one()
        assert event.subject_id == str(ids[0]) and "HTTP 400" in event.data["previous_error"]
    assert _states(database) == {"submitted": 1, "failed": 1}
