"""Public pages without a browser: the report's steps, validation, CSRF, limits, TAKE IT DOWN and status."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from staydown.actors import Actor
from staydown.audit.models import AuditEvent
from staydown.cases.actions import claim_case
from staydown.cases.models import Case, LegalTrack
from staydown.db import Database
from staydown.enforcement.models import EnforcementAction
from staydown.flows.decisions import decide_case
from staydown.intake.models import Notice
from staydown.staff.permissions import permissions_for_roles
from staydown.web.public.forms import MAX_FORM_BYTES

CODE_RE = re.compile(r'id="tracking-code">([0-9A-Z-]+)<')


def token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def form_id(html: str) -> str:
    return re.search(r'name="form_id" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def step2(client, about: str, content: str | None = "post-42"):
    query = f"?about={about}&step=2" + (f"&content={content}" if content else "")
    page = client.get("/report" + query)
    assert page.status_code == 200 and "Step 2 of 3" in page.text
    return page


def notices(database: Database) -> list[Notice]:
    with database.unit_of_work(write=False) as db:
        rows = list(db.execute(sa.select(Notice).order_by(Notice.id)).scalars())
        for n in rows:
            _ = n.items
        db.expunge_all()
        return rows


def summary_links(html: str) -> list[tuple[str, str]]:
    box = html.split('id="error-summary"', 1)[1].split("</div>", 1)[0]
    return re.findall(r'<a href="#([^"]+)">([^<]+)</a>', box)


# -- the report: steps and reachability (X-6, UK-2) -------------------------------------------


def test_x6_report_from_the_content_link_takes_three_steps_and_keeps_the_item(client, database: Database) -> None:
    """X-6/UK-2: the platform's link `/report?content=ID` opens step 1 with the item; two form
    submissions reach the confirmation (step 3). A regression here adds a step or loses the item."""
    pages = [client.get("/report?content=post-42")]
    assert pages[0].status_code == 200 and "Step 1 of 3" in pages[0].text and "post-42" in pages[0].text
    # Step 1 is a GET form: its action and fields say where it goes.
    form1 = pages[0].text.split('<form method="get" action="/report"', 1)[1].split("</form>", 1)[0]
    assert 'name="content" value="post-42"' in form1 and 'name="about"' in form1
    pages.append(client.get("/report", params={"content": "post-42", "about": "csam", "step": "2"}))
    assert "Step 2 of 3" in pages[1].text and "post-42" in pages[1].text
    pages.append(
        client.post(
            "/report",
            data={
                "csrf_token": token(pages[1].text),
                "form_id": form_id(pages[1].text),
                "about": "csam",
                "content_id": "post-42",
                "reporter": "parent_or_representative",
            },
        )
    )
    assert pages[2].status_code == 201 and "Step 3 of 3" in pages[2].text
    assert len(pages) == 3 and all(f"of {len(pages)}" in p.text for p in pages)
    assert CODE_RE.search(pages[2].text)
    [notice] = notices(database)
    assert notice.items[0].content_id is not None


def test_x1_child_safety_report_needs_no_name_email_or_statement(client, database: Database) -> None:
    """X-1, DSA 16(2)(c): a parent reports a child's abuse anonymously; it is stored with the
    right fields, the item is restricted at once (X-4) and the confirmation shows the deadline."""
    page = step2(client, "csam")
    assert 'name="contact_email"' in page.text and "You can report this anonymously" in page.text
    done = client.post(
        "/report",
        data={
            "csrf_token": token(page.text),
            "form_id": form_id(page.text),
            "about": "csam",
            "content_id": "post-42",
            "reporter": "parent_or_representative",
            "explanation": "",
            "contact_name": "",
            "contact_email": "",
        },
    )
    assert done.status_code == 201, done.text
    code = CODE_RE.search(done.text).group(1)  # type: ignore[union-attr]
    [notice] = notices(database)
    assert (notice.tracking_code, notice.kind, notice.reporter_kind, notice.policy_id) == (
        code,
        "public_report",
        "parent_or_representative",
        "csam",
    )
    assert notice.minor_involved and notice.contact_email is None and notice.contact_name is None
    assert notice.submitted_by.startswith("public") and notice.details == {"source": "public_report_page"}
    with database.unit_of_work(write=False) as db:
        tracks = {t.kind: t for t in db.execute(sa.select(LegalTrack)).scalars()}
        assert {"take_it_down", "ncmec", "dsa_notice"} <= set(tracks)
        first_due = min(t.due_at for t in tracks.values() if t.due_at and t.kind != "ncmec")
        restriction = db.execute(sa.select(EnforcementAction)).scalar_one()
        assert restriction.kind == "restrict_distribution" and restriction.interim
    assert "taken out of search and recommendations" in done.text
    assert first_due.strftime("%Y-%m-%d %H:%M UTC") in done.text
    assert "check the status page with your tracking code" in done.text


def test_a_second_post_of_the_same_form_files_one_report(client, database: Database) -> None:
    page = step2(client, "csam")
    data = {
        "csrf_token": token(page.text),
        "form_id": form_id(page.text),
        "about": "csam",
        "content_id": "post-42",
        "reporter": "anonymous",
    }
    first = CODE_RE.search(client.post("/report", data=data).text).group(1)  # type: ignore[union-attr]
    again = CODE_RE.search(client.post("/report", data=data).text).group(1)  # type: ignore[union-attr]
    assert first == again and len(notices(database)) == 1


def test_the_same_form_sent_twice_at_once_files_one_report(app, database: Database) -> None:
    """A double click: two posts of one form at the same moment, from two connections. The second
    waits for the first's transaction and answers with its receipt; one notice, one audit event."""
    with TestClient(app) as first_client, TestClient(app) as second_client:
        page = step2(first_client, "csam")
        second_client.cookies.update(first_client.cookies)
        data = {
            "csrf_token": token(page.text),
            "form_id": form_id(page.text),
            "about": "csam",
            "content_id": "post-42",
            "reporter": "anonymous",
        }
        barrier = threading.Barrier(2)
        answers: list = []

        def send(c) -> None:
            barrier.wait()
            answers.append(c.post("/report", data=data))

        threads = [threading.Thread(target=send, args=(c,)) for c in (first_client, second_client)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert [a.status_code for a in answers] == [201, 201]
    codes = {CODE_RE.search(a.text).group(1) for a in answers}  # type: ignore[union-attr]
    assert len(codes) == 1 and len(notices(database)) == 1
    with database.unit_of_work(write=False) as db:
        received = db.scalar(
            sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.tag == "intake:notice:receive")
        )
        assert received == 1


