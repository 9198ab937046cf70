"""Policy refs, version snapshots and their digests, DSA statement fields and translated texts."""

from __future__ import annotations

import hashlib
import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from staydown.policies import (
    Catalogue,
    NoticeRenderError,
    PolicyNotFound,
    PolicyRefError,
    PolicyVersionMismatch,
    canonical_json,
    check_catalogue_text,
    content_digest,
    load_catalogue,
    make_ref,
    parse_ref,
    to_document,
    vocab,
)


@pytest.fixture
def catalogue(minimal: str) -> Catalogue:
    return load_catalogue(minimal)


# -- refs ---------------------------------------------------------------------------------


def test_ref_and_parse_ref(catalogue: Catalogue) -> None:
    assert catalogue.ref("csam") == "csam@2"
    assert catalogue.get("csam").ref == "csam@2"
    assert parse_ref("violent-threats@3") == ("violent-threats", 3)
    assert Catalogue.parse_ref("csam@2") == ("csam", 2)
    assert catalogue.resolve("csam@2") is catalogue.get("csam")


@pytest.mark.parametrize(
    ("ref", "fragment"),
    [
        ("csam", "expected 'id@version'"),
        ("csam@", "whole number"),
        ("@1", "'' is not a policy id"),
        ("csam@0", "whole number"),
        ("csam@01", "without leading zeros"),
        ("csam@-1", "whole number"),
        ("csam@+1", "whole number"),
        ("csam@1.0", "whole number"),
        ("csam@ 1", "whole number"),
        ("csam@1@2", "whole number"),
        ("csam@١", "whole number"),  # an Arabic-Indic digit is a digit to str.isdigit
        ("CSAM@1", "'CSAM' is not a policy id"),
        ("bad id@1", "is not a policy id"),
        ("csam@9999999999", "whole number"),
    ],
)
def test_malformed_refs(ref: str, fragment: str) -> None:
    with pytest.raises(PolicyRefError) as caught:
        parse_ref(ref)
    assert fragment in str(caught.value)
    assert repr(ref) in str(caught.value)


def test_ref_must_be_text() -> None:
    with pytest.raises(PolicyRefError, match="not int"):
        parse_ref(3)  # type: ignore[arg-type]


def test_unknown_policy_and_stale_ref(catalogue: Catalogue) -> None:
    with pytest.raises(PolicyNotFound, match="did you mean 'spam'"):
        catalogue.get("spma")
    with pytest.raises(PolicyNotFound):
        catalogue.ref("nothing")
    with pytest.raises(PolicyVersionMismatch, match="holds csam@2"):
        catalogue.resolve("csam@1")
    assert "csam" in catalogue and len(catalogue) == 2


@given(
    policy_id=st.from_regex(r"[a-z][a-z0-9]{0,10}(-[a-z0-9]{1,5}){0,3}", fullmatch=True),
    version=st.integers(min_value=1, max_value=999_999_999),
)
def test_ref_round_trip(policy_id: str, version: int) -> None:
    assert parse_ref(make_ref(policy_id, version)) == (policy_id, version)


@given(st.text(max_size=40))
def test_parse_ref_fails_only_with_its_own_error(text: str) -> None:
    try:
        policy_id, version = parse_ref(text)
    except PolicyRefError:
        return
    assert make_ref(policy_id, version) == text


@given(st.one_of(st.text(max_size=300), st.text(alphabet=string.printable, max_size=300)))
def test_checking_arbitrary_text_never_crashes(text: str) -> None:
    for problem in check_catalogue_text(text):
        assert problem.message


# The fixture is a constant string, so sharing it across examples is safe.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(at=st.integers(min_value=0), insert=st.text(alphabet=" -:[]{}'\"#&*!|>\n\tx0", max_size=3))
def test_checking_a_damaged_catalogue_never_crashes(minimal: str, at: int, insert: str) -> None:
    at %= len(minimal)
    text = minimal[:at] + insert + minimal[at + 1 :]
    lines = text.count("\n") + 2
    for problem in check_catalogue_text(text):
        assert problem.message
        assert problem.line is None or 1 <= problem.line <= lines


# -- documents and digests -----------------------------------------------------------------

REORDERED = """\
policies:
  - notice: "We removed your post under {policy_title}: {measure}. Appeal at {appeal_url} by {appeal_deadline}."
    strike:
      terminate_at: 5
      suspend_days: 3
      suspend_at: 3
      warn_at: 1
      window_days: 90
      weight: 1
    default_actions: [strike, remove]
    bank_confirmed: false
    ncii: false
    child_safety: false
    severity: low
    auto_action_on_trusted_match: false
    ground:
      - explanation: Our terms forbid spam.
        reference: "Terms: Spam"
        type: terms_of_service
    dsa_category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC
    rule: >-
      Do not post
      spam.
    title: Spam
    version: 1
    id: spam
    translations: {de: {title: Spam (de)}}
catalogue_version: 1
"""


def test_digest_is_stable_across_key_order_layout_and_defaults(catalogue: Catalogue) -> None:
    reordered = load_catalogue(REORDERED).get("spam")
    original = catalogue.get("spam")
    assert to_document(reordered) == to_document(original)
    assert content_digest(reordered) == content_digest(original)


