"""The NCA reporting channel as staydown reads it (UK-6): the report document and its check, the
client against the local stand-in over real HTTP on loopback, every step safe to repeat, and
every injected failure as the client reports it."""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from staydown.authorities import nca_format as f
from staydown.authorities.nca_client import (
    NcaAuthError,
    NcaClient,
    NcaHashMismatch,
    NcaRejected,
    NcaTransportError,
)
from staydown.authorities.nca_server import NcaServerState, create_app
from tests.authorities.test_ncmec_protocol import serve
from tests.imagegen import jpeg

TOKEN = "nca-protocol-token-not-real"
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@dataclass
class Server:
    url: str
    state: NcaServerState

    def client(self, *, token: str = TOKEN, timeout: float = 5.0) -> NcaClient:
        return NcaClient(self.url, token, timeout=timeout)


@pytest.fixture(scope="module")
def server_process() -> Iterator[Server]:
    app = create_app(token=TOKEN)
    with serve(app) as url:
        yield Server(url, app.state.nca)


@pytest.fixture
def server(server_process: Server) -> Iterator[Server]:
    yield server_process
    server_process.state.clear_faults()


@pytest.fixture(scope="module")
def client(server_process: Server) -> Iterator[NcaClient]:
    with server_process.client() as c:
        yield c


def make_report(ref: str, *, files: tuple[bytes, ...] = (), **changes: object) -> f.Report:
    """A fictitious report on a fictitious platform; one content item per file."""
    items = tuple(
        f.ContentItem(
            platform_content_id=f"c-{i}",
            url=f"https://platform.example.test/p/{i}",
            file_ref=f"item-{i}",
            file_name=f"upload-{i}.jpg",
            media_type="image/jpeg",
            size=len(data),
            uploaded_at=T0,
            upload_ip=f.IpEvent("192.0.2.10", T0, 443),
            publicly_available=False,
            viewed_by_provider=i == 0,
            hashes=(
                f.FileHash(f.HashType.SHA256, hashlib.sha256(data).hexdigest()),
                f.FileHash(f.HashType.MD5, hashlib.md5(data).hexdigest()),
            ),
        )
        for i, data in enumerate(files)
    ) or (f.ContentItem(platform_content_id="c-x", url=None),)
    report = f.Report(
        provider_reference=ref,
        organisation=f.Organisation("ORG-0001", "Example Platform (test)", "uk"),
        authorised_person=f.Person("Trust Safety", "nca@platform.example.test"),
        priority=f.Priority.STANDARD,
        category="Child sexual abuse material",
        detection=f.Detection((f.DetectionMethod.USER_REPORT,), T0 - timedelta(hours=2), T0, "1 user report"),
        reported_user=f.ReportedUser(
            "acct-000123",
            "fictitious_user",
            account_status="terminated",
            ip_events=(f.IpEvent("2001:db8::10", T0, None, "login"),),
        ),
        content=items,
        declaration=f.Declaration("staff:7", T0),
    )
    return replace(report, **changes)  # type: ignore[arg-type]


def body(report: f.Report) -> bytes:
    return f.report_json(report)


# -- the document ---------------------------------------------------------------------------------


def test_uk6_the_document_is_stable_bytes_that_meet_the_format() -> None:
    report = make_report("doc-1", files=(jpeg(1),))
    assert body(report) == body(report)  # a repeat sends the same bytes
    document = json.loads(body(report))
    assert f.validate_report(document) == []
    assert document["formatVersion"] == f.FORMAT_VERSION and document["providerReference"] == "doc-1"
    assert document["content"][0]["uploadIp"] == {
        "ip": "192.0.2.10",
        "port": 443,
        "at": T0.isoformat(),
        "event": "upload",
    }