def test_step1_without_a_choice_says_so_and_change_link_goes_back(client) -> None:
    r = client.get("/report?content=post-42&step=2")
    assert r.status_code == 422 and "Step 1 of 3" in r.text
    assert summary_links(r.text) == [("f-about", "Choose what the content is about")]
    assert 'id="f-about"' in r.text and 'aria-describedby="f-about-error"' in r.text
    assert client.get("/report?content=post-42&about=nonsense&step=2").status_code == 422
    back = client.get("/report?content=post-42&about=hate&step=1")
    assert "Step 1 of 3" in back.text and re.search(r'value="hate" checked', back.text)
    # Child safety is offered first, in plain words.
    first_choice = re.search(r'name="about" value="([^"]+)"', back.text).group(1)  # type: ignore[union-attr]
    assert first_choice == "csam" and "Sexual images or videos of a child" in back.text


def test_validation_errors_are_summarised_linked_and_keep_what_was_typed(client, database: Database) -> None:
    page = step2(client, "harassment", content=None)
    typed = 'He keeps posting my address <b>& "threats"</b>'
    r = client.post(
        "/report",
        data={
            "csrf_token": token(page.text),
            "form_id": form_id(page.text),
            "about": "harassment",
            "location": "www.example.org/p/1",
            "explanation": typed,
            "contact_email": "not-an-address",
        },
    )
    assert r.status_code == 422 and "Step 2 of 3" in r.text
    links = dict(summary_links(r.text))
    assert set(links) == {"f-location", "f-minor", "f-reporter", "f-contact_email", "f-good_faith"}
    assert "starting with https://" in links["f-location"]
    assert 'role="alert"' in r.text and "autofocus" in r.text and "<title>Error:" in r.text
    # Each field in error says so to assistive technology, and points at its message.
    assert re.search(r'id="f-contact_email"[^>]*aria-describedby="f-contact_email-error" aria-invalid="true"', r.text)
    assert 'id="f-contact_email-error"' in r.text
    assert re.search(r'<fieldset[^>]*aria-describedby="f-reporter-error" aria-invalid="true"', r.text)
    # What the person typed is kept (escaped), and the same form id, so a resend files once.
    assert "He keeps posting my address &lt;b&gt;&amp; &#34;threats&#34;&lt;/b&gt;" in r.text
    assert 'value="not-an-address"' in r.text and form_id(r.text) == form_id(page.text)
    assert notices(database) == []


