"""The intake writer in a child process (`intake_writer = "process"`, what `staydown serve` runs):
the same receipts after the same commits, errors keep their kind across the pipe, and a writer
that dies is replaced. REQ DSA-1, TID-1 (an acknowledged notice is stored)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from staydown.actors import Actor
from staydown.db import Database, create_engine
from staydown.errors import InvalidInput
from staydown.intake.batch import Submission
from staydown.intake.models import Notice
from staydown.intake.schemas import NoticeIn
from staydown.intake.writer import ProcessIntake

API = Actor.api_client(1, "platform", frozenset({"notices:submit"}))


def _notice(content: str, policy: str = "harassment") -> NoticeIn:
    return NoticeIn.model_validate(
        {
            "policy_id": policy,
            "explanation": "it is aimed at me every day",
            "items": [{"content_id": content}],
            "reporter_id": f"r-{content}",
        }
    )


@pytest.fixture
def intake(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # The child reads its settings from the environment, as under `staydown serve`.
    monkeypatch.setenv("STAYDOWN_DATABASE_URL", database_url)
    monkeypatch.setenv("STAYDOWN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("STAYDOWN_LOG_LEVEL", "WARNING")
    writer = ProcessIntake()
    writer.start()
    yield writer
    writer.close()


def _stored(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url)
    try:
        with Database(engine).unit_of_work(write=False) as db:
            return dict(db.execute(sa.select(Notice.tracking_code, Notice.id)).all())
    finally:
        engine.dispose()


def test_DSA1_a_child_process_stores_each_notice_before_its_receipt(intake: ProcessIntake, database_url: str) -> None:
    futures = [intake.submit(Submission(API, _notice(f"c-{i}"))) for i in range(30)]
    outcomes = [f.result(60) for f in futures]
    assert {o.tracking_code: o.notice_id for o in outcomes} == _stored(database_url)
    assert all(o.state == "received" and o.case_ids for o in outcomes)


def test_errors_cross_the_pipe_with_their_kind(intake: ProcessIntake, database_url: str) -> None:
    bad = intake.submit(Submission(API, _notice("x", policy="no-such-policy")))
    with pytest.raises(InvalidInput, match="no-such-policy"):
        bad.result(60)
    assert intake.submit(Submission(API, _notice("y"))).result(60).state == "received"


def test_a_writer_that_dies_is_replaced(intake: ProcessIntake, database_url: str) -> None:
    intake.submit(Submission(API, _notice("before"))).result(60)
    child = intake._child
    child.kill()
    child.join(10)
    deadline = time.monotonic() + 10
    while intake._child is child:  # the receive loop notices the pipe close
        assert time.monotonic() < deadline
        time.sleep(0.01)
    after = intake.submit(Submission(API, _notice("after"))).result(60)
    assert intake._child is not None and intake._child is not child
    assert after.tracking_code in _stored(database_url)
