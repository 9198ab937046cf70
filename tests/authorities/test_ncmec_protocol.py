"""The CyberTipline Reporting API: the client against the local server over real HTTP on loopback,
the documents it sends, and every injected failure seen from the client's side, with how a caller
reconciles after each."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from staydown.authorities.ncmec_client import (
    CyberTiplineClient,
    NcmecAuthError,
    NcmecError,
    NcmecHashMismatch,
    NcmecRejected,
    NcmecTransportError,
)
from staydown.authorities.ncmec_server import NcmecServerState, create_app
from staydown.authorities.ncmec_xml import (
    REPORT,
    AccountDisabled,
    ContactPerson,
    FileAnnotation,
    FileDetails,
    FileHash,
    FileRelevance,
    IncidentSummary,
    IncidentType,
    InternetDetails,
    IpCaptureEvent,
    IpEventName,
    Person,
    Report,
    ReportAnnotation,
    ReportedPerson,
    Reporter,
    ResponseCode,
    Victim,
    file_details_xml,
    parse_response,
    report_xml,
    response_xml,
    validate_file_details,
    validate_report,
    xml_text,
)
from tests.imagegen import encode, synthetic

USER, PASSWORD = "esp-test-user", "esp-test-password-not-real"
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
# Long enough for any loopback call on a busy CI machine.
TIMEOUT = 5.0
# The client that meets a held request gives up after this; short, so those cases stay cheap.
HASTY = 0.3


@dataclass
class Server:
    url: str
    state: NcmecServerState

    def client(self, *, password: str = PASSWORD, timeout: float = TIMEOUT) -> CyberTiplineClient:
        return CyberTiplineClient(self.url, USER, password, timeout=timeout)


@contextlib.contextmanager
def serve(app: Callable[..., Any]) -> Iterator[str]:
    """uvicorn on 127.0.0.1 in a thread; yields the base URL. The socket is bound here and handed
    over, so no other process can take the port in between."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the local CyberTipline server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def server_process() -> Iterator[Server]:
    app = create_app(username=USER, password=PASSWORD)
    with serve(app) as url:
        yield Server(url, app.state.ncmec)


@pytest.fixture
def server(server_process: Server) -> Iterator[Server]:
    yield server_process
    server_process.state.clear_faults()


# Clients are shared by the module: building one costs ~50 ms (httpx loads the CA bundle), and
# each test opens its own connections anyway.
@pytest.fixture(scope="module")
def client(server_process: Server) -> Iterator[CyberTiplineClient]:
    with server_process.client() as c:
        yield c


@pytest.fixture(scope="module")
def hasty(server_process: Server) -> Iterator[CyberTiplineClient]:
    """A client that gives up after HASTY seconds, to meet a request the server holds."""
    with server_process.client(timeout=HASTY) as c:
        yield c


def png(seed: int) -> bytes:
    return encode(synthetic(seed, (96, 64)), "PNG")


def make_report(ref: str = "ref-0", **reported: object) -> Report:
    """An obviously fictitious incident on a fictitious platform."""
    return Report(
        incident_summary=IncidentSummary(
            incident_type=IncidentType.CHILD_PORNOGRAPHY,
            incident_date_time=T0,
            platform="Example Platform (test)",
            annotations=frozenset({ReportAnnotation.SPAM}),
        ),
        internet_details=[InternetDetails(urls=["https://platform.example.test/p/12345"])],
        reporter=Reporter(
            reporting_person=Person(first_name="Trust", last_name="Safety", emails=["ncmec@platform.example.test"]),
            contact_person=ContactPerson(
                first_name="Legal", last_name="Desk", phones=["+1 555 0100"], emails=["legal@platform.example.test"]
            ),
            company_template="Example Platform, test template. Serve legal process at legal@platform.example.test.",
            legal_url="https://platform.example.test/legal",
        ),
        person_or_user_reported=ReportedPerson(
            **{  # type: ignore[arg-type]
                "esp_identifier": "acct-000123",
                "screen_name": "fictitious_user_123",
                "ip_capture_events": [
                    IpCaptureEvent("192.0.2.10", IpEventName.UPLOAD, T0, port=443),
                    IpCaptureEvent("2001:db8::10", IpEventName.LOGIN, T0 - timedelta(days=1)),
                ],
                "account_permanently_disabled": AccountDisabled(disabled_at=T0, user_notified=False),
                **reported,
            }
        ),
        additional_info=f"staydown report ref: {ref}",
    )


def details(report_id: int, file_id: str, *, viewed: bool, name: str = "upload.png") -> FileDetails:
    return FileDetails(
        report_id=report_id,
        file_id=file_id,
        file_viewed_by_esp=viewed,
        original_file_name=name,
        uploaded_to_esp_at=T0,
        publicly_available=False,
        file_relevance=FileRelevance.REPORTED,
        original_file_hashes=[FileHash("MD5", "0" * 32)],
        ip_capture_event=IpCaptureEvent("192.0.2.10", IpEventName.UPLOAD, T0),
        additional_info=["stored copy withdrawn at detection"],
    )


def rejected(excinfo: pytest.ExceptionInfo[NcmecError], code: int) -> None:
    assert isinstance(excinfo.value, NcmecRejected), excinfo.value
    assert excinfo.value.code == code, excinfo.value


# -- the protocol, step by step ---------------------------------------------------------------