@pytest.mark.parametrize(
    "change,problem",
    [
        (lambda d: d.pop("declaration"), "report.declaration: is required"),
        (
            lambda d: d["declaration"].update(allReasonablyAvailableInformationIncluded=False),
            "declaration must be made",
        ),
        (lambda d: d["priority"].update(level="urgent"), "an urgent report says why"),
        (lambda d: d["priority"].update(level="soon"), "report.priority.level: must be one of"),
        (lambda d: d["content"][0]["hashes"].append({"type": "md5", "value": "XYZ"}), "32 lower-case hex digits"),
        (lambda d: d["content"][0]["uploadIp"].update(ip="999.1.1.1"), "IPv4 or IPv6"),
        (lambda d: d["content"][0]["uploadIp"].update(at="2026-06-01T12:00:00"), "UTC offset"),
        (lambda d: d["content"].append(dict(d["content"][0])), "each fileRef may appear once"),
        (lambda d: d.update(content=[]), "report.content: must hold 1 to 100 entries"),
        (lambda d: d.update(surprise=1), "report.surprise: is not a field"),
        (lambda d: d["reportedUser"].update(accountStatus="gone"), "accountStatus: must be one of"),
        (lambda d: d["content"][0].update(fileRef="../etc"), "fileRef: has the wrong form"),
    ],
)
def test_uk6_the_check_names_what_is_wrong(change, problem) -> None:
    document = json.loads(body(make_report("doc-2", files=(jpeg(2),))))
    change(document)
    problems = f.validate_report(document)
    assert any(problem in p for p in problems), problems


def test_uk6_the_builder_refuses_naive_times_and_oversized_text() -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        body(make_report("doc-3", declaration=f.Declaration("staff:7", datetime(2026, 6, 1, 12, 0))))
    with pytest.raises(ValueError, match="longer than"):
        body(make_report("doc-4", additional_information="x" * (f.TEXT_LIMIT + 1)))


# -- the calls, against the local stand-in ----------------------------------------------------------


def test_uk6_a_report_is_created_its_files_put_and_it_is_submitted(server: Server, client: NcaClient) -> None:
    files = (jpeg(3), jpeg(4))
    document = body(make_report("happy-1", files=files))
    assert client.status()["status"] == "ok"
    created = client.create_report(document, idempotency_key="happy-1")
    assert not created.replayed
    uploads = [
        client.upload_file(
            created.report_id, f"item-{i}", file_name=f"upload-{i}.jpg", media_type="image/jpeg", data=data
        )
        for i, data in enumerate(files)
    ]
    assert [u.sha256 for u in uploads] == [hashlib.sha256(d).hexdigest() for d in files]
    receipt = client.submit(created.report_id)
    assert receipt.report_id == created.report_id and receipt.nca_reference
    assert set(receipt.file_ids) == {u.file_id for u in uploads}
    stored = server.state.reports[created.report_id]
    assert stored.status == "submitted" and stored.document == document  # byte for byte
    assert client.report(created.report_id)["status"] == "submitted"


def test_uk6_every_step_repeated_names_the_same_thing(server: Server, client: NcaClient) -> None:
    """What makes a lost answer harmless: create, upload and submit are each safe to send again."""
    data = jpeg(5)
    document = body(make_report("repeat-1", files=(data,)))
    first = client.create_report(document, idempotency_key="repeat-1")
    again = client.create_report(document, idempotency_key="repeat-1")
    assert again.report_id == first.report_id and again.replayed
    up1 = client.upload_file(first.report_id, "item-0", file_name="a.jpg", media_type="image/jpeg", data=data)
    up2 = client.upload_file(first.report_id, "item-0", file_name="a.jpg", media_type="image/jpeg", data=data)
    assert up1.file_id == up2.file_id and up2.replayed
    r1, r2 = client.submit(first.report_id), client.submit(first.report_id)
    assert r1.nca_reference == r2.nca_reference
    assert len(server.state.find("repeat-1")) == 1 and len(server.state.reports[first.report_id].files) == 1
    # Once submitted, the same file is still the same file, but nothing new can be added.
    assert client.upload_file(first.report_id, "item-0", file_name="a.jpg", media_type="image/jpeg", data=data).replayed


