"""The shipped catalogue's titles, rules and notices in every shipped language, through the gettext
catalogues (its file, and so its versions, unchanged); a platform's own words stay its own."""

from __future__ import annotations

import pytest

from staydown.i18n import SHIPPED
from staydown.policies import default_catalogue
from staydown.policies.catalogue import policy_from_document, to_document

CATALOGUE = default_catalogue()
VALUES = {"measure": "M", "appeal_url": "https://x.example/appeal?statement=S1", "appeal_deadline": "2027-06-01"}


@pytest.mark.parametrize("language", [lang for lang in SHIPPED if lang != "en"])
def test_every_shipped_policy_text_is_translated_in_every_shipped_language(language: str) -> None:
    for policy in CATALOGUE:
        text = policy.text(language)
        assert text.fallback_fields == (), (policy.id, language, text.fallback_fields)
        assert text.title != policy.title or policy.id == "spam", (policy.id, language)
        assert text.rule != policy.rule and text.notice != policy.notice, (policy.id, language)
        notice = policy.render_notice(values=VALUES, language=language)
        assert VALUES["appeal_url"] in notice and "2027-06-01" in notice and text.title in notice


def test_the_catalogues_own_translation_wins_and_french_comes_from_the_shipped_catalogue() -> None:
    csam = CATALOGUE.get("csam")
    assert csam.text("de").title == "Darstellungen sexuellen Kindesmissbrauchs"
    assert csam.text("de").notice.startswith("Wir haben von dir geteilte Inhalte entfernt")  # the file's own
    fr = csam.text("fr-BE")
    assert fr.language == "fr" and fr.title == "Contenus d’abus sexuels sur enfants"
    assert csam.render_notice(values=VALUES, language="fr").startswith(
        "Nous avons supprimé un contenu que vous avez partagé et fermé votre compte"
    )


def test_a_platforms_own_words_are_not_replaced_by_a_translation_of_other_words() -> None:
    document = to_document(CATALOGUE.get("spam"))
    document.update(
        rule="Do not post the same advert twice in our market.",
        notice="We removed your advert. Ask for a review at {appeal_url}.",
    )
    text = policy_from_document(document).text("fr")
    assert text.title == "Spam"  # the same words as ours: translated
    assert text.rule == "Do not post the same advert twice in our market."  # not our words: as written
    assert text.notice == "We removed your advert. Ask for a review at {appeal_url}."
    assert text.fallback_fields == ("rule", "notice")
