"""The sentences of statements are data (transparency/texts/*.yaml): every language says every
thing English says, with the same placeholders (DSA-2, ready for more languages)."""

from __future__ import annotations

import string

import pytest

from staydown.i18n import SHIPPED
from staydown.policies.vocab import CONTENT_ACTIONS
from staydown.transparency import texts
from staydown.transparency.statements import RESTRICTIONS


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


@pytest.mark.parametrize("language", [lang for lang in texts.available() if lang != "en"])
def test_dsa2_every_language_has_every_english_text_with_the_same_placeholders(language: str) -> None:
    english, other = texts.tree("en"), texts.tree(language)
    assert texts.keys(other) == texts.keys(english)
    for path in texts.keys(english):
        assert _placeholders(str(texts.lookup(language, *path))) == _placeholders(str(texts.lookup("en", *path))), path


def test_dsa2_every_restriction_has_its_own_decided_headline_and_measure() -> None:
    """No measure falls back to the generic sentence: each says what it did."""
    for kind in RESTRICTIONS:
        assert kind in texts.tree("en")["headline"]["decided"], kind
        assert kind in texts.tree("en")["measures"], kind
    assert "restrict_distribution" in texts.tree("en")["headline"]["pending_review"]
    assert set(CONTENT_ACTIONS) <= set(texts.tree("en")["measures"])


def test_an_unknown_language_falls_back_to_english_key_by_key() -> None:
    assert (
        texts.headline("sv-SE", kind="remove", state="decided", platform_name="X")
        == "We removed content you shared on X."
    )
    assert (
        texts.headline("pt-BR", kind="remove", state="decided", platform_name="X")
        == "Removemos um conteúdo que partilhou na X."
    )
    assert texts.measure("de", "no_such_measure") == "no such measure"


def test_dsa2_every_shipped_language_has_its_statement_texts() -> None:
    """The public pages' languages and the statements' are the same eight (staydown.i18n.SHIPPED)."""

    assert set(SHIPPED) <= set(texts.available())