def test_dsa1_a_report_not_about_a_child_needs_its_reasons_and_the_good_faith_statement(
    client, database: Database
) -> None:
    page = step2(client, "harassment")
    base = {
        "csrf_token": token(page.text),
        "form_id": form_id(page.text),
        "about": "harassment",
        "content_id": "post-7",
        "minor": "no",
        "reporter": "affected_person",
    }
    r = client.post("/report", data=base)
    assert r.status_code == 422
    assert {k for k, _ in summary_links(r.text)} == {"f-explanation", "f-good_faith"}
    done = client.post(
        "/report",
        data={
            **base,
            "explanation": "They post my home address every day.",
            "good_faith": "on",
            "contact_email": "me@example.org",
        },
    )
    assert done.status_code == 201
    [notice] = notices(database)
    assert notice.policy_id == "harassment" and notice.good_faith and not notice.minor_involved
    assert notice.contact_email == "me@example.org" and notice.reporter_kind == "affected_person"
    assert "We will write to me@example.org" in done.text


def test_x2_a_minor_on_an_intimate_image_report_makes_it_child_safety(client, database: Database) -> None:
    page = step2(client, "ncii")
    r = client.post(
        "/report",
        data={
            "csrf_token": token(page.text),
            "form_id": form_id(page.text),
            "about": "ncii",
            "content_id": "post-9",
            "minor": "yes",
            "reporter": "user",
            "explanation": "A classmate shared a nude of a 15-year-old.",
            "good_faith": "on",
        },
    )
    assert r.status_code == 201
    assert notices(database)[0].policy_id == "csam"


def test_a_public_form_cannot_claim_a_privileged_reporter_kind(client, database: Database) -> None:
    page = step2(client, "csam")
    r = client.post(
        "/report",
        data={"csrf_token": token(page.text), "about": "csam", "content_id": "p", "reporter": "trusted_flagger"},
    )
    assert r.status_code == 422 and (
        "f-reporter",
        "Say who you are, or choose &#39;I would rather not say&#39;",
    ) in summary_links(r.text)
    assert notices(database) == []


# -- CSRF, limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/report", "/takedown", "/takedown/complete", "/status"])
def test_a_forged_post_is_refused_with_a_403_page_and_nothing_stored(client, database: Database, path: str) -> None:
    client.get("/report")  # the browser has its CSRF cookie; the forged form cannot know the token
    data = {
        "about": "csam",
        "content_id": "post-1",
        "reporter": "anonymous",
        "locations": "post-1",
        "code": "AAAAA-AAAAA-AAAAA-AAAAA",
    }
    for forged in ({**data, "csrf_token": "0" * 64}, data):
        r = client.post(path, data=forged)
        assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
        assert "did not come from this site" in r.text
    client.cookies.clear()
    assert client.post(path, data={**data, "csrf_token": "0" * 64}).status_code == 403
    assert notices(database) == []


def test_an_oversized_form_is_refused_with_a_413_page(client, database: Database) -> None:
    page = step2(client, "harassment")
    r = client.post(
        "/report",
        data={
            "csrf_token": token(page.text),
            "about": "harassment",
            "content_id": "p",
            "explanation": "x" * MAX_FORM_BYTES,
        },
    )
    assert r.status_code == 413 and "text/html" in r.headers["content-type"]
    assert f"at most {MAX_FORM_BYTES} bytes" in r.text
    many = {f"f{i}": "x" for i in range(60)}
    r = client.post("/report", data={**many, "csrf_token": token(page.text)})
    assert r.status_code == 422 and "could not be read" in r.text
    r = client.post("/report", json={"csrf_token": token(page.text)})
    assert r.status_code == 422
    assert notices(database) == []


def test_a_field_over_its_limit_is_named(client) -> None:
    page = step2(client, "csam")
    r = client.post(
        "/report",
        data={
            "csrf_token": token(page.text),
            "form_id": form_id(page.text),
            "about": "csam",
            "content_id": "p",
            "reporter": "anonymous",
            "contact_name": "n" * 201,
        },
    )
    assert r.status_code == 422
    assert ("f-contact_name", "Your name must be 200 characters or fewer (it is 201)") in summary_links(r.text)


