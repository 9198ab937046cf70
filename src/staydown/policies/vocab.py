"""Closed vocabularies the policy catalogue is checked against: DSA, NCMEC and staydown's own."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

# EU Transparency Database, submission schema v2 (in force since 1 July 2025): the `category`
# values and, under each, the `category_specification` keywords the Commission's taxonomy files
# there (the implementing regulation on transparency reporting templates). Taken from the
# transparency-database project's Statement model and its "additional explanation" page; the API
# accepts any keyword with any category, but a keyword filed under a foreign category makes the
# published figures wrong, so the catalogue holds each policy to the taxonomy.
KEYWORDS_BY_CATEGORY: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "STATEMENT_CATEGORY_ANIMAL_WELFARE": (
            "KEYWORD_ANIMAL_HARM",
            "KEYWORD_UNLAWFUL_SALE_ANIMALS",
        ),
        "STATEMENT_CATEGORY_CONSUMER_INFORMATION": (
            "KEYWORD_HIDDEN_ADVERTISEMENT",
            "KEYWORD_INSUFFICIENT_INFORMATION_ON_TRADERS",
            "KEYWORD_MISLEADING_INFO_GOODS_SERVICES",
            "KEYWORD_MISLEADING_INFO_CONSUMER_RIGHTS",
            "KEYWORD_NONCOMPLIANCE_PRICING",
        ),
        "STATEMENT_CATEGORY_CYBER_VIOLENCE": (
            "KEYWORD_CYBER_BULLYING_INTIMIDATION",
            "KEYWORD_CYBER_HARASSMENT",
            "KEYWORD_CYBER_INCITEMENT",
            "KEYWORD_CYBER_STALKING",
            "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING",
            # A v1 keyword the API still accepts; v2 files stalking here as KEYWORD_CYBER_STALKING.
            "KEYWORD_STALKING",
            "KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE",
        ),
        "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN": (
            "KEYWORD_BULLYING_AGAINST_GIRLS",
            "KEYWORD_CYBER_HARASSMENT_AGAINST_WOMEN",
            "KEYWORD_CYBER_STALKING_AGAINST_WOMEN",
            "KEYWORD_FEMALE_GENDERED_DISINFORMATION",
            "KEYWORD_INCITEMENT_AGAINST_WOMEN",
            "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING_AGAINST_WOMEN",
            "KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE_AGAINST_WOMEN",
        ),
        "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS": (
            "KEYWORD_BIOMETRIC_DATA_BREACH",
            "KEYWORD_DATA_FALSIFICATION",
            "KEYWORD_MISSING_PROCESSING_GROUND",
            "KEYWORD_RIGHT_TO_BE_FORGOTTEN",
        ),
        "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH": (
            "KEYWORD_DEFAMATION",
            "KEYWORD_DISCRIMINATION",
            "KEYWORD_HATE_SPEECH",
        ),
        "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS": (
            "KEYWORD_COPYRIGHT_INFRINGEMENT",
            "KEYWORD_DESIGN_INFRINGEMENT",
            "KEYWORD_GEOGRAPHIC_INDICATIONS_INFRINGEMENT",
            "KEYWORD_PATENT_INFRINGEMENT",
            "KEYWORD_TRADE_SECRET_INFRINGEMENT",
            "KEYWORD_TRADEMARK_INFRINGEMENT",
        ),
        "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS": (
            "KEYWORD_MISINFORMATION_DISINFORMATION",
            "KEYWORD_VIOLATION_EU_LAW",
            "KEYWORD_VIOLATION_NATIONAL_LAW",
        ),
        "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE": (),
        "STATEMENT_CATEGORY_OTHER_VIOLATION_TC": (
            "KEYWORD_ADULT_SEXUAL_MATERIAL",
            "KEYWORD_AGE_SPECIFIC_RESTRICTIONS",
            "KEYWORD_GEOGRAPHICAL_REQUIREMENTS",
            "KEYWORD_GOODS_SERVICES_NOT_PERMITTED",
            "KEYWORD_LANGUAGE_REQUIREMENTS",
            "KEYWORD_NUDITY",
        ),
        "STATEMENT_CATEGORY_PROTECTION_OF_MINORS": (
            "KEYWORD_AGE_SPECIFIC_RESTRICTIONS_MINORS",
            "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL",
            "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE",
            "KEYWORD_GROOMING_SEXUAL_ENTICEMENT_MINORS",
            "KEYWORD_UNSAFE_CHALLENGES",
        ),
        "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY": (
            "KEYWORD_ILLEGAL_ORGANIZATIONS",
            "KEYWORD_RISK_ENVIRONMENTAL_DAMAGE",
            "KEYWORD_RISK_PUBLIC_HEALTH",
            "KEYWORD_TERRORIST_CONTENT",
        ),
        "STATEMENT_CATEGORY_SCAMS_AND_FRAUD": (
            "KEYWORD_IMPERSONATION_ACCOUNT_HIJACKING",
            "KEYWORD_INAUTHENTIC_ACCOUNTS",
            "KEYWORD_INAUTHENTIC_LISTINGS",
            "KEYWORD_INAUTHENTIC_USER_REVIEWS",
            "KEYWORD_PHISHING",
            "KEYWORD_PYRAMID_SCHEMES",
        ),
        "STATEMENT_CATEGORY_SELF_HARM": (
            "KEYWORD_CONTENT_PROMOTING_EATING_DISORDERS",
            "KEYWORD_SELF_MUTILATION",
            "KEYWORD_SUICIDE",
        ),
        "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS": (
            "KEYWORD_PROHIBITED_PRODUCTS",
            "KEYWORD_UNSAFE_PRODUCTS",
        ),
        "STATEMENT_CATEGORY_VIOLENCE": (
            "KEYWORD_COORDINATED_HARM",
            "KEYWORD_HUMAN_EXPLOITATION",
            "KEYWORD_HUMAN_TRAFFICKING",
            "KEYWORD_INCITEMENT_VIOLENCE_HATRED",
            "KEYWORD_TRAFFICKING_WOMEN_GIRLS",
        ),
    }
)

DSA_CATEGORIES: Final[tuple[str, ...]] = tuple(sorted(KEYWORDS_BY_CATEGORY))

# "Not captured by any other keyword": the taxonomy files it under no category, so it may go with
# any; the statement may then carry free text in category_specification_other.
KEYWORD_OTHER: Final = "KEYWORD_OTHER"

DSA_KEYWORDS: Final[tuple[str, ...]] = tuple(
    sorted({kw for kws in KEYWORDS_BY_CATEGORY.values() for kw in kws} | {KEYWORD_OTHER})
)

DECISION_GROUND_ILLEGAL: Final = "DECISION_GROUND_ILLEGAL_CONTENT"
DECISION_GROUND_INCOMPATIBLE: Final = "DECISION_GROUND_INCOMPATIBLE_CONTENT"

# Length limits of the Transparency Database fields a policy's text ends up in; a longer text
# would make every statement under the policy bounce with a 422.
MAX_LEGAL_GROUND: Final = 500  # illegal_content_legal_ground, incompatible_content_ground
MAX_GROUND_EXPLANATION: Final = 2000  # illegal_/incompatible_content_explanation
MAX_REFERENCE_URL: Final = 500  # decision_ground_reference_url
MAX_KEYWORD_OTHER: Final = 500  # category_specification_other

# CyberTipline Reporting API, incidentSummary/incidentType: the wire strings, verbatim. An old
# client library spells one "Child Sexual Molestation (not by family member)"; the current API
# documentation and the clients built on it use the shorter form kept here.
NCMEC_INCIDENT_TYPES: Final[tuple[str, ...]] = (
    "Child Pornography (possession, manufacture, and distribution)",
    "Child Sex Trafficking",
    "Child Sex Tourism",
    "Child Sexual Molestation",
    "Misleading Domain Name",
    "Misleading Words or Digital Images on the Internet",
    "Online Enticement of Children for Sexual Acts",
    "Unsolicited Obscene Material Sent to a Child",
)

SEVERITIES: Final[tuple[str, ...]] = ("critical", "high", "medium", "low")
# Higher is more severe; queues and the strike ladder compare by rank, never by name.
SEVERITY_RANK: Final[Mapping[str, int]] = MappingProxyType(
    {name: len(SEVERITIES) - i for i, name in enumerate(SEVERITIES)}
)

CONTENT_ACTIONS: Final[tuple[str, ...]] = (
    "remove",
    "disable",
    "age_restrict",
    "demote",
    "exclude_from_recommendations",
    "demonetise",
    "label",
    "restrict_distribution",
)
ACCOUNT_ACTIONS: Final[tuple[str, ...]] = ("warn", "strike", "suspend", "terminate")
ACTIONS: Final[tuple[str, ...]] = CONTENT_ACTIONS + ACCOUNT_ACTIONS

# Pairs that cannot both be a policy's default: the content is either gone everywhere or
# withheld somewhere, and the account is either suspended or gone.
EXCLUSIVE_ACTIONS: Final[tuple[tuple[str, str], ...]] = (
    ("remove", "disable"),
    ("suspend", "terminate"),
)

# Every kind of legal track (cases/tracks.py says what opens, meets and closes each one).
TRACK_KINDS: Final[tuple[str, ...]] = (
    "ncmec",  # 18 U.S.C. 2258A CyberTipline report, from actual knowledge
    "take_it_down",  # TAKE IT DOWN Act, 48 h removal on the depicted person's request
    "uk_intimate_image",  # UK intimate-image report, 48 h (UK-3)
    "priority_takedown",  # UK Online Safety Act s.10(3)(b): swift takedown of priority illegal content (UK-1)
    "uk_nca",  # UK Online Safety Act s.66: CSEA content reported to the National Crime Agency (UK-6)
    "dsa_notice",  # DSA Art. 16(6): a timely decision on a notice
    "dsa_art18",  # DSA Art. 18 notification of a threat to life or safety, from the marking
    "terrorist_order",  # Regulation (EU) 2021/784 removal order, 1 h, from the order
    "authority_order",  # an order or request of a court, authority or law enforcement, by its own deadline
)
# The kinds a policy lists: those a report under it opens. Orders and a marked threat to life
# open their own tracks under any policy, so a policy does not list them.
LEGAL_TRACKS: Final[tuple[str, ...]] = (
    "ncmec",
    "take_it_down",
    "uk_intimate_image",
    "priority_takedown",
    "uk_nca",
    "dsa_notice",
)
EVENT_TRACKS: Final[tuple[str, ...]] = ("dsa_art18", "terrorist_order", "authority_order")
# The law's own deadlines: no catalogue may give these kinds longer.
STATUTORY_MAX_HOURS: Final[dict[str, float]] = {
    "take_it_down": 48.0,  # TAKE IT DOWN Act: within 48 hours of a valid request
    "uk_intimate_image": 48.0,
    "terrorist_order": 1.0,  # Regulation (EU) 2021/784, Art. 3(3): within one hour of receipt
}

AREAS: Final[tuple[str, ...]] = (
    "child_safety",
    "ncii",
    "extremism",
    "violence",
    "hate_harassment",
    "self_harm",
    "spam",
    "legal",
    "other",
)

GROUND_TYPES: Final[tuple[str, ...]] = ("illegal_content", "terms_of_service")

# The only names a notice may use; each is filled by the code that sends the statement of reasons.
NOTICE_PLACEHOLDERS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "measure": "what was done, in plain words, with its scope and duration",
        "policy_title": "the policy's title in the notice's language",
        "appeal_url": "where to contest the decision",
        "appeal_deadline": "the last day an appeal is accepted",
        "platform_name": "the platform's name",
    }
)
# DSA Art. 17(3)(f): every statement of reasons says how to seek redress.
REQUIRED_NOTICE_PLACEHOLDERS: Final[tuple[str, ...]] = ("appeal_url",)

BASE_LANGUAGE: Final = "en"
