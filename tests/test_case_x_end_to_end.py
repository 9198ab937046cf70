"""REQUIREMENTS.md section X replayed through the HTTP API: a parent reports material showing
their child; it cannot be waved through by one reviewer, the clocks run from receipt, knowledge
starts the NCMEC clock, and the parent can follow it all by tracking code. (Stand-in media is a
benign synthetic picture.)"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from staydown import audit
from staydown.actors import SYSTEM
from staydown.cases.actions import sweep_deadlines
from staydown.cases.models import StaffAlert
from staydown.clock import FrozenClock
from staydown.db import Database
from staydown.enforcement.models import EnforcementAction
from staydown.transparency.models import StatementOfReasons
from tests.helpers import auth, make_staff, sign_in
from tests.imagegen import encode, synthetic


def test_section_X_end_to_end(client, database: Database, api_key: str, clock: FrozenClock) -> None:
    """REQ X-1, X-2, X-3, X-4, TID-2, CSAM-1."""
    platform = auth(api_key)
    stand_in = synthetic(2021)
    # The material is uploaded by one account and re-uploaded by another (re-encoded).
    for content_id, account, data in (
        ("vid-1", "acct-a", encode(stand_in, "JPEG", quality=90)),
        ("vid-2", "acct-b", encode(stand_in, "PNG")),
    ):
        r = client.post(
            "/v1/scan",
            headers=platform,
            files={"file": ("f", data, "image/jpeg")},
            data={"content_id": content_id, "account_id": account, "uploader_ip": "198.51.100.7"},
        )
        assert r.status_code == 200 and r.json()["verdict"] == "allow"  # unknown so far
    client.app.state.match_engine.catch_up()

    # the parent reports from the public page, no account, no name, no e-mail.
    r = client.post(
        "/public/notices",
        json={
            "reporter_kind": "parent_or_representative",
            "policy_id": "ncii",
            "minor_involved": True,
            "explanation": "This shows my son. He is 16 and was trafficked. Please take it down.",
            "items": [{"content_id": "vid-1"}],
        },
    )
    assert r.status_code == 201, r.text
    parent_code = r.json()["tracking_code"]
    deadlines = {d["kind"]: d for d in r.json()["deadlines"]}
    assert deadlines["take_it_down"]["due_at"].startswith((clock.now() + timedelta(hours=48)).isoformat()[:19])

    # The son reports the re-upload through the platform's own button: same case (X-5 grouping).
    clock.advance(hours=1)
    r = client.post(
        "/v1/notices",
        headers=platform,
        json={
            "reporter_kind": "affected_person",
            "policy_id": "csam",
            "minor_involved": True,
            "reporter_id": "acct-son",
            "explanation": "this is me, I was 16",
            "items": [{"content_id": "vid-2"}],
        },
    )
    assert r.status_code == 201
    case_id = r.json()["cases"][0]

    make_staff(database, "cs1", "child_safety")
    make_staff(database, "cs2", "child_safety")
    cs1, cs2 = sign_in(client, "cs1"), sign_in(client, "cs2")
    case = client.get(f"/v1/cases/{case_id}", headers=cs1).json()
    assert case["notice_count"] == 2 and case["reporter_count"] == 2 and case["child_safety"]
    assert case["policy_id"] == "csam"  # sexual imagery of a minor, whatever box was ticked
    assert client.get("/v1/queue", headers=cs1).json()[0]["id"] == case_id

    # restricted at once, before any human looked.
    with database.unit_of_work(write=False) as db:
        interim = db.execute(sa.select(EnforcementAction).where(EnforcementAction.interim.is_(True))).scalars().all()
        assert len(interim) == 2  # both reported copies
        assert all(a.kind == "restrict_distribution" and a.state == "active" for a in interim)
        statement = db.execute(
            sa.select(StatementOfReasons).where(StatementOfReasons.action_id == interim[0].id)
        ).scalar_one()
    # DSA-2: the uploader's statement says what was done: a restriction pending review, nothing
    # removed, no account closed, and nothing of what the parent reported.
    first = statement.rendered["en"].split("\n")[0]
    assert first.startswith(
        "We have limited content you shared on this platform while it is reviewed: "
        "until a person decides, it is kept out of recommendations and search"
    )
    assert "Nothing has been removed" in first and "closed your account" not in statement.rendered["en"]
    assert "trafficked" not in statement.rendered["en"] and "son" not in first.split()
    page = client.get(f"/statements/{statement.code}")
    assert 'id="headline"' in page.text and "while it is reviewed" in page.text
    assert "Child sexual abuse material" not in page.text  # no rule applied yet: none named

    # one reviewer's "no rule broken" changes nothing.
    clock.advance(hours=1)
    client.post(f"/v1/cases/{case_id}/claim", headers=cs1)
    r = client.post(
        f"/v1/cases/{case_id}/decision",
        headers=cs1,
        json={"policy": "csam@2", "outcome": "does_not_violate", "facts": "does not violate our policies"},
    )
    assert r.json()["effective"] is False
    status = client.get(f"/public/status/{parent_code}").json()
    assert status["state"] == "in_second_review" and status["outcome"] is None

    # The second reviewer disagrees: apparent CSAM. X-3: actual knowledge, NCMEC clock starts.
    clock.advance(hours=1)
    client.put("/v1/accounts/acct-a", headers=platform, json={"handle": "nightowl"})
    r = client.post(
        f"/v1/cases/{case_id}/second-review",
        headers=cs2,
        json={
            "agree": False,
            "facts": "posted by nightowl (account acct-a) as vid-1; the reporter's account and the "
            "content show a minor in sexual content",
        },
    )
    assert r.status_code == 200, r.text
    case = r.json()["case"]
    assert case["outcome"] == "violates" and case["actual_knowledge_at"]
    tracks = {t["kind"]: t for t in case["tracks"]}
    assert tracks["ncmec"]["state"] == "open"
    assert tracks["ncmec"]["due_at"].startswith((clock.now() + timedelta(hours=24)).isoformat()[:19])
    assert tracks["take_it_down"]["state"] == "open"  # met only when the removal is confirmed
    with database.unit_of_work(write=False) as db:
        actions = db.execute(sa.select(EnforcementAction)).scalars().all()
        removed = {a.content_id for a in actions if a.kind == "remove" and a.state == "active"}
        assert len(removed) == 2  # both reported copies
        assert {a.kind for a in actions if a.target == "account" and a.state == "active"} >= {"terminate"}
        assert all(a.state == "lifted" for a in actions if a.interim)

    # The parent sees the outcome and the reasons, and nothing about the other reporter.
    status = client.get(f"/public/status/{parent_code}")
    body = status.json()
    assert body["state"] == "decided" and body["outcome"] == "violates" and body["policy"] == "csam@2"
    assert "minor" in body["reasons"] and "six months" in body["redress"]
    assert "acct-son" not in status.text and "this is me" not in status.text
    # The mother's status page names nobody: no handle, no account or content id (one scrubber).
    page = client.get(f"/status/{parent_code}")
    for identifier in ("nightowl", "acct-a", "vid-1", "acct-son"):
        assert identifier not in status.text and identifier not in page.text, identifier
    assert "minor in sexual content" in page.text and 'id="rule">Child sexual abuse material<' in page.text
    assert "csam@2" not in page.text

    # The NCMEC deadline is alarmed before it passes.
    clock.advance(hours=19)
    with database.unit_of_work() as db:
        sweep_deadlines(db, actor=SYSTEM)
    with database.unit_of_work(write=False) as db:
        alerts = db.execute(sa.select(StaffAlert).where(StaffAlert.case_id == case_id)).scalars().all()
        assert any("ncmec" in a.message for a in alerts)
        assert audit.verify(db).ok
