"""The catalogue shipped with staydown loads, covers the required harms and obeys its own rules."""

from __future__ import annotations

import dataclasses
import importlib.resources

import pydantic
import pytest

from staydown.policies import (
    Catalogue,
    check_catalogue_text,
    content_digest,
    default_catalogue,
    policy_from_document,
    to_document,
    vocab,
)

REQUIRED_IDS = {
    "csam",
    "child-sexual-enticement",
    "child-sex-trafficking",
    "ncii",
    "ncii-synthetic",
    "terrorist-content",
    "violence-glorification",
    "violent-threats",
    "harassment",
    "hate",
    "self-harm",
    "spam",
    "scams",
    "impersonation",
    "defamation",
    "other-illegal",
}

NCMEC = {
    "csam": "Child Pornography (possession, manufacture, and distribution)",
    "child-sexual-enticement": "Online Enticement of Children for Sexual Acts",
    "child-sex-trafficking": "Child Sex Trafficking",
}

VALUES = {
    "measure": "we removed one video",
    "appeal_url": "https://example.test/appeal/1",
    "appeal_deadline": "1 June 2026",
    "platform_name": "Example",
}


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return default_catalogue()


def test_loads_with_every_required_policy(catalogue: Catalogue) -> None:
    assert set(catalogue.policies) == REQUIRED_IDS
    assert catalogue.catalogue_version >= 1
    assert catalogue.source == "default.yaml"
    assert all(p.version >= 1 for p in catalogue)


def test_packaged_file_checks_clean() -> None:
    data = importlib.resources.files("staydown.policies").joinpath("default.yaml").read_bytes()
    assert check_catalogue_text(data, name="default.yaml") == []


def test_default_catalogue_is_cached(catalogue: Catalogue) -> None:
    assert default_catalogue() is catalogue


@pytest.mark.parametrize("policy_id", sorted(NCMEC))
def test_child_safety_policies(catalogue: Catalogue, policy_id: str) -> None:
    policy = catalogue.get(policy_id)
    assert policy.child_safety and policy.bank_confirmed
    assert policy.ncmec_incident_type == NCMEC[policy_id]
    assert policy.ncmec_incident_type in vocab.NCMEC_INCIDENT_TYPES
    assert policy.ground[0].type == "illegal_content"
    assert policy.severity == "critical"
    assert "ncmec" in policy.track_kinds
    assert policy.strike.terminate_immediately and "terminate" in policy.default_actions
    assert policy.dsa_category == "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
    assert policy.area == "child_safety"


def test_only_child_safety_policies_report_to_ncmec(catalogue: Catalogue) -> None:
    reporting = {p.id for p in catalogue if p.ncmec_incident_type or "ncmec" in p.track_kinds}
    assert reporting == set(NCMEC)
    assert {p.id for p in catalogue if p.child_safety} == set(NCMEC)


def test_only_confirmed_csam_acts_on_a_match_alone(catalogue: Catalogue) -> None:
    # CSAM-7: a match is not a report unless the list is of confirmed material and policy says so.
    assert [p.id for p in catalogue if p.auto_action_on_trusted_match] == ["csam"]
    csam = catalogue.get("csam")
    assert csam.dsa_keywords == (
        "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL",
        "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE",
    )


@pytest.mark.parametrize("policy_id", ["ncii", "ncii-synthetic"])
def test_ncii_policies(catalogue: Catalogue, policy_id: str) -> None:
    policy = catalogue.get(policy_id)
    assert policy.ncii and policy.bank_confirmed and not policy.child_safety
    assert {"take_it_down", "uk_intimate_image"} <= set(policy.track_kinds)
    assert policy.dsa_category == "STATEMENT_CATEGORY_CYBER_VIOLENCE"
    assert policy.decision_ground == vocab.DECISION_GROUND_ILLEGAL
    assert catalogue.get("ncii-synthetic").dsa_keywords == ("KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE",)


