"""The statement a user receives is in the language of the user the platform names (DSA-2):
the account's language, told by PUT /v1/accounts (or with the account anywhere the platform
names it), when the platform serves it; else the platform's first language."""

from __future__ import annotations

from typing import Any

from staydown.actors import SYSTEM
from staydown.enforcement.actions import apply_action
from staydown.subjects.records import ensure_content
from staydown.subjects.schemas import AccountRef, ContentRef
from staydown.transparency.statement_settings import StatementSettings, use_statement_settings
from staydown.transparency.statement_views import statement_for_action
from tests.helpers import auth, make_key


def _remove(db: Any, account: AccountRef) -> Any:
    content = ensure_content(db, actor=SYSTEM, ref=ContentRef(id=f"post-{account.id}", kind="image", account=account))
    action = apply_action(
        db, actor=SYSTEM, kind="remove", policy_ref="harassment@2", facts="threats", content_id=content.id
    )
    statement = statement_for_action(db, action.id)
    assert statement is not None
    return statement


def test_dsa2_the_statement_is_in_the_language_the_platform_gave_for_its_user(db) -> None:
    use_statement_settings(db, StatementSettings(platform_name="Forum", languages=("en", "fr", "de")))
    s = _remove(db, AccountRef(id="user-fr", language="fr-CA"))
    assert s.language == "fr"
    assert s.rendered["fr"].startswith("Nous avons supprimé un contenu que vous avez partagé sur Forum.")
    assert set(s.rendered) == {"en", "fr", "de"}
    # Said later, the language is kept for the next statement.
    s = _remove(db, AccountRef(id="user-en"))
    assert s.language == "en"
    _remove(db, AccountRef(id="user-en", language="de"))
    before = statement_for_action(db, s.action_id)
    assert before is not None and before.language == "en"  # issued before: unchanged
    assert _remove(db, AccountRef(id="user-en")).language == "de"


def test_dsa2_a_language_the_platform_does_not_serve_falls_back_to_its_first(db) -> None:
    use_statement_settings(db, StatementSettings(platform_name="Forum", languages=("de", "en")))
    s = _remove(db, AccountRef(id="user-pl", language="pl"))
    assert s.language == "de" and s.rendered["de"].startswith(
        "Wir haben von Ihnen auf Forum geteilte Inhalte entfernt."
    )


def test_the_api_takes_and_shows_an_accounts_language_and_refuses_a_non_tag(client, database) -> None:
    key = make_key(database, scopes=["subjects:write", "subjects:read"])
    r = client.put("/v1/accounts/user-fr", headers=auth(key), json={"language": "fr-CA"})
    assert r.status_code == 200 and r.json()["language"] == "fr-CA"
    assert client.get("/v1/accounts/user-fr", headers=auth(key)).json()["language"] == "fr-CA"
    r = client.put("/v1/accounts/user-x", headers=auth(key), json={"language": "French!"})
    assert r.status_code == 422 and "language" in r.text