def test_full_report_is_filed_and_the_server_holds_exactly_what_was_sent(
    server: Server, client: CyberTiplineClient
) -> None:
    assert client.status().description == f"Remote User : {USER}"
    report = make_report("happy-path")
    report_id = client.submit(report)
    files = {"first.png": png(1), "second.png": png(2)}
    uploads = {name: client.upload(report_id, name, data) for name, data in files.items()}
    for name, data in files.items():
        assert uploads[name].md5 == hashlib.md5(data).hexdigest()
    client.file_info(details(report_id, uploads["first.png"].file_id, viewed=True, name="first.png"))
    client.file_info(details(report_id, uploads["second.png"].file_id, viewed=False, name="second.png"))
    receipt = client.finish(report_id)

    assert receipt.report_id == report_id
    assert set(receipt.file_ids) == {u.file_id for u in uploads.values()}
    assert parse_response(receipt.raw).root == "reportDoneResponse"

    stored = server.state.report(report_id)
    assert stored.status == "finished" and stored.finished_at is not None
    assert stored.xml == report_xml(report)  # byte for byte what the builder made
    root = stored.element
    assert root.findtext("incidentSummary/incidentType") == IncidentType.CHILD_PORNOGRAPHY.value
    assert root.findtext("incidentSummary/incidentDateTime") == "2026-06-01T12:00:00+00:00"
    assert root.find("incidentSummary/reportAnnotations/spam") is not None
    assert root.findtext("personOrUserReported/screenName") == "fictitious_user_123"
    assert [e.findtext("ipAddress") for e in root.findall("personOrUserReported/ipCaptureEvent")] == [
        "192.0.2.10",
        "2001:db8::10",
    ]
    disabled = root.find("personOrUserReported/accountPermanentlyDisabled")
    assert disabled is not None and disabled.text == "true" and disabled.get("userNotified") == "false"
    assert root.findtext("additionalInfo") == "staydown report ref: happy-path"
    by_name = {f.filename: f for f in stored.files.values()}
    for name, data in files.items():
        assert by_name[name].data == data
        assert by_name[name].md5 == uploads[name].md5
    first, second = by_name["first.png"].details, by_name["second.png"].details
    assert first is not None and second is not None
    assert first.findtext("fileViewedByEsp") == "true"
    assert second.findtext("fileViewedByEsp") == "false"
    assert server.state.finished_reports()[-1].report_id == report_id


def test_wrong_credentials_are_an_auth_error_and_do_nothing(server: Server) -> None:
    calls = len(server.state.calls)
    server.state.fail_next("submit", "error")  # an unauthenticated call must not consume it
    with server.client(password="wrong-password") as bad:
        with pytest.raises(NcmecAuthError, match="refused the credentials"):
            bad.status()
        with pytest.raises(NcmecAuthError):
            bad.submit(make_report("bad-auth"))
    assert len(server.state.calls) == calls
    assert not server.state.find_reports("bad-auth")
    with pytest.raises(NcmecRejected):
        with server.client() as good:
            good.submit(make_report("bad-auth"))


def test_raw_request_without_basic_auth_gets_401(server: Server) -> None:
    answer = httpx.post(f"{server.url}/submit", content=report_xml(make_report()))
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Basic")


def test_retract_before_finish_works_and_closes_the_report(server: Server, client: CyberTiplineClient) -> None:
    report_id = client.submit(make_report("retract"))
    client.upload(report_id, "a.png", png(3))
    assert client.retract(report_id).report_id == report_id
    assert server.state.report(report_id).status == "retracted"
    for call in (
        lambda: client.upload(report_id, "b.png", png(4)),
        lambda: client.finish(report_id),
        lambda: client.retract(report_id),
    ):
        with pytest.raises(NcmecError) as excinfo:
            call()
        rejected(excinfo, ResponseCode.REPORT_ALREADY_RETRACTED)


def test_a_finished_report_cannot_be_retracted_or_amended(server: Server, client: CyberTiplineClient) -> None:
    report_id = client.submit(make_report("finished"))
    upload = client.upload(report_id, "a.png", png(5))
    client.finish(report_id)
    calls: list[Callable[[], object]] = [
        lambda: client.retract(report_id),
        lambda: client.upload(report_id, "late.png", png(6)),
        lambda: client.file_info(details(report_id, upload.file_id, viewed=True)),
        lambda: client.finish(report_id),
    ]
    for call in calls:
        with pytest.raises(NcmecError) as excinfo:
            call()
        rejected(excinfo, ResponseCode.REPORT_ALREADY_FINISHED)
        assert "5102 Report already finished" in str(excinfo.value)
    assert server.state.report(report_id).status == "finished"
    assert len(server.state.report(report_id).files) == 1


def test_fileinfo_for_an_unknown_file_or_report_is_refused(client: CyberTiplineClient) -> None:
    report_id = client.submit(make_report("unknown-file"))
    with pytest.raises(NcmecError) as excinfo:
        client.file_info(details(report_id, "0123456789abcdef0123456789abcdef", viewed=False))
    rejected(excinfo, ResponseCode.FILE_DOES_NOT_EXIST)
    with pytest.raises(NcmecError) as excinfo:
        client.file_info(details(999_999_999, "0123456789abcdef0123456789abcdef", viewed=False))
    rejected(excinfo, ResponseCode.REPORT_DOES_NOT_EXIST)
    with pytest.raises(NcmecError) as excinfo:
        client.upload(999_999_999, "a.png", png(7))
    rejected(excinfo, ResponseCode.REPORT_DOES_NOT_EXIST)


