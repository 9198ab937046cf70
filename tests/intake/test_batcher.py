"""Group commit of notices (`intake.batcher`): every receipt follows its batch's commit, batches
form under load, one notice's failure stays its own. REQ DSA-1 (receipt), TID-1 (nothing dropped)."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

import staydown.intake.batcher as batcher_module
from staydown.actors import Actor
from staydown.cases.rules import DEFAULT_RULES
from staydown.db import Database
from staydown.errors import InvalidInput, NotReady
from staydown.intake import batch as batch_module
from staydown.intake.batch import Outcome, Submission
from staydown.intake.batcher import IntakeBatcher
from staydown.intake.models import Notice
from staydown.intake.schemas import NoticeIn
from staydown.policies.catalogue import default_catalogue

API = Actor.api_client(1, "platform", frozenset({"notices:submit"}))


def _notice(content: str, **extra: object) -> NoticeIn:
    return NoticeIn.model_validate(
        {
            "policy_id": "harassment",
            "explanation": "it is aimed at me every day",
            "items": [{"content_id": content}],
            "reporter_id": f"r-{content}",
            **extra,
        }
    )


def _batcher(database: Database, **kwargs: Any) -> IntakeBatcher:
    catalogue = default_catalogue()
    return IntakeBatcher(
        database,
        lambda: {"catalogue": catalogue, "rules": DEFAULT_RULES, "engine": None, "job_max_attempts": 5},
        **kwargs,
    )


def _stored(database: Database) -> dict[str, int]:
    with database.unit_of_work(write=False) as db:
        return dict(db.execute(sa.select(Notice.tracking_code, Notice.id)).all())


def test_DSA1_receipts_follow_the_commit_and_batches_form_under_load(database: Database) -> None:
    """Each future resolves only once its notice is committed (another session sees it), and
    notices that arrive while a batch is written share the next one."""
    with _first_batch_held(database) as (batcher, calls):
        rest = [batcher.submit(Submission(API, _notice(f"c-{i}"))) for i in range(1, 21)]
        time.sleep(0.05)
        assert not any(f.done() for f in rest)
        assert _stored(database) == {}  # nothing acknowledged, nothing committed
    outcomes = [f.result(10) for f in rest]
    stored = _stored(database)
    assert {o.tracking_code: o.notice_id for o in outcomes}.items() <= stored.items()
    assert len(stored) == 21
    assert calls == [1, 20], calls  # the twenty that waited went in together
    assert batcher.batches == 2 and batcher.notices == 21


def test_TID1_one_notice_failing_in_the_database_does_not_fail_its_batch(
    database: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The batch is rolled back and each notice tried alone: the others are stored and answered,
    the failing one gets its own error."""
    real_row = batch_module._notice_row

    def explode_on_boom(work, when):
        if work.notice.explanation == "boom boom boom":
            raise RuntimeError("the database refused this row")
        return real_row(work, when)

    monkeypatch.setattr(batch_module, "_notice_row", explode_on_boom)
    with _first_batch_held(database) as (batcher, calls):
        futures = [batcher.submit(Submission(API, _notice(f"ok-{i}"))) for i in range(5)]
        futures.insert(2, batcher.submit(Submission(API, _notice("bad", explanation="boom boom boom"))))
    results: list[object] = []
    for f in futures:
        try:
            results.append(f.result(10))
        except Exception as exc:  # noqa: BLE001
            results.append(exc)
    assert calls[:2] == [1, 6], calls  # the six went in as one batch, which failed...
    assert calls[2:] == [1] * 6  # ...and were tried one by one
    assert "a batch of 6 notices failed" in caplog.text
    assert isinstance(results[2], RuntimeError) and "refused this row" in str(results[2])
    good = [r for i, r in enumerate(results) if i != 2 and isinstance(r, Outcome)]
    assert len(good) == len(results) - 1  # every other one is an Outcome
    assert set(_stored(database)) - {r.tracking_code for r in good} != set()  # the held first one
    assert {r.tracking_code for r in good} <= set(_stored(database))
    assert len(_stored(database)) == 6


@contextlib.contextmanager
def _first_batch_held(database: Database):
    """A batcher whose first batch (one notice) is held open until the block ends, so that what
    the block submits queues up as one batch. Yields the batcher and the batch sizes it wrote."""

    batcher = _batcher(database)
    gate = threading.Event()
    real = batch_module.submit_notices
    calls: list[int] = []

    def counted(db, subs, **kw):
        calls.append(len(subs))
        if len(calls) == 1:
            gate.wait(5)
        return real(db, subs, **kw)

    batcher_module.submit_notices = counted  # type: ignore[assignment]
    try:
        first = batcher.submit(Submission(API, _notice("held")))
        while batcher._waiting:
            threading.Event().wait(0.005)
        yield batcher, calls
        gate.set()
        first.result(10)
        batcher.close()
    finally:
        gate.set()
        batcher_module.submit_notices = real


def test_an_invalid_notice_gets_its_error_and_the_rest_of_its_batch_is_stored(database: Database) -> None:
    batcher = _batcher(database)
    try:
        futures = [
            batcher.submit(Submission(API, _notice("a"))),
            batcher.submit(Submission(API, _notice("b", policy_id="no-such-policy"))),
            batcher.submit(Submission(API, _notice("c"))),
        ]
        with pytest.raises(InvalidInput, match="no-such-policy"):
            futures[1].result(10)
        codes = {futures[0].result(10).tracking_code, futures[2].result(10).tracking_code}
    finally:
        batcher.close()
    assert set(_stored(database)) == codes


def test_the_same_idempotency_key_twice_is_one_notice(database: Database) -> None:
    """A platform that retries before its first answer came gets the first receipt (the second
    waits for the next batch, where it finds the first stored)."""
    batcher = _batcher(database)
    try:
        first = batcher.submit(Submission(API, _notice("x"), idempotency_key="api_client:1:k-1"))
        second = batcher.submit(Submission(API, _notice("x"), idempotency_key="api_client:1:k-1"))
        a, b = first.result(10), second.result(10)
    finally:
        batcher.close()
    assert a.notice_id == b.notice_id and a.tracking_code == b.tracking_code
    assert not a.replayed and b.replayed
    assert len(_stored(database)) == 1


def test_a_full_queue_answers_503_and_close_writes_what_waits(database: Database) -> None:
    batcher = _batcher(database, max_waiting=3)
    gate = threading.Event()

    real = batch_module.submit_notices

    def held(db, subs, **kw):
        gate.wait(5)
        return real(db, subs, **kw)

    batcher_module.submit_notices = held  # type: ignore[assignment]
    try:
        writing = batcher.submit(Submission(API, _notice("w")))
        while batcher._waiting:  # the writer took it
            threading.Event().wait(0.01)
        waiting = [batcher.submit(Submission(API, _notice(f"q-{i}"))) for i in range(3)]
        with pytest.raises(NotReady, match="too many notices"):
            batcher.submit(Submission(API, _notice("overflow")))
        gate.set()
        batcher.close()
    finally:
        batcher_module.submit_notices = real
    assert all(f.done() and f.exception() is None for f in [writing, *waiting])
    assert len(_stored(database)) == 4