def test_expected_dsa_mapping(catalogue: Catalogue) -> None:
    expected = {
        "terrorist-content": ("STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY", "KEYWORD_TERRORIST_CONTENT"),
        "hate": ("STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH", "KEYWORD_HATE_SPEECH"),
        "harassment": ("STATEMENT_CATEGORY_CYBER_VIOLENCE", "KEYWORD_CYBER_HARASSMENT"),
        "self-harm": ("STATEMENT_CATEGORY_SELF_HARM", "KEYWORD_SUICIDE"),
        "scams": ("STATEMENT_CATEGORY_SCAMS_AND_FRAUD", "KEYWORD_PHISHING"),
        "impersonation": ("STATEMENT_CATEGORY_SCAMS_AND_FRAUD", "KEYWORD_IMPERSONATION_ACCOUNT_HIJACKING"),
        "defamation": ("STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH", "KEYWORD_DEFAMATION"),
    }
    for policy_id, (category, keyword) in expected.items():
        policy = catalogue.get(policy_id)
        assert policy.dsa_category == category, policy_id
        assert keyword in policy.dsa_keywords, policy_id
    # REQ UK-1: terrorist content is priority illegal content, taken down swiftly whoever reports it.
    assert "priority_takedown" in catalogue.get("terrorist-content").track_kinds
    # Every policy gives a notice under it a timely decision (DSA-1, Art. 16(6)).
    assert all("dsa_notice" in p.track_kinds for p in catalogue)


def test_every_policy_has_valid_fields(catalogue: Catalogue) -> None:
    for policy in catalogue:
        assert policy.dsa_category in vocab.DSA_CATEGORIES
        assert set(policy.dsa_keywords) <= set(vocab.DSA_KEYWORDS)
        assert policy.severity in vocab.SEVERITIES
        assert set(policy.default_actions) <= set(vocab.ACTIONS)
        assert set(policy.track_kinds) <= set(vocab.LEGAL_TRACKS)
        assert policy.area in vocab.AREAS
        ladder = policy.strike
        assert ladder.warn_at < ladder.suspend_at < ladder.terminate_at
        assert "{appeal_url}" in policy.notice
        assert policy.content_actions, f"{policy.id} does nothing to the content"


def test_statement_fields_fit_the_transparency_database(catalogue: Catalogue) -> None:
    for policy in catalogue:
        for ground in policy.ground:
            decision = (
                vocab.DECISION_GROUND_ILLEGAL
                if ground.type == "illegal_content"
                else vocab.DECISION_GROUND_INCOMPATIBLE
            )
            fields = policy.dsa_statement_fields(decision_ground=decision)
            assert fields["decision_ground"] == decision
            for name in ("illegal_content_legal_ground", "incompatible_content_ground"):
                assert len(fields.get(name, "")) <= 500
            for name in ("illegal_content_explanation", "incompatible_content_explanation"):
                assert len(fields.get(name, "")) <= 2000


def test_notices_render_in_every_language(catalogue: Catalogue) -> None:
    for policy in catalogue:
        for language in ("en", *policy.translations):
            text = policy.render_notice(values=VALUES, language=language)
            assert "{" not in text and VALUES["appeal_url"] in text
            assert policy.text(language).title in text or "{policy_title}" not in policy.text(language).notice


def test_documents_round_trip(catalogue: Catalogue) -> None:
    for policy in catalogue:
        document = to_document(policy)
        again = policy_from_document(document)
        # Set-like lists come back in canonical order, so compare what is stored, not the objects.
        assert to_document(again) == document
        assert again.ref == policy.ref
        assert content_digest(again) == content_digest(policy)


def test_catalogue_is_immutable(catalogue: Catalogue) -> None:
    with pytest.raises(TypeError):
        catalogue.policies["new"] = catalogue.get("spam")  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        catalogue.catalogue_version = 2  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        catalogue.get("spam").title = "Anything goes"  # type: ignore[misc]
    with pytest.raises(TypeError):
        catalogue.get("hate").translations["fr"] = None  # type: ignore[index]