def test_public_forms_are_rate_limited_per_address_like_the_json_routes(client, database: Database) -> None:
    client.app.state.settings = client.app.state.settings.model_copy(update={"public_rate_per_minute": 2})
    page = step2(client, "csam")
    data = {"csrf_token": token(page.text), "about": "csam", "content_id": "p", "reporter": "anonymous"}
    assert [client.post("/report", data=data).status_code for _ in range(2)] == [201, 201]
    r = client.post("/report", data=data)
    assert r.status_code == 429 and "at most 2 a minute" in r.text and "text/html" in r.headers["content-type"]
    # The JSON route shares the budget: one address cannot use the other door to flood.
    assert client.post("/public/notices", json={"items": [{"content_id": "p"}], "policy_id": "csam"}).status_code == 429


# -- TAKE IT DOWN (TID-1, TID-4) ----------------------------------------------------------------


def test_tid4_the_takedown_page_explains_the_process_in_plain_words(client) -> None:
    r = client.get("/takedown?content=post-5")
    assert r.status_code == 200
    for words in (
        "48 hours",
        "What your request must include",
        "If something is missing",
        "complete it later with your tracking code",
        "identical copies",
        "signature",
    ):
        assert words in r.text, words
    assert ">post-5</textarea>" in r.text


def test_tid1_an_incomplete_request_is_kept_and_says_exactly_what_is_missing_then_completes(
    client, database: Database, clock
) -> None:
    page = client.get("/takedown")
    r = client.post(
        "/takedown",
        data={
            "csrf_token": token(page.text),
            "form_id": form_id(page.text),
            "reporter": "affected_person",
            "locations": "https://forum.example/p/1",
            "signature": "Jo Doe",
        },
    )
    assert r.status_code == 201
    code = CODE_RE.search(r.text).group(1)  # type: ignore[union-attr]
    assert re.findall(r'data-element="(\w+)"', r.text) == ["good_faith_statement", "explanation", "contact"]
    assert "A statement that you believe in good faith the image is not consensual" in r.text
    [notice] = notices(database)
    assert notice.state == "incomplete" and notice.kind == "take_it_down" and notice.signature == "Jo Doe"
    # The completion form asks only for what is missing.
    assert 'name="signature"' not in r.text and 'name="contact_email"' in r.text and 'name="good_faith"' in r.text
    clock.advance(timedelta(hours=3))
    still = client.post(
        "/takedown/complete", data={"csrf_token": token(r.text), "code": code, "stage": "fields", "good_faith": "on"}
    )
    assert still.status_code == 200
    assert re.findall(r'data-element="(\w+)"', still.text) == ["explanation", "contact"]
    done = client.post(
        "/takedown/complete",
        data={
            "csrf_token": token(r.text),
            "code": code.lower(),
            "stage": "fields",
            "explanation": "It was sent privately and posted without asking.",
            "contact_email": "jo@example.org",
        },
    )
    assert done.status_code == 200 and "We received your request" in done.text and "jo@example.org" in done.text
    [notice] = notices(database)
    assert notice.state == "received" and notice.missing_elements == [] and notice.complete_at is not None
    with database.unit_of_work(write=False) as db:
        track = db.execute(sa.select(LegalTrack).where(LegalTrack.kind == "take_it_down")).scalar_one()
        assert track.due_at is not None and track.due_at - track.received_at == timedelta(hours=48)
        assert track.received_at == notice.complete_at  # TID-2: the clock starts when the request is valid
    # Sent again (a reload), the completed request answers with its receipt, not an error.
    again = client.post("/takedown/complete", data={"csrf_token": token(r.text), "code": code, "stage": "fields"})
    assert again.status_code == 200 and "We received your request" in again.text
    # ... but a code alone is not proof of being the requester: their address is not shown again.
    assert "jo@example.org" not in again.text


def test_the_acknowledgement_link_and_the_code_page_open_the_completion_form(client) -> None:
    page = client.get("/takedown")
    r = client.post(
        "/takedown",
        data={"csrf_token": token(page.text), "reporter": "parent_or_representative", "locations": "post-3"},
    )
    code = CODE_RE.search(r.text).group(1)  # type: ignore[union-attr]
    linked = client.get(f"/takedown?code={code}")
    assert linked.status_code == 200 and "Complete your TAKE IT DOWN request" in linked.text
    assert re.findall(r'data-element="(\w+)"', linked.text) == [
        "signature",
        "good_faith_statement",
        "explanation",
        "contact",
    ]
    by_code = client.post("/takedown/complete", data={"csrf_token": token(page.text), "code": code})
    assert by_code.status_code == 200 and 'name="stage" value="fields"' in by_code.text
    empty = client.post("/takedown/complete", data={"csrf_token": token(page.text), "code": ""})
    assert empty.status_code == 422 and ("f-code", "Enter the tracking code you were given") in summary_links(
        empty.text
    )
    assert client.get("/takedown?code=ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ").status_code == 404