def test_unfinished_reports_expire_as_ncmec_documents(server: Server, client: CyberTiplineClient) -> None:
    # Deleted 24 h after opening or 1 h after the last upload or file details, whichever is later.
    quiet = client.submit(make_report("expire-quiet"))
    busy = client.submit(make_report("expire-busy"))
    try:
        server.state.advance(timedelta(hours=23, minutes=30))
        upload = client.upload(busy, "a.png", png(8))
        server.state.advance(timedelta(minutes=45))  # 24h15m: the quiet one is gone
        with pytest.raises(NcmecError) as excinfo:
            client.upload(quiet, "a.png", png(8))
        rejected(excinfo, ResponseCode.REPORT_DOES_NOT_EXIST)
        client.file_info(details(busy, upload.file_id, viewed=True))  # 45 min after the upload: alive
        server.state.advance(timedelta(minutes=61))
        with pytest.raises(NcmecError) as excinfo:
            client.finish(busy)
        rejected(excinfo, ResponseCode.REPORT_DOES_NOT_EXIST)
        assert server.state.report(busy).status == "expired"
    finally:
        server.state.offset = timedelta(0)


# -- documents the server checks --------------------------------------------------------------


def maximal_report() -> Report:
    person = Person(
        first_name="Fictional",
        last_name="Person",
        phones=["+1 555 0199"],
        emails=["fictional@example.test"],
        age=40,
        date_of_birth=date(1986, 1, 1),
    )
    return Report(
        incident_summary=IncidentSummary(
            incident_type=IncidentType.ONLINE_ENTICEMENT,
            incident_date_time=T0,
            platform="Example Platform",
            escalate_to_high_priority="test escalation reason",
            annotations=frozenset(ReportAnnotation),
            incident_date_time_description="time of the first message",
        ),
        internet_details=[
            InternetDetails(
                urls=["https://platform.example.test/a", "https://platform.example.test/b"], additional_info="two pages"
            ),
            InternetDetails(
                kind="chat_im",
                chat_client="Example Chat",
                chat_room_name="room-1",
                content="synthetic chat transcript",
                additional_info="dm",
            ),
        ],
        reporter=Reporter(
            reporting_person=person,
            contact_person=ContactPerson(first_name="C", emails=["c@example.test"]),
            company_template="template",
            terms_of_service="tos",
            legal_url="https://example.test/legal",
        ),
        person_or_user_reported=ReportedPerson(
            esp_identifier="acct-1",
            screen_name="user_1",
            esp_service="Example Chat",
            display_names=["User One"],
            profile_urls=["https://platform.example.test/u/1"],
            person=person,
            compromised_account=False,
            profile_bio="bio",
            prior_ct_reports=[123456789],
            group_identifier="group-1",
            ip_capture_events=[
                IpCaptureEvent("198.51.100.7", IpEventName.REGISTRATION, T0, possible_proxy=True, port=8443)
            ],
            account_temporarily_disabled=AccountDisabled(
                disabled_at=T0, user_notified=True, user_notified_at=T0, reenabled_at=T0 + timedelta(days=1)
            ),
            account_permanently_disabled=AccountDisabled(disabled_at=T0 + timedelta(days=2)),
            additional_info="reported person note",
        ),
        victims=[
            Victim(person=Person(age=15)),
            Victim(esp_identifier="acct-2", screen_name="victim_2", school_name="Example School", additional_info="n"),
        ],
        additional_info="staydown report ref: maximal",
    )


def test_every_document_the_builder_makes_follows_the_structure_the_server_checks(client: CyberTiplineClient) -> None:
    data = report_xml(maximal_report())
    assert validate_report(data) == []
    root = ET.fromstring(data)
    # The order NCMEC's schema gives (checked by the server too): incidentDateTime after the
    # annotations, internetDetails before reporter, victims after the reported person.
    assert [c.tag for c in root] == [
        "incidentSummary",
        "internetDetails",
        "internetDetails",
        "reporter",
        "personOrUserReported",
        "victim",
        "victim",
        "additionalInfo",
    ]
    summary = root.find("incidentSummary")
    assert summary is not None
    assert [c.tag for c in summary] == [
        "incidentType",
        "platform",
        "escalateToHighPriority",
        "reportAnnotations",
        "incidentDateTime",
        "incidentDateTimeDescription",
    ]
    person = root.find("personOrUserReported")
    assert person is not None
    reported = [c.tag for c in person]
    assert (
        reported.index("screenName")
        < reported.index("ipCaptureEvent")
        < reported.index("priorCTReports")
        < reported.index("accountTemporarilyDisabled")
        < reported.index("accountPermanentlyDisabled")
    )
    report_id = client.submit(data)
    upload = client.upload(report_id, "x.png", png(9))
    file_doc = file_details_xml(
        FileDetails(
            report_id=report_id,
            file_id=upload.file_id,
            file_viewed_by_esp=True,
            original_file_name="x.png",
            uploaded_to_esp_at=T0,
            location_of_file="https://cdn.example.test/x.png",
            exif_viewed_by_esp=False,
            publicly_available=True,
            file_relevance=FileRelevance.REPORTED,
            annotations=frozenset(FileAnnotation),
            industry_classification="B2",
            original_file_hashes=[FileHash("MD5", upload.md5), FileHash("SHA256", "ab" * 32)],
            ip_capture_event=IpCaptureEvent("192.0.2.1"),
            additional_info=["one", "two"],
        )
    )
    assert validate_file_details(file_doc) == []
    assert [c.tag for c in ET.fromstring(file_doc)][:8] == [
        "reportId",
        "fileId",
        "originalFileName",
        "uploadedToEspTimestamp",
        "locationOfFile",
        "fileViewedByEsp",
        "exifViewedByEsp",
        "publiclyAvailable",
    ]
    client.file_info(file_doc)
    client.finish(report_id)


