"""E-mails to notifiers and requesters: in their language, with links that work (DSA-1, TID-1)."""

from __future__ import annotations

import email
import re
from email import policy
from pathlib import Path

import sqlalchemy as sa

from staydown.db import Database
from staydown.delivery.messages import FileMailer
from staydown.intake.models import Notice
from staydown.jobs import build_registry
from staydown.worker import Worker
from tests.helpers import make_staff, sign_in

REPORT = {
    "kind": "public_report",
    "reporter_kind": "user",
    "policy_id": "harassment",
    "explanation": "threatening messages",
    "items": [{"content_id": "post-1", "account_id": "u-1"}],
    "contact_email": "reporter@example.org",
}
TAKEDOWN = {
    "reporter_kind": "affected_person",
    "items": [{"content_id": "img-9"}],
    "good_faith": True,
    "explanation": "It was sent privately to one person and never agreed to be posted.",
    "contact_email": "person@example.org",
}


def _mails(database: Database, app, folder: Path) -> list[email.message.EmailMessage]:
    worker = Worker(database, build_registry(), services={"settings": app.state.settings, "mailer": FileMailer(folder)})
    worker.run_until_idle()
    return [
        email.message_from_bytes(m.read_bytes(), policy=policy.default)
        for m in sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    ]


def test_tid1_an_incomplete_request_is_told_by_email_what_is_missing_and_how_to_complete_it(
    client, database: Database, app, tmp_path: Path
) -> None:
    r = client.post("/public/takedown-requests", json=TAKEDOWN)  # no signature
    assert r.status_code == 422, r.text
    code = r.json()["details"]["tracking_code"]
    [mail] = _mails(database, app, tmp_path / "mail")
    body = mail.get_content()
    assert mail["To"] == "person@example.org" and code in mail["Subject"]
    assert "not complete yet" in body and "signature of the person depicted" in body
    link = next(w for w in body.split() if "/takedown?code=" in w)
    assert link.endswith(code)
    # The link opens the completion form, which asks for exactly the missing signature.
    page = client.get(link.replace(app.state.settings.base_url, ""))
    assert page.status_code == 200 and 'name="signature"' in page.text and 'name="explanation"' not in page.text


def test_tid1_an_incomplete_request_from_the_page_is_told_in_the_page_language(
    client, database: Database, app, tmp_path: Path
) -> None:
    page = client.get("/takedown", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert '<html lang="fr">' in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    form_id = re.search(r'name="form_id" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = client.post(
        "/takedown",
        headers={"Accept-Language": "fr"},
        data={
            "csrf_token": token,
            "form_id": form_id,
            "reporter": "affected_person",
            "locations": "img-7",
            "good_faith": "on",
            "explanation": "Envoyée en privé, jamais publiée avec mon accord.",
            "contact_email": "parent@example.fr",
        },
    )
    assert r.status_code == 201 and "pas encore complète" in r.text
    with database.unit_of_work(write=False) as db:
        assert db.execute(sa.select(Notice.language)).scalar_one() == "fr"
    [mail] = _mails(database, app, tmp_path / "mail")
    body = mail.get_content()
    assert "Nous avons reçu votre signalement" in body and "n’est pas encore complète" in body
    assert "signature" in body and "/takedown?code=" in body


def test_dsa4_the_decision_email_appeal_link_opens_the_appeal_form(
    client, database: Database, app, tmp_path: Path
) -> None:
    make_staff(database, "mo", "moderator")
    mo = sign_in(client, "mo")
    code = client.post("/public/notices", json={**REPORT, "language": "de"}).json()["tracking_code"]
    with database.unit_of_work(write=False) as db:
        case_id = db.execute(sa.select(Notice.case_id)).scalar_one()
    assert client.post(f"/v1/cases/{case_id}/claim", headers=mo).status_code == 200
    r = client.post(
        f"/v1/cases/{case_id}/decision",
        headers=mo,
        json={"policy": "harassment@2", "outcome": "does_not_violate", "facts": "reviewed the thread"},
    )
    assert r.status_code == 200, r.text
    receipt, decision = _mails(database, app, tmp_path / "mail")
    assert "Wir haben Ihre Meldung" in receipt.get_content()
    body = decision.get_content()
    assert "nicht gegen unsere Regel" in body and "reviewed the thread" in body
    link = next(w for w in body.split() if "/appeal?" in w).rstrip(".")
    assert link.endswith(f"/appeal?notice={code}")
    page = client.get(link.replace(app.state.settings.base_url, ""))
    assert page.status_code == 200 and 'action="/appeal"' in page.text and code in page.text
    # The form the older e-mails linked to (`?code=` alone) works too.
    older = client.get(f"/appeal?code={code}")
    assert older.status_code == 200 and 'action="/appeal"' in older.text
