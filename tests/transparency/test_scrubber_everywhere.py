"""One scrubber, everywhere a person's words leave staydown (DSA-2, DSA-9, DSA-1; DESIGN: "passes
through one scrubber that knows every person's identifiers on the case").

Hypothesis plants the identifiers of everyone on a case (the poster's handle, account id and
display name, the content's id, the notifier's name, e-mail and phone number, the reporting
account) in the reviewer's facts, the notices' explanations and the appeal decider's reasons.
The values are chosen so that no pattern catches them (lower-case words, one capitalised name,
ids without digits): only a scrubber that knows the case can take them out.

The outbound surfaces checked, each of which a person outside staydown reads:
1. GET /public/status/{code} (JSON) and the /status/{code} page: the notifier's status.
2. GET /public/statements/{code} (JSON) and the /statements/{code} page: the affected user.
3. The statement's rendered texts (`statement` of the webhook and the pull feed).
4. The actions feed GET /v1/actions and the webhook body (`facts`, `details`, `statement`):
   the platform's own `content_id`/`account_id` fields are its ids for the action, not text.
5. The EU Transparency Database body, with the reviewer's facts included.
6. The e-mails to notifiers (receipt and decision).
7. GET /public/appeals/{code}: the appeal decider's reasons.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from staydown.db import Database
from staydown.delivery.messages import OutboundMessage
from staydown.delivery.webhooks import _request
from staydown.enforcement.models import EnforcementAction
from staydown.transparency.models import StatementOfReasons
from staydown.transparency.tdb import tdb_statement
from tests.helpers import auth

_serial = itertools.count(1)

# Lower-case "words" that read like ordinary text: a handle like "nightowl", an id like "up-qz".
word = st.text(alphabet="bcdfghjklmnpqrstvwxz", min_size=5, max_size=9).map(lambda w: "qz" + w)
name = word.map(lambda w: w.capitalize())  # one capitalised word: no name pattern catches it
phone = st.integers(min_value=1000000, max_value=9999999).map(lambda n: f"+44 20 {n // 10000:03d} {n % 10000:04d}")


def _letters(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 26)
        out += "abcdefghijklmnopqrstuvwxyz"[r]
        if n == 0:
            return out


def _surfaces(
    client: Any,
    database: Database,
    *,
    tracking_code: str,
    case_id: int,
    appeal_code: str | None,
    platform: dict[str, str],
) -> dict[str, str]:
    out: dict[str, str] = {}
    out["status json"] = client.get(f"/public/status/{tracking_code}").text
    out["status page"] = client.get(f"/status/{tracking_code}").text
    with database.unit_of_work(write=False) as db:
        statements = (
            db.execute(sa.select(StatementOfReasons).where(StatementOfReasons.case_id == case_id)).scalars().all()
        )
        actions = db.execute(sa.select(EnforcementAction).where(EnforcementAction.case_id == case_id)).scalars().all()
        for s in statements:
            out[f"statement {s.id} rendered"] = json.dumps(s.rendered)
            out[f"statement {s.id} tdb"] = json.dumps(tdb_statement(s, include_reviewer_facts=True))
        for a in actions:
            body, _ = _request(db, a, "action.applied", "secret")
            event = json.loads(body)
            out[f"webhook {a.id}"] = json.dumps({k: event[k] for k in ("facts", "details", "statement")})
        messages = db.execute(sa.select(OutboundMessage)).scalars().all()
        out["e-mails"] = json.dumps([[m.subject, m.body] for m in messages])
        codes = [s.code for s in statements]
    for code in codes:
        out[f"statement {code} json"] = client.get(f"/public/statements/{code}").text
        out[f"statement {code} page"] = client.get(f"/statements/{code}").text
    feed = client.get("/v1/actions", headers=platform, params={"limit": 1000}).json()["actions"]
    out["feed"] = json.dumps(
        [{k: a[k] for k in ("facts", "details", "statement")} for a in feed if a["case_id"] == case_id]
    )
    if appeal_code:
        out["appeal json"] = client.get(f"/public/appeals/{appeal_code}").text
        out["appeal page"] = client.get(f"/appeal/{appeal_code}").text
    return out


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    handle=word,
    account_suffix=word,
    content_suffix=word,
    display_name=name,
    notifier_name=name,
    notifier_mail=word,
    poster_phone=phone,
    reporter_suffix=word,
)
def test_DSA2_no_identifier_on_the_case_reaches_any_outbound_surface(
    client: Any,
    database: Database,
    api_key: str,
    staff: dict[str, dict[str, str]],
    handle: str,
    account_suffix: str,
    content_suffix: str,
    display_name: str,
    notifier_name: str,
    notifier_mail: str,
    poster_phone: str,
    reporter_suffix: str,
) -> None:
    """REQ DSA-2, DSA-9, DSA-1, X-1: every identifier of the case and its notices, planted in every
    free text, is found in none of the surfaces listed in the module docstring."""
    client.app.state.settings.public_rate_per_minute = 10_000  # many examples from one address
    tag = _letters(next(_serial))  # unique per example, in letters: no digit for a pattern to catch
    platform = auth(api_key)
    handle, display_name = handle + tag, display_name + tag
    account_id = f"up-{account_suffix}{tag}"
    content_id = f"post-{content_suffix}{tag}"
    reporter_id = f"rep-{reporter_suffix}{tag}"
    email = f"{notifier_mail}@mail.example"
    r = client.put(
        f"/v1/content/{content_id}",
        headers=platform,
        json={
            "kind": "image",
            "url": f"https://social.example/p/{content_suffix}",
            "account": {
                "id": account_id,
                "handle": handle,
                "metadata": {"display_name": display_name, "phone": poster_phone},
            },
        },
    )
    assert r.status_code in (200, 201), r.text
    planted = {
        "handle": handle,
        "account id": account_id,
        "content id": content_id,
        "display name": display_name,
        "notifier name": notifier_name,
        "notifier e-mail": email,
        "phone": poster_phone,
        "reporter id": reporter_id,
    }
    everything = ", ".join(f"{k} {v}" for k, v in planted.items())
    r = client.post(
        "/public/notices",
        json={
            "reporter_kind": "user",
            "policy_id": "harassment",
            "good_faith": True,
            "contact_name": notifier_name,
            "contact_email": email,
            "explanation": f"threats from {handle} ({account_id}) at {content_id}",
            "items": [{"content_id": content_id}],
        },
    )
    assert r.status_code == 201, r.text
    tracking_code = r.json()["tracking_code"]
    r = client.post(
        "/v1/notices",
        headers=platform,
        json={
            "reporter_kind": "affected_person",
            "policy_id": "harassment",
            "reporter_id": reporter_id,
            "explanation": f"{display_name} ({poster_phone}) keeps threatening me",
            "items": [{"content_id": content_id}],
        },
    )
    assert r.status_code == 201, r.text
    case_id = r.json()["cases"][0]
    mo = staff["mo"]
    assert client.post(f"/v1/cases/{case_id}/claim", headers=mo).status_code == 200
    r = client.post(
        f"/v1/cases/{case_id}/decision",
        headers=mo,
        json={
            "policy": "harassment@2",
            "outcome": "violates",
            "actions": ["remove", "suspend"],
            "facts": f"Reported by {notifier_name} ({email}) and {reporter_id}: {everything}. The replies threaten.",
        },
    )
    assert r.status_code == 200, r.text
    with database.unit_of_work(write=False) as db:
        statement_code = db.execute(
            sa.select(StatementOfReasons.code).where(
                StatementOfReasons.case_id == case_id, StatementOfReasons.measure == "remove"
            )
        ).scalar_one()
    r = client.post(
        "/public/appeals",
        json={
            "statement_code": statement_code,
            "basis": "content_restriction",
            "explanation": f"I am {handle}, not {display_name}",
        },
    )
    assert r.status_code == 201, r.text
    appeal_code, appeal_id = r.json()["code"], r.json().get("id")
    senior = staff["senior"]
    if appeal_id is None:
        appeal_id = next(a for a in client.get("/v1/appeals", headers=senior).json() if a["code"] == appeal_code)["id"]
    assert client.post(f"/v1/appeals/{appeal_id}/claim", headers=senior).status_code == 200
    r = client.post(
        f"/v1/appeals/{appeal_id}/decide",
        headers=senior,
        json={"outcome": "upheld", "reasons": f"We checked again: {everything}. The decision stands."},
    )
    assert r.status_code == 200, r.text

    surfaces = _surfaces(
        client, database, tracking_code=tracking_code, case_id=case_id, appeal_code=appeal_code, platform=platform
    )
    assert len(surfaces) >= 12
    for surface, text in surfaces.items():
        lowered = text.lower()
        for what, value in planted.items():
            assert value.lower() not in lowered, f"{what} {value!r} reached {surface}"
    # The words around them still arrive: the scrubber takes out identifiers, not the reasons.
    assert "the replies threaten" in surfaces["status json"].lower()
    assert "the decision stands" in surfaces["appeal json"].lower()
