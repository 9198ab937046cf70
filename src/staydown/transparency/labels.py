"""Plain words for the keys of the transparency figures: sources, grounds, measures, legal clocks,
appeal outcomes and the Transparency Database's categories, for the public page and the report.

The report's JSON keeps its stable keys; people read these words instead of enum names. Marked for
translation: the public page shows them in the reader's language, the staff report in English."""

from __future__ import annotations

from staydown.i18n import N_, gettext, localise

CATEGORY_LABELS: dict[str, str] = {
    "STATEMENT_CATEGORY_ANIMAL_WELFARE": N_("Animal welfare"),
    "STATEMENT_CATEGORY_CONSUMER_INFORMATION": N_("Consumer information"),
    "STATEMENT_CATEGORY_CYBER_VIOLENCE": N_("Cyber violence"),
    "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN": N_("Cyber violence against women"),
    "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS": N_("Data protection and privacy"),
    "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH": N_("Illegal or harmful speech"),
    "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS": N_("Intellectual property"),
    "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS": N_("Civic discourse and elections"),
    "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE": N_("Not specified in the report"),
    "STATEMENT_CATEGORY_OTHER_VIOLATION_TC": N_("Other breaches of our terms"),
    "STATEMENT_CATEGORY_PROTECTION_OF_MINORS": N_("Protection of minors"),
    "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY": N_("Risk for public security"),
    "STATEMENT_CATEGORY_SCAMS_AND_FRAUD": N_("Scams and fraud"),
    "STATEMENT_CATEGORY_SELF_HARM": N_("Self-harm"),
    "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS": N_("Unsafe and prohibited products"),
    "STATEMENT_CATEGORY_VIOLENCE": N_("Violence"),
}

FIGURE_LABELS: dict[str, str] = {
    "notice": N_("Reports from people"),
    "trusted_flagger": N_("Trusted flaggers"),
    "authority": N_("Authorities"),
    "own_initiative": N_("Our own detection"),
    "illegal_content": N_("Against the law"),
    "terms_of_service": N_("Against our terms"),
    "unspecified": N_("Not specified"),
    "content": N_("Content"),
    "account": N_("Accounts"),
    "take_it_down": N_("TAKE IT DOWN (48 hours)"),
    "ncmec": N_("Reports to NCMEC"),
    "dsa_notice": N_("EU notices"),
    "uk_intimate_image": N_("UK intimate images (48 hours)"),
    "terrorist_order": N_("Terrorist content orders (1 hour)"),
    "dsa_art18": N_("Suspected crimes notified (DSA Art. 18)"),
    "priority_takedown": N_("Swift removal of the gravest illegal content (UK)"),
    "uk_nca": N_("Reports to the UK NCA"),
    "upheld": N_("Decision stood"),
    "reversed": N_("Reversed"),
    "modified": N_("Changed"),
    "public_report": N_("Public report page"),
    "user_report": N_("Platform's report button"),
    "dsa_notice_kind": N_("DSA notices"),
    "detection": N_("Hash match at upload"),
    "law_enforcement": N_("Law enforcement"),
    "authority_order": N_("Orders"),
    "remove": N_("Removed"),
    "disable": N_("Disabled"),
    "demote": N_("Demoted"),
    "age_restrict": N_("Age-restricted"),
    "label": N_("Labelled"),
    "demonetise": N_("Demonetised"),
    "warn": N_("Warnings"),
    "suspend": N_("Suspensions"),
    "terminate": N_("Accounts closed"),
    "restrict_distribution": N_("Kept out of distribution"),
}
FIGURE_LABELS.update(CATEGORY_LABELS)
FIGURE_LABELS.update(
    {
        "exclude_from_recommendations": N_("Excluded from recommendations"),
        "strike": N_("Strikes"),
        "user": N_("Reports from users"),
        "trusted_flagger_kind": N_("Trusted flaggers"),
    }
)


def figure_labels() -> dict[str, str]:
    """The words for the figures' keys, in the current language."""
    return localise(FIGURE_LABELS)


def figure_label(key: str) -> str:
    """One key in words; a key with no words of its own is written as words, never as an enum."""
    found = FIGURE_LABELS.get(key)
    if found is not None:
        return gettext(found)
    words = key.removeprefix("STATEMENT_CATEGORY_").replace("_", " ").strip()
    return words[:1].upper() + words[1:].lower()
