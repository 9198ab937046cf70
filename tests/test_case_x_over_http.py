"""REQUIREMENTS.md section X replayed against a real `staydown serve` (its intake writer process,
its worker) over HTTP, with the service's clock moved forward by days while nobody acts.

The platform scans two uploads of the same (benign, synthetic) picture; a parent reports it
anonymously as showing their son; the son reports the re-upload; one reviewer says "no rule
broken", a second disagrees: apparent CSAM, actual knowledge, the NCMEC clock. The material is
re-uploaded and blocked as confirmed material: knowledge from the match, a clock that escalates
and breaches with nobody acting. A federal agent's order joins the case with its own deadline;
the parent's status never shows it. An unrelated report decided "does not violate" leaves no
breached track. A child-safety specialist confirms the CyberTipline reports of the parent's case;
the uploads had passed the scan and were never kept, so staydown asks the platform for each file,
and the worker files reports that carry the file, the uploader's IP and port, the upload time and
the platform's address with the local CyberTipline server over HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from staydown.authorities.ncmec_server import create_app as create_ncmec_app
from tests.client.servers import serve
from tests.imagegen import encode, synthetic

PASSWORD = "correct horse battery staple"
NCMEC_USER, NCMEC_PASSWORD = "platform-test", "a-long-test-password"
HOUR = 3600


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """A `staydown serve` process on its own data dir, with a clock the test moves."""

    def __init__(self, tmp: Path, ncmec_url: str) -> None:
        self.offset_file = tmp / "clock-offset"
        self.offset_file.write_text("0")
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STAYDOWN_")}
        self.env.update(
            {
                "STAYDOWN_DATA_DIR": str(tmp / "var"),
                "STAYDOWN_CLOCK_OFFSET_FILE": str(self.offset_file),
                "STAYDOWN_PUBLIC_BASE_URL": self.base,
                "STAYDOWN_NCMEC_URL": ncmec_url,
                "STAYDOWN_NCMEC_USERNAME": NCMEC_USER,
                "STAYDOWN_NCMEC_PASSWORD": NCMEC_PASSWORD,
                "STAYDOWN_NCMEC_REPORTER_FIRST_NAME": "Safety",
                "STAYDOWN_NCMEC_REPORTER_LAST_NAME": "Team",
                "STAYDOWN_NCMEC_REPORTER_EMAIL": "safety@platform.example",
                "STAYDOWN_DSA18_AUTHORITIES": json.dumps({"IE": "An Garda Siochana <dsa18@garda.example>"}),
                "STAYDOWN_JOB_BACKOFF_BASE_SECONDS": "1",
                "STAYDOWN_JOB_BACKOFF_CAP_SECONDS": "2",
            }
        )
        self.exe = str(Path(sys.executable).with_name("staydown"))
        self.cwd = tmp
        self.hours = 0.0
        self.proc: subprocess.Popen[str] | None = None

    def cli(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [self.exe, *args], env=self.env, cwd=self.cwd, input=stdin, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.exe, "serve", "--port", str(self.port)],
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"staydown serve did not become ready: {self.stop()}")

    def stop(self) -> str:
        if self.proc is None:
            return ""
        self.proc.terminate()
        try:
            out, _ = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        self.proc = None
        return out or ""

    def move_to(self, hours: float) -> None:
        """Every process of the service now reads this many hours after the start."""
        self.hours = hours
        self.offset_file.write_text(str(hours * HOUR))


@pytest.fixture
def ncmec() -> Iterator[tuple[str, Any]]:
    app = create_ncmec_app(username=NCMEC_USER, password=NCMEC_PASSWORD)
    with serve(app) as url:
        yield url, app.state.ncmec


@pytest.fixture
def service(tmp_path: Path, ncmec: tuple[str, Any]) -> Iterator[Service]:
    svc = Service(tmp_path, ncmec[0])
    svc.cli("db", "upgrade")
    for name, role in (("cs1", "child_safety"), ("cs2", "child_safety"), ("mo", "moderator")):
        svc.cli("staff", "add", name, "--role", role, "--password-stdin", stdin=PASSWORD + "\n")
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()


def _until(what: str, check: Callable[[], Any], timeout: float = 45.0) -> Any:
    """Poll a real server until `check` returns something true (the worker runs on its own)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def test_section_X_replayed_over_http_with_the_clock_moved(service: Service, ncmec: tuple[str, Any]) -> None:
    """REQ X-1..X-5, TID-2, CSAM-1, CSAM-3, CSAM-7, NCMEC-3, DSA-1, UK-1."""
    key = service.cli("apikey", "create", "the platform").strip().splitlines()[-1]
    http = httpx.Client(base_url=service.base, timeout=30)
    platform = {"Authorization": f"Bearer {key}"}

    sessions: dict[str, tuple[float, dict[str, str]]] = {}

    def staff(name: str) -> dict[str, str]:
        # Sessions last 12 hours and the clock moves by days: sign in again once it has moved.
        known = sessions.get(name)
        if known is not None and service.hours - known[0] < 11:
            return known[1]
        r = http.post("/v1/auth/sign-in", json={"username": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        sessions[name] = (service.hours, {"Authorization": f"Bearer {r.json()['token']}"})
        return sessions[name][1]

    def case(case_id: int) -> dict[str, Any]:
        r = http.get(f"/v1/cases/{case_id}", headers=staff("cs1"))
        assert r.status_code == 200, r.text
        return r.json()

    def tracks(case_id: int) -> dict[str, dict[str, Any]]:
        return {t["kind"] if t["scope"] == "case" else f"{t['kind']}:{t['scope']}": t for t in case(case_id)["tracks"]}

    stand_in = synthetic(2021, (640, 480))
    uploads = {
        "vid-1": ("acct-a", encode(stand_in, "JPEG", quality=90), "198.51.100.7"),
        "vid-2": ("acct-b", encode(stand_in, "PNG"), "198.51.100.8"),
    }
    for content_id, (account, data, ip) in uploads.items():
        r = http.post(
            "/v1/scan",
            headers=platform,
            files={"file": (f"{content_id}.jpg", data, "image/jpeg")},
            data={
                "content_id": content_id,
                "account_id": account,
                "uploader_ip": ip,
                "uploader_port": "51234",
                "uploaded_at": "2026-06-01T09:00:00+00:00",
                "content_url": f"https://social.example/v/{content_id}",
                "content_visibility": "public",
                "original_filename": f"{content_id}.jpg",
            },
        )
        assert r.status_code == 200 and r.json()["verdict"] == "allow", r.text  # unknown so far: not kept

    # the parent, anonymous, from the public API.
    r = http.post(
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
    parent_kinds = {d["kind"] for d in r.json()["deadlines"]}
    assert {"take_it_down", "priority_takedown", "dsa_notice"} <= parent_kinds
    # The son, through the platform's own button: the same case.
    r = http.post(
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
    assert r.status_code == 201, r.text
    case_id = r.json()["cases"][0]
    assert case(case_id)["notice_count"] == 2

    # An unrelated report, decided "does not violate" within minutes: nothing of it may breach.
    r = http.post(
        "/public/notices",
        json={
            "reporter_kind": "user",
            "policy_id": "spam",
            "good_faith": True,
            "explanation": "looks like an advert",
            "items": [{"content_id": "post-1"}],
        },
    )
    spam_code = r.json()["tracking_code"]
    spam_case = _until(
        "the spam case",
        lambda: [c for c in http.get("/v1/queue", headers=staff("mo")).json() if c["policy_id"] == "spam"],
    )[0]["id"]
    mo = staff("mo")
    assert http.post(f"/v1/cases/{spam_case}/claim", headers=mo).status_code == 200
    r = http.post(
        f"/v1/cases/{spam_case}/decision",
        headers=mo,
        json={"policy": "spam@2", "outcome": "does_not_violate", "facts": "a single post, not an advert"},
    )
    assert r.status_code == 200 and r.json()["effective"]

    # X-4, DSA-2: the uploader's platform received the interim restriction with its statement,
    # whose first sentence says what was done: a restriction pending review, nothing removed.
    feed = http.get("/v1/actions", headers=platform, params={"after": 0}).json()["actions"]
    interim = [a for a in feed if a["kind"] == "restrict_distribution" and a["case_id"] == case_id]
    assert interim and all(a["interim"] and a["automated_decision"] for a in interim)
    first = interim[0]["statement"]["rendered"]["en"].split("\n")[0]
    assert first.startswith("We have limited content you shared on this platform while it is reviewed")
    assert (
        "Nothing has been removed" in first and "closed your account" not in interim[0]["statement"]["rendered"]["en"]
    )
    assert "trafficked" not in json.dumps(interim)
    page = http.get(interim[0]["statement"]["url"].replace(service.base, ""))
    assert page.status_code == 200 and "while it is reviewed" in page.text

    # one reviewer's "no rule broken" changes nothing; the second disagrees. X-3: knowledge.
    service.move_to(2)
    cs1 = staff("cs1")
    assert http.post(f"/v1/cases/{case_id}/claim", headers=cs1).status_code == 200
    r = http.post(
        f"/v1/cases/{case_id}/decision",
        headers=cs1,
        json={"policy": "csam@2", "outcome": "does_not_violate", "facts": "does not violate our policies"},
    )
    assert r.json()["effective"] is False
    assert all(t["state"] in ("open", "waiting") for t in r.json()["case"]["tracks"])
    service.move_to(3)
    http.put("/v1/accounts/acct-a", headers=platform, json={"handle": "nightowl"})
    r = http.post(
        f"/v1/cases/{case_id}/second-review",
        headers=staff("cs2"),
        json={
            "agree": False,
            "facts": "posted by nightowl (account acct-a) as vid-1; the reporter's account and the "
            "content show a minor in sexual content",
        },
    )
    assert r.status_code == 200, r.text
    decided = tracks(case_id)
    assert decided["ncmec"]["state"] == "open" and decided["ncmec"]["due_at"]
    assert decided["dsa_notice"]["state"] == "met"
    assert decided["take_it_down"]["state"] == "open"  # met only when the platform confirms the removal

    # The platform confirms the removals it was told of: the removal clocks are met.
    feed = http.get("/v1/actions", headers=platform, params={"after": 0}).json()["actions"]
    removals = [a for a in feed if a["kind"] == "remove" and a["case_id"] == case_id]
    assert {a["content_id"] for a in removals} == {"vid-1", "vid-2"}
    for a in removals:
        assert http.post(f"/v1/actions/{a['id']}/ack", headers=platform, json={"status": "applied"}).status_code == 200
    after_ack = tracks(case_id)
    assert {after_ack[k]["state"] for k in ("take_it_down", "uk_intimate_image", "priority_takedown")} == {"met"}

    # Re-uploaded by a third account at hour 5: blocked, knowledge from the match, decided at once.
    service.move_to(5)
    r = http.post(
        "/v1/scan",
        headers=platform,
        files={"file": ("again.png", encode(stand_in, "WEBP"), "image/webp")},
        data={
            "content_id": "vid-3",
            "account_id": "acct-c",
            "uploader_ip": "203.0.113.50",
            "uploaded_at": "2026-06-01T17:00:00+00:00",
        },
    )
    assert r.status_code == 200 and r.json()["verdict"] == "block", r.text
    reupload_case = r.json()["case_ids"][0]
    blocked = case(reupload_case)
    assert blocked["state"] == "decided" and blocked["outcome"] == "violates" and blocked["actual_knowledge_at"]
    assert tracks(reupload_case)["ncmec"]["state"] == "open"

    # A federal agent's order, day 3: its own track, its own receipt.
    service.move_to(73)
    r = http.post(
        "/v1/notices",
        headers=platform,
        json={
            "kind": "law_enforcement",
            "reporter_kind": "law_enforcement",
            "policy_id": "csam",
            "minor_involved": True,
            "explanation": "material depicting a trafficked minor; remove and preserve",
            "order": {"issued_by": "Homeland Security Investigations", "reference": "HSI-2020-0142", "hours": 6},
            "items": [{"content_id": "vid-1"}, {"content_id": "vid-2"}],
        },
    )
    assert r.status_code == 201, r.text
    assert [(d["kind"], d["state"]) for d in r.json()["deadlines"]] == [("authority_order", "open")]

    # Nobody acts on the blocked re-upload's NCMEC report: the worker escalates and breaches it.
    def breached() -> Any:
        t = tracks(reupload_case)["ncmec"]
        return t if t["breached_at"] else None

    ncmec_track = _until("the NCMEC breach of the blocked re-upload", breached)
    assert ncmec_track["escalated_at"] and ncmec_track["state"] == "open"
    # The unrelated "does not violate": met, never escalated nor breached.
    spam_tracks = case(spam_case)["tracks"]
    assert [(t["kind"], t["state"], t["breached_at"], t["escalated_at"]) for t in spam_tracks] == [
        ("dsa_notice", "met", None, None)
    ]
    spam_status = http.get(f"/public/status/{spam_code}").json()
    assert [d["state"] for d in spam_status["deadlines"]] == ["met"]
    # The parent sees the outcome and their clocks, never the agent's order.
    parent = http.get(f"/public/status/{parent_code}").json()
    assert parent["state"] == "decided" and parent["outcome"] == "violates"
    assert "authority_order" not in {d["kind"] for d in parent["deadlines"]}
    assert "acct-son" not in json.dumps(parent)
    # The mother's status page names nobody: no handle, no account or content id.
    parent_page = http.get(f"/status/{parent_code}").text
    for identifier in ("nightowl", "acct-a", "vid-1", "acct-son"):
        assert identifier not in json.dumps(parent) and identifier not in parent_page, identifier
    assert "minor in sexual content" in parent_page and "csam@2" not in parent_page

    # CSAM-7: a person confirms the CyberTipline reports of the parent's case, whose uploads passed
    # the scan and were never kept: staydown asks the platform for each file (provide_file), the
    # platform deposits it, and the worker files reports that carry the file, the uploader's IP and
    # port and the upload time (NCMEC-3, CSAM-3), never without them.
    cs1 = staff("cs1")
    drafts = http.post(f"/v1/cases/{case_id}/ncmec-reports", headers=cs1)
    assert drafts.status_code == 201, drafts.text
    assert {d["reported_account"] for d in drafts.json()} == {"acct-a", "acct-b"}
    for draft in drafts.json():
        assert http.post(f"/v1/ncmec-reports/{draft['id']}/confirm", headers=cs1).status_code == 200
    state = ncmec[1]
    time.sleep(2)
    assert not state.finished_reports(), "no report may be finished before its file is there"

    def requests() -> list[dict[str, Any]]:
        feed = http.get("/v1/actions", headers=platform, params={"after": 0}).json()["actions"]
        return [a for a in feed if a["kind"] == "provide_file" and a["state"] == "active"]

    asked = _until("the platform to be asked for the files", lambda: len(requests()) >= 2 and requests())
    for action in asked:
        account, data, _ = uploads[action["content_id"]]
        r = http.post(
            "/v1/evidence",
            headers=platform,
            files={"file": (f"{action['content_id']}.jpg", data, "image/jpeg")},
            data={
                "request_id": str(action["details"]["request_id"]),
                "content_id": action["content_id"],
                "account_id": account,
            },
        )
        assert r.status_code == 201, r.text
        assert (
            http.post(f"/v1/actions/{action['id']}/ack", headers=platform, json={"status": "applied"}).status_code
            == 200
        )
    finished = _until(
        "both finished CyberTipline reports", lambda: len(state.finished_reports()) >= 2 and state.finished_reports()
    )
    by_account = {ET.fromstring(r.xml).findtext(".//personOrUserReported/espIdentifier"): r for r in finished}
    report = by_account["acct-a"]
    events = {(e.findtext("ipAddress"), e.findtext("port")) for e in ET.fromstring(report.xml).iter("ipCaptureEvent")}
    assert ("198.51.100.7", "51234") in events
    [stored] = report.files.values()
    assert stored.data == uploads["vid-1"][1]  # the file itself, as uploaded
    details = stored.details
    assert details.findtext("uploadedToEspTimestamp", "").startswith("2026-06-01T09:00:00")
    assert details.findtext("publiclyAvailable") == "true"
    assert details.findtext("ipCaptureEvent/ipAddress") == "198.51.100.7"
    assert details.findtext("ipCaptureEvent/port") == "51234"
    hashes = {h.get("hashType"): h.text for h in details.iter("originalFileHash")}
    assert hashes.get("MD5") == hashlib.md5(uploads["vid-1"][1]).hexdigest()
    assert "social.example/v/vid-1" in report.xml.decode()
    assert service.base not in report.xml.decode()  # never staydown's own address
    met = _until("the NCMEC track met by the finished reports", lambda: tracks(case_id)["ncmec"]["state"] == "met")
    assert met