HAND_WRITTEN = b"""<?xml version="1.0" encoding="UTF-8"?>
<report>
  <incidentSummary>
    <incidentType>Child Pornography (possession, manufacture, and distribution)</incidentType>
    <incidentDateTime>2012-10-15T08:00:00-04:00</incidentDateTime>
  </incidentSummary>
  <internetDetails><webPageIncident><url>http://site.example.test/x</url></webPageIncident></internetDetails>
  <reporter><reportingPerson><firstName>John</firstName><lastName>Smith</lastName>
    <email>jsmith@example.test</email></reportingPerson></reporter>
</report>"""


# incidentDateTime before incidentType: both present, in the wrong order.
SWAPPED = HAND_WRITTEN.replace(
    b"<incidentType>Child Pornography (possession, manufacture, and distribution)</incidentType>\n"
    b"    <incidentDateTime>2012-10-15T08:00:00-04:00</incidentDateTime>",
    b"<incidentDateTime>2012-10-15T08:00:00-04:00</incidentDateTime>\n"
    b"    <incidentType>Child Pornography (possession, manufacture, and distribution)</incidentType>",
)
assert SWAPPED != HAND_WRITTEN


@pytest.mark.parametrize(
    "document, code, words",
    [
        (SWAPPED, 4100, "<incidentType> is out of order"),
        (
            HAND_WRITTEN.replace(
                b"<incidentType>Child Pornography (possession, manufacture, and distribution)</incidentType>", b""
            ),
            4100,
            "<incidentType> is required",
        ),
        (HAND_WRITTEN.replace(b"2012-10-15T08:00:00-04:00", b"yesterday"), 4100, "not an xs:dateTime"),
        (HAND_WRITTEN.replace(b"<email>jsmith@example.test</email>", b""), 4100, "<email> is required"),
        (
            HAND_WRITTEN.replace(b"Child Pornography (possession, manufacture, and distribution)", b"Something Else"),
            4100,
            "not one of the allowed values",
        ),
        (HAND_WRITTEN.replace(b"<reporter>", b"<victim><victimPerson/></victim><reporter>"), 4100, "out of order"),
        (HAND_WRITTEN.replace(b"<internetDetails>", b"<internetDetails><chatImIncident/>"), 4100, "exactly one"),
        (HAND_WRITTEN.replace(b"</report>", b""), 4110, "not well-formed"),
        (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "x">]><report/>', 4110, "DOCTYPE"),
        (b"<fileDetails><reportId>1</reportId><fileId>a</fileId></fileDetails>", 4100, "root element"),
    ],
)
def test_the_server_answers_the_documented_code_for_a_bad_document(
    client: CyberTiplineClient, document: bytes, code: int, words: str
) -> None:
    with pytest.raises(NcmecError) as excinfo:
        client.submit(document)
    rejected(excinfo, code)
    assert words in excinfo.value.description


def test_a_hand_written_document_in_the_documented_order_is_accepted(client: CyberTiplineClient) -> None:
    assert validate_report(HAND_WRITTEN) == []
    assert client.submit(HAND_WRITTEN) > 0


def test_a_bad_file_details_document_is_refused(client: CyberTiplineClient) -> None:
    report_id = client.submit(make_report("bad-details"))
    upload = client.upload(report_id, "a.png", png(10))
    good = file_details_xml(details(report_id, upload.file_id, viewed=True))
    swapped = (
        good.replace(b"<fileViewedByEsp>true</fileViewedByEsp>", b"")
        .replace(b"</fileId>", b"</fileId><fileViewedByEsp>true</fileViewedByEsp>", 1)
        .replace(b"<originalFileName>", b"<publiclyAvailable>maybe</publiclyAvailable><originalFileName>")
    )
    with pytest.raises(NcmecError) as excinfo:
        client.file_info(swapped)
    rejected(excinfo, ResponseCode.VALIDATION_FAILED)


# -- failures, and what the caller learns from them -------------------------------------------


@dataclass
class Step:
    """What a step needs beforehand, how to call it, and whether it took effect on the server."""

    call: Callable[[], object]
    took_effect: Callable[[], bool]