def test_uk6_refusals_say_what_was_wrong(server: Server, client: NcaClient) -> None:
    data = jpeg(6)
    document = body(make_report("refuse-1", files=(data,)))
    created = client.create_report(document, idempotency_key="refuse-1")
    # The same key for another document is a bug on our side, never a second report.
    with pytest.raises(NcaRejected) as info:
        client.create_report(body(make_report("refuse-1b", files=(data,))), idempotency_key="refuse-1")
    assert info.value.status == 409 and info.value.error == "idempotency_key_reused" and not info.value.retryable
    with pytest.raises(NcaRejected) as info:
        client.create_report(b'{"formatVersion": "staydown-nca/1"}', idempotency_key="refuse-2")
    assert info.value.status == 422 and any("providerReference: is required" in p for p in info.value.problems)
    with pytest.raises(NcaRejected) as info:
        client.create_report(b"{not json", idempotency_key="refuse-3")
    assert info.value.status == 400
    with pytest.raises(NcaRejected) as info:
        client.submit(created.report_id)
    assert info.value.status == 422 and info.value.problems == ("fileRef item-0",)
    with pytest.raises(NcaRejected) as info:
        client.upload_file(created.report_id, "item-9", file_name="x.jpg", media_type="image/jpeg", data=data)
    assert info.value.status == 422 and info.value.error == "unknown_file_ref"
    client.upload_file(created.report_id, "item-0", file_name="x.jpg", media_type="image/jpeg", data=data)
    with pytest.raises(NcaRejected) as info:
        client.upload_file(created.report_id, "item-0", file_name="x.jpg", media_type="image/jpeg", data=jpeg(7))
    assert info.value.status == 409 and info.value.error == "file_ref_reused"
    with pytest.raises(NcaRejected) as info:
        client.submit("NCA-R999999999")
    assert info.value.status == 404
    with pytest.raises(ValueError, match="idempotency_key"):
        client.create_report(document, idempotency_key="no spaces allowed")


def test_uk6_a_wrong_token_is_an_auth_error(server: Server) -> None:
    with server.client(token="wrong") as bad, pytest.raises(NcaAuthError) as info:
        bad.status()
    assert info.value.status == 401


@pytest.mark.parametrize(
    "mode,happened", [("drop", False), ("timeout", False), ("after_commit_drop", True), ("after_commit_timeout", True)]
)
def test_uk6_a_lost_answer_is_an_unknown_outcome_and_asking_again_settles_it(
    server: Server, mode: str, happened: bool
) -> None:
    with server.client(timeout=0.5) as hasty:
        key = f"lost-{mode}"
        document = body(make_report(key))
        server.state.fail_next("create", mode, hold_seconds=3.0)
        with pytest.raises(NcaTransportError) as info:
            hasty.create_report(document, idempotency_key=key)
        assert info.value.outcome_unknown
        assert len(server.state.find(key)) == (1 if happened else 0)
        again = hasty.create_report(document, idempotency_key=key)
        assert again.replayed is happened and len(server.state.find(key)) == 1


def test_uk6_an_injected_server_error_is_retryable_and_changes_nothing(server: Server, client: NcaClient) -> None:
    server.state.fail_next("create", "error", status=503)
    with pytest.raises(NcaRejected) as info:
        client.create_report(body(make_report("err-1")), idempotency_key="err-1")
    assert info.value.retryable and server.state.find("err-1") == []


def test_uk6_no_connection_means_not_sent() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with NcaClient(f"http://127.0.0.1:{port}", TOKEN, timeout=1.0) as c, pytest.raises(NcaTransportError) as info:
        c.status()
    assert info.value.outcome_unknown is False


def test_uk6_a_stored_file_that_is_not_ours_is_reported() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json={"fileId": "F1", "fileRef": "item-0", "sha256": "0" * 64, "size": 1})

    with NcaClient("https://nca.example.test", TOKEN, timeout=1.0, transport=httpx.MockTransport(answer)) as c:
        with pytest.raises(NcaHashMismatch):
            c.upload_file("R1", "item-0", file_name="a.jpg", media_type="image/jpeg", data=b"benign")


def test_uk6_credentials_never_cross_the_network_in_clear() -> None:
    with pytest.raises(ValueError, match="https"):
        NcaClient("http://nca.example.test/api", TOKEN, timeout=1.0)