def test_a_takedown_request_needs_the_location_and_who_is_asking(client, database: Database) -> None:
    page = client.get("/takedown")
    r = client.post(
        "/takedown",
        data={
            "csrf_token": token(page.text),
            "reporter": "user",
            "locations": "\n".join(f"post-{i}" for i in range(21)),
        },
    )
    assert r.status_code == 422
    links = dict(summary_links(r.text))
    assert set(links) == {"f-reporter", "f-locations"} and "at most 20" in links["f-locations"]
    r = client.post("/takedown", data={"csrf_token": token(page.text), "reporter": "affected_person", "locations": ""})
    assert dict(summary_links(r.text)) == {
        "f-locations": "Enter the web address of the image or video, or its id on the platform"
    }
    assert notices(database) == []


def test_a_report_code_is_not_completed_as_a_takedown_request(client) -> None:
    page = step2(client, "csam")
    done = client.post(
        "/report", data={"csrf_token": token(page.text), "about": "csam", "content_id": "p", "reporter": "anonymous"}
    )
    code = CODE_RE.search(done.text).group(1)  # type: ignore[union-attr]
    r = client.post("/takedown/complete", data={"csrf_token": token(page.text), "code": code, "stage": "fields"})
    assert r.status_code == 422 and "for a report, not a TAKE IT DOWN request" in r.text


# -- status -------------------------------------------------------------------------------------


def test_status_shows_what_was_received_and_the_outcome_with_reasons_and_nothing_about_others(
    client, database: Database
) -> None:
    """DSA-1: the notifier sees the decision with its reasons and the redress open to them."""
    page = step2(client, "harassment")
    data = {
        "csrf_token": token(page.text),
        "about": "harassment",
        "content_id": "post-8",
        "minor": "no",
        "reporter": "affected_person",
        "explanation": "Daily insults about my family.",
        "good_faith": "on",
    }
    mine = CODE_RE.search(client.post("/report", data={**data, "contact_email": "me@example.org"}).text).group(1)  # type: ignore[union-attr]
    client.post(
        "/report",
        data={**data, "contact_email": "someone-else@example.org", "explanation": "Another person's private words."},
    )
    r = client.post("/status", data={"csrf_token": token(page.text), "code": mine})
    assert r.status_code == 200 and mine in r.text and "Received: waiting for a decision" in r.text
    assert "someone-else" not in r.text and "private words" not in r.text
    mod = Actor.staff(5, "mod", permissions_for_roles(["moderator"]))
    with database.unit_of_work() as db:
        case = db.execute(sa.select(Case)).scalar_one()
        claim_case(db, actor=mod, case=case)
        decide_case(
            db,
            actor=mod,
            case=case,
            policy_ref="harassment@2",
            outcome="violates",
            facts="Repeated insults aimed at one person.",
            actions=["remove"],
            catalogue=client.app.state.catalogue,
        )
    r = client.get(f"/status/{mine}")
    assert r.status_code == 200 and 'id="state">Decided<' in r.text
    assert "breaks our rules or the law" in r.text and "Repeated insults aimed at one person." in r.text
    # The rule by its title, as a person reads it, never the catalogue's "harassment@2".
    assert 'id="rule">Harassment' in r.text and "harassment@2" not in r.text
    assert f'href="/appeal?notice={mine}"' in r.text
    assert "someone-else" not in r.text


def test_status_form_posts_the_code_and_an_unknown_code_is_a_404_page(client) -> None:
    form = client.get("/status")
    assert form.status_code == 200 and '<form method="post" action="/status"' in form.text
    r = client.post("/status", data={"csrf_token": token(form.text), "code": "ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ"})
    assert r.status_code == 404 and "no notice with that tracking code" in r.text and "<h1>Not found</h1>" in r.text
    assert client.get("/status/not-a-code").status_code == 404
    r = client.post("/status", data={"csrf_token": token(form.text), "code": " "})
    assert r.status_code == 422 and 'aria-invalid="true"' in r.text


# -- every public page: accessible markup ---------------------------------------------------------

PAGES = [
    "/report",
    "/report?content=post-1&about=csam&step=2",
    "/report?about=hate&step=2",
    "/takedown",
    "/takedown/complete",
    "/status",
    "/appeal",
    "/transparency",
]