def prepare(step: str, server: Server, client: CyberTiplineClient, caller: CyberTiplineClient | None = None) -> Step:
    """Set up with `client`; the step itself is called through `caller` (default: the same)."""
    state = server.state
    setup, client = client, caller or client
    if step == "status":
        return Step(client.status, lambda: False)
    if step == "submit":
        marker = f"failure-{len(state.calls)}-{id(client)}"
        return Step(lambda: client.submit(make_report(marker)), lambda: bool(state.find_reports(marker)))
    report_id = setup.submit(make_report(f"failure-{step}"))
    if step == "upload":
        return Step(lambda: client.upload(report_id, "f.png", png(11)), lambda: bool(state.report(report_id).files))
    if step == "finish":
        return Step(lambda: client.finish(report_id), lambda: state.report(report_id).status == "finished")
    if step == "retract":
        return Step(lambda: client.retract(report_id), lambda: state.report(report_id).status == "retracted")
    upload = setup.upload(report_id, "f.png", png(12))
    stored = state.report(report_id).files[upload.file_id]
    return Step(
        lambda: client.file_info(details(report_id, upload.file_id, viewed=True)),
        lambda: stored.details_xml is not None,
    )


STEPS = ["status", "submit", "upload", "fileinfo", "finish", "retract"]


def eventually(predicate: Callable[[], bool], within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.mark.parametrize("step", STEPS)
def test_an_injected_server_error_is_a_rejection_and_changes_nothing(
    server: Server, client: CyberTiplineClient, step: str
) -> None:
    prepared = prepare(step, server, client)
    server.state.fail_next(step, "error", code=ResponseCode.SAVE_FAILED)
    with pytest.raises(NcmecRejected) as excinfo:
        prepared.call()
    assert excinfo.value.code == 1100 and excinfo.value.retryable
    assert excinfo.value.step == step
    assert not prepared.took_effect()
    prepared.call()  # the fault is spent: the same call now goes through


@pytest.mark.parametrize("mode", ["drop", "timeout"])
@pytest.mark.parametrize("step", STEPS)
def test_no_answer_before_the_step_is_an_unknown_outcome(
    server: Server, client: CyberTiplineClient, hasty: CyberTiplineClient, step: str, mode: str
) -> None:
    prepared = prepare(step, server, client, hasty if mode == "timeout" else client)
    server.state.fail_next(step, mode)
    with pytest.raises(NcmecTransportError) as excinfo:
        prepared.call()
    assert excinfo.value.outcome_unknown and excinfo.value.step == step
    assert "outcome is unknown" in str(excinfo.value)
    assert not prepared.took_effect()


@pytest.mark.parametrize("mode", ["after_commit_drop", "after_commit_timeout"])
@pytest.mark.parametrize("step", STEPS[1:])
def test_no_answer_after_the_step_is_the_same_error_but_the_step_happened(
    server: Server, client: CyberTiplineClient, hasty: CyberTiplineClient, step: str, mode: str
) -> None:
    prepared = prepare(step, server, client, hasty if mode.endswith("timeout") else client)
    server.state.fail_next(step, mode)
    with pytest.raises(NcmecTransportError) as excinfo:
        prepared.call()
    assert excinfo.value.outcome_unknown
    # A client that gave up may be told before a slow server got to the step: wait for it.
    assert eventually(prepared.took_effect)  # which is exactly what the client cannot tell apart


def test_a_connection_refused_was_not_sent_and_can_be_sent_again() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nobody listens once closed
    with CyberTiplineClient(f"http://127.0.0.1:{port}", USER, PASSWORD, timeout=TIMEOUT) as nobody:
        with pytest.raises(NcmecTransportError) as excinfo:
            nobody.submit(make_report())
    assert excinfo.value.outcome_unknown is False
    assert "was not sent" in str(excinfo.value)


# -- reconciling after an unknown outcome -----------------------------------------------------


def test_submit_lost_after_commit_leaves_an_orphan_that_expires_unfinished(
    server: Server, client: CyberTiplineClient
) -> None:
    # The API has no lookup: the orphan cannot be named, so it cannot be retracted. It is never
    # finished, so it never becomes a CyberTip, and NCMEC deletes it after 24 hours. The caller
    # submits again, from the same stored bytes, and finishes that one.
    document = report_xml(make_report("orphan-7f3a"))
    server.state.fail_next("submit", "after_commit_drop")
    with pytest.raises(NcmecTransportError):
        client.submit(document)
    (orphan,) = server.state.find_reports("orphan-7f3a")
    assert orphan.status == "open"

    report_id = client.submit(document)
    client.finish(report_id)
    try:
        server.state.advance(timedelta(hours=24, seconds=1))
        statuses = {r.report_id: r.status for r in server.state.find_reports("orphan-7f3a")}
        assert statuses == {orphan.report_id: "expired", report_id: "finished"}
    finally:
        server.state.offset = timedelta(0)


def test_finish_lost_after_commit_is_confirmed_by_finishing_again(server: Server, client: CyberTiplineClient) -> None:
    report_id = client.submit(make_report("finish-lost"))
    upload = client.upload(report_id, "a.png", png(13))
    server.state.fail_next("finish", "after_commit_drop")
    with pytest.raises(NcmecTransportError):
        client.finish(report_id)
    # Finishing again answers 5102: the report is filed. The receipt was lost; the caller records
    # the finish from its own file ids (and the time of the 5102).
    with pytest.raises(NcmecRejected) as excinfo:
        client.finish(report_id)
    assert excinfo.value.code == ResponseCode.REPORT_ALREADY_FINISHED
    assert list(server.state.report(report_id).files) == [upload.file_id]


def test_upload_lost_after_commit_is_resolved_by_retracting_and_starting_again(
    server: Server, client: CyberTiplineClient
) -> None:
    report_id = client.submit(make_report("upload-lost"))
    server.state.fail_next("upload", "after_commit_drop")
    with pytest.raises(NcmecTransportError):
        client.upload(report_id, "a.png", png(14))
    # The file is attached under an id the caller never saw: uploading again would file it twice
    # and finishing would carry a file without details. The report is still open, so the caller
    # retracts it and starts a new one.
    assert len(server.state.report(report_id).files) == 1
    client.retract(report_id)
    again = client.submit(make_report("upload-lost"))
    client.upload(again, "a.png", png(14))
    assert len(client.finish(again).file_ids) == 1


def test_retract_and_fileinfo_lost_after_commit_are_safe_to_send_again(
    server: Server, client: CyberTiplineClient
) -> None:
    report_id = client.submit(make_report("repeatable"))
    upload = client.upload(report_id, "a.png", png(15))
    server.state.fail_next("fileinfo", "after_commit_drop")
    with pytest.raises(NcmecTransportError):
        client.file_info(details(report_id, upload.file_id, viewed=False))
    client.file_info(details(report_id, upload.file_id, viewed=False))  # replaces, no duplicate
    server.state.fail_next("retract", "after_commit_drop")
    with pytest.raises(NcmecTransportError):
        client.retract(report_id)
    with pytest.raises(NcmecRejected) as excinfo:
        client.retract(report_id)
    assert excinfo.value.code == ResponseCode.REPORT_ALREADY_RETRACTED


# -- answers the client must not trust --------------------------------------------------------


def mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> CyberTiplineClient:
    return CyberTiplineClient(
        "https://exttest.cybertip.example", USER, PASSWORD, timeout=TIMEOUT, transport=httpx.MockTransport(handler)
    )


def test_a_gateway_error_page_is_an_unknown_outcome_and_a_404_page_is_not() -> None:
    with mock_client(lambda r: httpx.Response(502, text="<html>Bad Gateway</html>")) as c:
        with pytest.raises(NcmecTransportError) as excinfo:
            c.finish(123)
    assert excinfo.value.outcome_unknown and "HTTP 502" in str(excinfo.value)
    with mock_client(lambda r: httpx.Response(404, text="not here")) as c:
        with pytest.raises(NcmecError) as error:
            c.finish(123)
    assert type(error.value) is NcmecError and "check base_url" in str(error.value)


def test_answers_that_do_not_fit_the_question_are_unknown_outcomes() -> None:
    other = response_xml(0, report_id=999)
    with mock_client(lambda r: httpx.Response(200, content=other)) as c:
        with pytest.raises(NcmecTransportError, match="names report 999, not 123"):
            c.retract(123)
    with mock_client(lambda r: httpx.Response(200, content=response_xml(0, report_id=123))) as c:
        with pytest.raises(NcmecTransportError, match="instead of <reportDoneResponse>"):
            c.finish(123)
    with mock_client(lambda r: httpx.Response(200, content=response_xml(0))) as c:
        with pytest.raises(NcmecTransportError, match="without a reportId"):
            c.submit(make_report())
    hostile = (
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]>'
        b"<reportResponse><responseCode>0</responseCode></reportResponse>"
    )
    with mock_client(lambda r: httpx.Response(200, content=hostile)) as c:
        with pytest.raises(NcmecTransportError, match="DOCTYPE"):
            c.status()