def test_digest_is_sha256_of_canonical_json(catalogue: Catalogue) -> None:
    policy = catalogue.get("csam")
    document = to_document(policy)
    assert json.loads(json.dumps(document)) == document
    assert content_digest(policy) == hashlib.sha256(canonical_json(document)).hexdigest()
    assert content_digest(document) == content_digest(policy)
    assert len(content_digest(policy)) == 64


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("title: Spam\n", "title: Spam and scams\n"),
        ("    version: 1\n", "    version: 2\n"),
        ("severity: low", "severity: medium"),
        ("[remove, strike]", "[remove, strike, label]"),
        ("Our terms forbid spam.", "Our terms forbid spam and bulk messages."),
        ("title: Spam (de)", "title: Spam (DE)"),
        ("suspend_days: 3,", "suspend_days: 4,"),
    ],
)
def test_digest_changes_when_content_changes(minimal: str, edit, old: str, new: str) -> None:
    before = load_catalogue(minimal).get("spam")
    after = load_catalogue(edit(minimal, old, new)).get("spam")
    assert content_digest(after) != content_digest(before)


def test_document_leaves_defaults_out(catalogue: Catalogue) -> None:
    document = to_document(catalogue.get("spam"))
    assert "auto_action_on_trusted_match" not in document
    assert "legal_tracks" not in document
    assert "terminate_immediately" not in document["strike"]
    assert document["ground"] == [
        {"type": "terms_of_service", "reference": "Terms: Spam", "explanation": "Our terms forbid spam."}
    ]
    assert to_document(catalogue.get("csam"))["strike"]["terminate_immediately"] is True


# -- DSA statement fields ------------------------------------------------------------------


def test_statement_fields_by_ground(catalogue: Catalogue) -> None:
    csam = catalogue.get("csam").dsa_statement_fields()
    assert csam == {
        "decision_ground": vocab.DECISION_GROUND_ILLEGAL,
        "category": "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
        "category_specification": ["KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL"],
        "illegal_content_legal_ground": "18 U.S.C. 2252A",
        "illegal_content_explanation": "Possessing and distributing it is a crime.",
    }
    spam = catalogue.get("spam")
    assert spam.dsa_statement_fields(also_illegal=False)["incompatible_content_illegal"] == "No"
    with pytest.raises(ValueError, match="cites no law"):
        spam.dsa_statement_fields(decision_ground=vocab.DECISION_GROUND_ILLEGAL)
    with pytest.raises(ValueError, match="not a DSA decision ground"):
        spam.dsa_statement_fields(decision_ground="DECISION_GROUND_WHIM")


def test_policy_citing_both_grounds_defaults_to_the_first(minimal: str, edit) -> None:
    both = (
        "    ground:\n"
        "      - type: illegal_content\n"
        "        legal_reference: Spam Act 2003\n"
        "        explanation: Unsolicited commercial messages are unlawful.\n"
        "      - type: terms_of_service\n"
        '        reference: "Terms: Spam"\n'
        "        explanation: Our terms forbid spam.\n"
        "        reference_url: https://example.test/terms#spam\n"
    )
    one = (
        "    ground:\n"
        "      type: terms_of_service\n"
        '      reference: "Terms: Spam"\n'
        "      explanation: Our terms forbid spam.\n"
    )
    text = edit(minimal, one, both)
    spam = load_catalogue(text).get("spam")
    assert spam.decision_ground == vocab.DECISION_GROUND_ILLEGAL
    terms = spam.dsa_statement_fields(decision_ground=vocab.DECISION_GROUND_INCOMPATIBLE, also_illegal=True)
    assert terms["incompatible_content_ground"] == "Terms: Spam"
    assert terms["incompatible_content_illegal"] == "Yes"
    assert terms["decision_ground_reference_url"] == "https://example.test/terms#spam"


# -- translations --------------------------------------------------------------------------


def test_translation_with_fallback(catalogue: Catalogue) -> None:
    spam = catalogue.get("spam")
    german = spam.text("de")
    assert german.language == "de"
    assert german.title == "Spam (de)"
    assert german.rule == spam.rule and german.notice == spam.notice
    assert german.fallback_fields == ("rule", "notice")


@pytest.mark.parametrize("asked", ["de-CH", "DE", "de-at"])
def test_translation_by_primary_language(catalogue: Catalogue, asked: str) -> None:
    assert catalogue.get("spam").text(asked).language == "de"


def test_unknown_language_is_english(catalogue: Catalogue) -> None:
    text = catalogue.get("spam").text("sv")
    assert text.language == "en" and text.title == "Spam" and text.fallback_fields == ()


def test_render_notice(catalogue: Catalogue) -> None:
    spam = catalogue.get("spam")
    values = {
        "measure": "we removed one post",
        "appeal_url": "https://example.test/a/1",
        "appeal_deadline": "1 June 2026",
    }
    assert spam.render_notice(values=values, language="de") == (
        "We removed your post under Spam (de): we removed one post. Appeal at https://example.test/a/1 by 1 June 2026."
    )
    with pytest.raises(NoticeRenderError, match="appeal_deadline"):
        spam.render_notice(values={"measure": "x", "appeal_url": "y"})


def test_render_keeps_literal_braces(minimal: str, edit) -> None:
    text = edit(minimal, 'Appeal at {appeal_url}."', 'Appeal at {appeal_url} {{sic}}."')
    csam = load_catalogue(text).get("csam")
    rendered = csam.render_notice(values={"measure": "m", "appeal_url": "u"})
    assert rendered == "We removed your content (m). Appeal at u {sic}."