@pytest.mark.parametrize("path", PAGES)
def test_x6_every_field_has_a_label_and_the_page_has_its_landmarks(client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200
    html = r.text
    assert '<html lang="en">' in html and 'class="skip-link" href="#main"' in html and '<main id="main"' in html
    assert html.count("<h1") == 1
    ids = re.findall(r'<(?:input|textarea|select)(?![^>]*type="hidden")[^>]*id="([^"]+)"', html)
    assert ids, "the page has fields"
    for field_id in ids:
        assert f'<label for="{field_id}"' in html, f"no label for #{field_id}"
    assert html.count("<fieldset") == html.count("<legend>")
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    assert "style=" not in html and "<script>" not in html


def test_x6_the_link_the_example_forum_builds_opens_the_report_with_its_item(client) -> None:
    """examples/forum links each post to `/report?content=<quoted id>`; an id with slashes,
    spaces or a '#' survives the trip, and a platform that links with the item's address gets
    it filled in as the location."""
    post_id = "thread/7#post 42"
    r = client.get(f"/report?content={quote(post_id, safe='')}")
    assert r.status_code == 200 and "thread/7#post 42</strong>" in r.text
    assert 'name="content" value="thread/7#post 42"' in r.text
    r = client.get(f"/report?content={quote('https://forum.example/p/9', safe='')}")
    assert 'name="content" value="https://forum.example/p/9"' in r.text
    r = client.get(f"/report?about=csam&step=2&content={quote('https://forum.example/p/9', safe='')}")
    assert r.status_code == 200 and 'value="https://forum.example/p/9"' in r.text and "error-summary" not in r.text
    r = client.get(f"/report?about=csam&step=2&content={'x' * 300}")
    assert "does not name an item we can report" in r.text and 'href="#f-location"' in r.text


def test_tid1_the_status_of_an_incomplete_request_lists_what_is_missing(client) -> None:
    page = client.get("/takedown")
    r = client.post(
        "/takedown",
        data={
            "csrf_token": token(page.text),
            "reporter": "affected_person",
            "locations": "post-3",
            "good_faith": "on",
            "signature": "Jo Doe",
            "explanation": "Posted by my ex without asking.",
        },
    )
    code = CODE_RE.search(r.text).group(1)  # type: ignore[union-attr]
    status = client.get(f"/status/{code}")
    assert "Waiting for you: the request is not complete yet" in status.text
    assert re.findall(r'data-element="(\w+)"', status.text) == ["contact"]
    assert 'href="/takedown/complete"' in status.text


def test_x2_a_takedown_request_about_someone_under_18_is_handled_as_child_sexual_abuse_material(
    client, database: Database
) -> None:
    page = client.get("/takedown")
    r = client.post(
        "/takedown",
        data={
            "csrf_token": token(page.text),
            "form_id": form_id(page.text),
            "reporter": "parent_or_representative",
            "locations": "post-15",
            "minor": "on",
            "good_faith": "on",
            "signature": "Sam Doe",
            "contact_email": "sam@example.org",
            "explanation": "My daughter is 15; a classmate posted this.",
        },
    )
    assert r.status_code == 201 and "We received your request" in r.text
    [notice] = notices(database)
    assert notice.kind == "take_it_down" and notice.minor_involved and notice.policy_id == "csam"
    assert notice.reporter_kind == "parent_or_representative" and notice.state == "received"
    with database.unit_of_work(write=False) as db:
        kinds = set(db.execute(sa.select(LegalTrack.kind)).scalars())
        assert {"take_it_down", "ncmec"} <= kinds


def test_the_confirmation_claims_an_interim_restriction_only_when_there_is_one(client) -> None:
    """X-4 is promised on the page only for a child-safety case with a known item."""
    page = step2(client, "hate")
    r = client.post(
        "/report",
        data={
            "csrf_token": token(page.text),
            "about": "hate",
            "content_id": "post-3",
            "minor": "yes",
            "reporter": "user",
            "good_faith": "on",
            "explanation": "Slurs aimed at a group of schoolchildren.",
        },
    )
    assert r.status_code == 201 and "taken out of search" not in r.text
    page = step2(client, "csam", content=None)
    r = client.post(
        "/report",
        data={
            "csrf_token": token(page.text),
            "about": "csam",
            "location": "https://elsewhere.example/x",
            "reporter": "anonymous",
        },
    )
    assert r.status_code == 201 and "taken out of search" not in r.text  # no platform item to restrict