def test_an_md5_that_differs_from_ours_is_a_hash_mismatch() -> None:
    answer = response_xml(0, report_id=123, file_id="f1", hash="0" * 32)
    with mock_client(lambda r: httpx.Response(200, content=answer)) as c:
        with pytest.raises(NcmecHashMismatch) as excinfo:
            c.upload(123, "a.png", b"synthetic bytes")
    assert excinfo.value.file_id == "f1" and excinfo.value.expected == hashlib.md5(b"synthetic bytes").hexdigest()


def test_credentials_never_travel_in_plain_http_to_another_machine() -> None:
    with pytest.raises(ValueError, match="unencrypted"):
        CyberTiplineClient("http://report.cybertip.example/ispws", USER, PASSWORD, timeout=1)
    with CyberTiplineClient("https://exttest.cybertip.example/ispws", USER, PASSWORD, timeout=1) as c:
        assert PASSWORD not in repr(c) and PASSWORD not in str(vars(c))


# -- building documents -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: IncidentSummary(IncidentType.CHILD_PORNOGRAPHY, datetime(2026, 6, 1)), "UTC offset"),
        (lambda: ReportedPerson(screen_name="x" * 257), "screen_name has 257 characters; at most 256"),
        (lambda: IpCaptureEvent("not-an-ip"), "not an IPv4 or IPv6 address"),
        (lambda: IpCaptureEvent(3232235777), "not an IPv4 or IPv6 address"),  # type: ignore[arg-type]
        (lambda: IpCaptureEvent("192.0.2.1", port=70000), "port"),
        # An int or None where a bool is declared: the check at run time is what these two test.
        (
            lambda: FileDetails(report_id=1, file_id="f", file_viewed_by_esp=1),  # type: ignore[arg-type]
            "file_viewed_by_esp must be True or False",
        ),
        (
            lambda: FileDetails(report_id=1, file_id="f", file_viewed_by_esp=None),  # type: ignore[arg-type]
            "file_viewed_by_esp must be True or False",
        ),
        (
            lambda: FileDetails(
                report_id=1,
                file_id="f",
                file_viewed_by_esp=False,
                file_relevance=FileRelevance.SUPPLEMENTAL_REPORTED,
                industry_classification="A1",
            ),
            "only a 'Reported' file",
        ),
        (lambda: Reporter(Person(first_name="No", last_name="Email")), "e-mail"),
        (
            lambda: Report(
                incident_summary=IncidentSummary(IncidentType.CHILD_SEX_TRAFFICKING, T0),
                reporter=Reporter(Person(emails=["a@example.test"])),
            ),
            "internet_details",
        ),
        (
            lambda: IncidentSummary(IncidentType.CHILD_PORNOGRAPHY, T0, escalate_to_high_priority="x" * 3001),
            "at most 3000",
        ),
        (lambda: IncidentSummary("Not A Type", T0), "expected one of"),  # type: ignore[arg-type]
        (lambda: ReportedPerson(additional_info="x" * 100_001), "at most 100000"),
    ],
)
def test_bad_values_are_refused_with_a_message_that_says_what(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        build()
    assert message in str(excinfo.value)


def test_file_viewed_by_esp_has_no_default() -> None:
    with pytest.raises(TypeError):
        FileDetails(report_id=1, file_id="f")  # type: ignore[call-arg]


FREE = st.text(max_size=300)
SHORT = st.text(max_size=100)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    screen_name=SHORT,
    bio=FREE,
    note=FREE,
    display=st.text(min_size=1, max_size=50).filter(str.strip),
    chat=FREE,
    file_name=st.text(max_size=200),
    info=st.text(min_size=1, max_size=200).filter(str.strip),
)
def test_hostile_text_is_escaped_and_reads_back(
    screen_name: str, bio: str, note: str, display: str, chat: str, file_name: str, info: str
) -> None:
    report = Report(
        incident_summary=IncidentSummary(IncidentType.CHILD_PORNOGRAPHY, T0, platform=screen_name),
        internet_details=[InternetDetails(kind="chat_im", chat_room_name=screen_name, content=chat)],
        reporter=Reporter(Person(first_name=screen_name, emails=["r@example.test"])),
        person_or_user_reported=ReportedPerson(
            screen_name=screen_name,
            esp_identifier=screen_name,
            profile_bio=bio,
            display_names=[display],
            additional_info=note,
        ),
        victims=[Victim(screen_name=screen_name)],
        additional_info=note,
    )
    data = report_xml(report)
    assert validate_report(data) == []
    root = ET.fromstring(data)  # well-formed whatever the input held

    def read(path: str) -> str:
        return root.findtext(path) or ""

    assert read("personOrUserReported/screenName") == xml_text(screen_name)
    assert read("personOrUserReported/espIdentifier") == xml_text(screen_name)
    assert read("personOrUserReported/profileBio") == xml_text(bio)
    assert read("personOrUserReported/displayName") == xml_text(display)
    assert read("personOrUserReported/additionalInfo") == xml_text(note)
    assert read("incidentSummary/platform") == xml_text(screen_name)
    assert read("internetDetails/chatImIncident/content") == xml_text(chat)
    assert read("reporter/reportingPerson/firstName") == xml_text(screen_name)
    assert read("victim/screenName") == xml_text(screen_name)
    assert read("additionalInfo") == xml_text(note)
    assert [c.tag for c in root] == [
        "incidentSummary",
        "internetDetails",
        "reporter",
        "personOrUserReported",
        "victim",
        "additionalInfo",
    ]

    file_doc = file_details_xml(
        FileDetails(
            report_id=1, file_id=info, file_viewed_by_esp=False, original_file_name=file_name, additional_info=[info]
        )
    )
    assert validate_file_details(file_doc) == []
    file_root = ET.fromstring(file_doc)
    assert file_root.findtext("fileId") == xml_text(info)
    assert (file_root.findtext("originalFileName") or "") == xml_text(file_name)
    assert file_root.findtext("fileViewedByEsp") == "false"


