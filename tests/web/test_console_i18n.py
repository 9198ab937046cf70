"""The console in English and French (issue 17): every visible string of the console's templates
marked, the console's own catalogue complete, the language each staff member chooses
(`?lang=`, remembered apart from the public pages, else the browser's) among en and fr, `<html
lang>` right, and the words the console shows for the domain's values covering what it defines."""

from __future__ import annotations

import re

import pytest

from staydown import i18n
from staydown.appeals.models import AppealBasis, AppealOutcome, AppealState, AppellantKind, DisputeOutcome
from staydown.cases import queues, tracks
from staydown.cases.models import CaseState, DecisionState, Outcome, TrackKind, TrackState
from staydown.db import Database
from staydown.i18n_check import problems
from staydown.intake.models import NoticeKind, NoticeState, ReporterKind
from staydown.policies import vocab
from staydown.web.console import words
from staydown.web.templating import TEMPLATES_DIR
from tests.appeals.factories import case_of, report
from tests.web.console_helpers import console_user
from tests.web.test_i18n import LOCALE, _unmarked

# Every console template, its partials included.
CONSOLE_TEMPLATES = sorted(p.relative_to(TEMPLATES_DIR).as_posix() for p in TEMPLATES_DIR.glob("console/**/*.html"))


def test_the_console_templates_are_found() -> None:
    assert "console/case.html" in CONSOLE_TEMPLATES and "console/partials/queue_table.html" in CONSOLE_TEMPLATES


@pytest.mark.parametrize("name", CONSOLE_TEMPLATES)
def test_every_visible_string_of_a_console_template_is_marked(name: str) -> None:
    assert _unmarked(name) == []


def test_the_console_catalogue_ships_in_french_only_and_is_complete() -> None:
    """The console's own domain: French is its one translation (the public catalogues' check,
    i18n_check, covers it too: untranslated, fuzzy, missing or lost placeholders all fail)."""
    assert {p.parts[-3] for p in LOCALE.glob("*/LC_MESSAGES/console.po")} == set(i18n.CONSOLE_SHIPPED) - {"en"}

    assert problems(LOCALE) == []
    # The console falls back on the public catalogue for words both show.
    assert i18n.translations("fr", i18n.CONSOLE_DOMAIN).gettext("Skip to main content") == "Aller au contenu principal"


def test_the_console_words_cover_every_value_the_domain_defines() -> None:
    """A new queue view, track, state or kind added to the domain without its console word fails here."""
    assert dict(words.VIEWS) == dict(queues.VIEWS)
    assert dict(words.SORTS) == dict(queues.SORTS)
    assert {k: rule.title for k, rule in tracks.KINDS.items()} == words.TRACK_TITLES
    assert set(words.TRACKS) == {k.value for k in TrackKind}
    assert set(words.REPORTERS) == {k.value for k in ReporterKind}
    assert set(words.SEVERITIES) == set(vocab.SEVERITIES)
    assert {o.value for o in (*Outcome, *AppealOutcome)} <= set(words.OUTCOMES)
    named = [
        *CaseState,
        *DecisionState,
        *TrackState,
        *NoticeKind,
        *NoticeState,
        *AppellantKind,
        *AppealState,
        *AppealBasis,
        *DisputeOutcome,
    ]
    assert {v.value for v in named} | set(vocab.ACTIONS) <= set(words.WORDS)


@pytest.mark.parametrize(
    ("header", "asked", "expected"),
    [
        ("fr-FR,fr;q=0.9,en;q=0.5", None, "fr"),
        ("de-DE,de;q=0.9", None, "en"),  # a public language the console does not ship in
        ("de, fr;q=0.5", None, "fr"),
        ("fr", "en", "en"),
    ],
)
def test_the_console_language_is_negotiated_among_en_and_fr(
    client,
    database: Database,
    header: str,
    asked: str | None,
    expected: str,
) -> None:
    mo = console_user(client, database, "mo", "moderator")
    r = mo.get("/console/queue" + (f"?lang={asked}" if asked else ""), headers={"Accept-Language": header})
    assert r.status_code == 200 and f'<html lang="{expected}">' in r.text
    assert r.headers["content-language"] == expected
    assert ("File d’examen" in r.text) == (expected == "fr")


def test_a_french_moderator_reads_the_queue_and_a_case_in_french(app, client, database: Database) -> None:
    """The queue's row, filters and countdown, and the case page with its history in words."""
    case_id = case_of(database, report(client, policy="spam", content="post-77", account="acct-77"))
    mo = console_user(client, database, "mo", "moderator")
    french = {"Accept-Language": "fr-FR,fr;q=0.9"}
    queue = mo.get("/console/queue", headers=french).text
    assert "File d’examen" in queue and f"Dossier {case_id}" in queue
    assert "Spam" in queue and "gravité" in queue
    assert re.search(r"encore (\d+j )?\d+h \d\dmin", queue), "the countdown reads in French"
    assert "Review queue" not in queue and "Next case" not in queue
    assert mo.post(f"/console/cases/{case_id}/claim", headers=french).status_code == 303
    page = mo.get(f"/console/cases/{case_id}", headers=french).text
    assert '<html lang="fr">' in page
    assert f"Dossier {case_id} : spam" in page and "Délais légaux" in page and "Historique" in page
    assert "Vous avez ce dossier jusqu’à" in page and "Enregistrer la décision" in page
    assert "mo a pris le dossier." in page  # the history, in words, in French
    assert "Legal tracks" not in page and "Record decision" not in page


def test_the_console_language_switch_is_remembered_for_the_console_only(client, database: Database) -> None:
    mo = console_user(client, database, "mo", "moderator")
    r = mo.get("/console/queue?lang=fr", headers={"Accept-Language": "en"})
    cookie = r.headers["set-cookie"]
    assert f"{i18n.CONSOLE_LANG_COOKIE}=fr" in cookie and "Path=/console" in cookie
    assert '<a href="/console/queue?lang=en" lang="en" hreflang="en">English</a>' in r.text
    assert '<html lang="fr">' in mo.get("/console/queue", headers={"Accept-Language": "en"}).text
    # A public page keeps its own negotiation: the console's choice is not the reporter's.
    assert '<html lang="en">' in client.get("/report", headers={"Accept-Language": "en"}).text


def test_a_form_error_from_a_console_view_is_in_french(client, database: Database) -> None:
    case_id = case_of(database, report(client, policy="spam", content="post-78", account="acct-78"))
    mo = console_user(client, database, "mo", "moderator")
    french = {"Accept-Language": "fr"}
    mo.post(f"/console/cases/{case_id}/claim", headers=french)
    r = mo.post(
        f"/console/cases/{case_id}/decision", {"policy": "", "outcome": "violates", "facts": ""}, headers=french
    )
    assert r.status_code == 422
    assert "La décision n’a pas été enregistrée" in r.text
    assert "écrivez les faits sur lesquels repose cette décision (obligatoire)" in r.text