def test_xml_text_keeps_what_xml_can_carry_and_replaces_the_rest() -> None:
    assert xml_text("a<b>&\"'c") == "a<b>&\"'c"  # escaping is the serializer's job, not a rewrite
    assert xml_text("line\r\nbreak\rx") == "line\nbreak\nx"
    assert xml_text("nul\x00bell\x07\ufffe") == "nul\ufffdbell\ufffd\ufffd"
    assert xml_text("emoji \U0001f600 ok") == "emoji \U0001f600 ok"


def test_hostile_strings_reach_the_server_intact(server: Server, client: CyberTiplineClient) -> None:
    nasty = "]]><script>alert(1)</script>&amp;\x00\u202e'\"<!--"
    report_id = client.submit(make_report("hostile", screen_name=nasty, profile_bio=nasty * 3))
    stored = server.state.report(report_id).element
    assert stored.findtext("personOrUserReported/screenName") == xml_text(nasty)
    assert stored.findtext("personOrUserReported/profileBio") == xml_text(nasty * 3)
    client.retract(report_id)


def test_the_structure_names_every_element_the_builder_uses() -> None:
    # The spec is the one the server enforces; a builder element missing from it would be refused.
    assert [s.name for s in REPORT.children] == [
        "batchedReport",
        "incidentSummary",
        "internetDetails",
        "lawEnforcement",
        "reporter",
        "personOrUserReported",
        "intendedRecipient",
        "victim",
        "additionalInfo",
    ]
    assert REPORT.child("incidentSummary").child("incidentType").min == 1
    assert REPORT.child("reporter").child("reportingPerson").child("email").min == 1


# -- what a report must get right beyond the schema's types (NCMEC-3) -------------------------------


def _file_details(report_id: int, file_id: str, *inner: str) -> bytes:
    return (
        "<?xml version='1.0' encoding='utf-8'?><fileDetails>"
        f"<reportId>{report_id}</reportId><fileId>{file_id}</fileId>" + "".join(inner) + "</fileDetails>"
    ).encode()


def _fileinfo(server: Server, body: bytes) -> tuple[int, str]:
    answer = parse_response(
        httpx.post(
            f"{server.url}/fileinfo",
            content=body,
            auth=(USER, PASSWORD),
            headers={"Content-Type": "text/xml; charset=utf-8"},
            timeout=TIMEOUT,
        ).content
    )
    return answer.code, answer.description


FUTURE = (datetime.now(UTC) + timedelta(days=2)).isoformat(timespec="seconds")


@pytest.mark.parametrize(
    "inner, problem",
    [
        (["<originalFileHash hashType='MD5'>abc123</originalFileHash>"], "not a 32-digit hexadecimal MD5"),
        (["<originalFileHash hashType='SHA256'>" + "g" * 64 + "</originalFileHash>"], "64-digit hexadecimal SHA256"),
        (["<originalFileHash>" + "0" * 32 + "</originalFileHash>"], "attribute 'hashType' is required"),
        (
            ["<details><nameValuePair type='HASH'><name>PDQ</name><value>not-a-pdq</value></nameValuePair></details>"],
            "64-digit hexadecimal PDQ",
        ),
        ([f"<uploadedToEspTimestamp>{FUTURE}</uploadedToEspTimestamp>"], "in the future"),
        (
            [f"<ipCaptureEvent><ipAddress>192.0.2.1</ipAddress><dateTime>{FUTURE}</dateTime></ipCaptureEvent>"],
            "in the future",
        ),
        (["<ipCaptureEvent><eventName>Upload</eventName></ipCaptureEvent>"], "<ipAddress> is required"),
        (["<ipCaptureEvent><ipAddress>192.0.2.1</ipAddress><port>70000</port></ipCaptureEvent>"], "outside 1..65535"),
        (["<publiclyAvailable>maybe</publiclyAvailable>"], "is not a boolean"),
        (
            [
                "<fileRelevance>Supplemental Reported</fileRelevance>",
                "<industryClassification>A1</industryClassification>",
            ],
            "only a 'Reported' file",
        ),
    ],
)
def test_ncmec3_the_local_server_refuses_file_details_a_report_cannot_carry(
    server: Server, client: CyberTiplineClient, inner: list[str], problem: str
) -> None:
    report_id = client.submit(make_report("file-rules"))
    file_id = client.upload(report_id, "a.png", png(40)).file_id
    code, description = _fileinfo(server, _file_details(report_id, file_id, *inner))
    assert code == ResponseCode.VALIDATION_FAILED and problem in description, description
    assert server.state.report(report_id).files[file_id].details_xml is None


def test_ncmec3_the_local_server_takes_complete_file_details(server: Server, client: CyberTiplineClient) -> None:
    data = png(41)
    report_id = client.submit(make_report("file-complete"))
    file_id = client.upload(report_id, "holiday.png", data).file_id
    body = _file_details(
        report_id,
        file_id,
        "<originalFileName>holiday.png</originalFileName>",
        f"<uploadedToEspTimestamp>{T0.isoformat()}</uploadedToEspTimestamp>",
        "<locationOfFile>https://platform.example.test/p/1</locationOfFile>",
        "<fileViewedByEsp>false</fileViewedByEsp>",
        "<publiclyAvailable>true</publiclyAvailable>",
        "<fileRelevance>Reported</fileRelevance>",
        f"<originalFileHash hashType='MD5'>{hashlib.md5(data).hexdigest()}</originalFileHash>",
        f"<originalFileHash hashType='SHA256'>{hashlib.sha256(data).hexdigest()}</originalFileHash>",
        f"<ipCaptureEvent><ipAddress>203.0.113.45</ipAddress><eventName>Upload</eventName>"
        f"<dateTime>{T0.isoformat()}</dateTime><port>51234</port></ipCaptureEvent>",
        "<details><nameValuePair type='HASH'><name>PDQ</name><value>" + "f" * 64 + "</value></nameValuePair></details>",
    )
    assert _fileinfo(server, body)[0] == ResponseCode.SUCCESS


def test_ncmec3_the_local_server_refuses_a_report_dated_in_the_future(
    server: Server, client: CyberTiplineClient
) -> None:
    future = make_report("future")
    document = report_xml(future).replace(T0.isoformat().encode(), FUTURE.encode(), 1)
    answer = parse_response(
        httpx.post(f"{server.url}/submit", content=document, auth=(USER, PASSWORD), timeout=TIMEOUT).content
    )
    assert answer.code == ResponseCode.VALIDATION_FAILED and "in the future" in answer.description
