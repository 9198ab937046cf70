"""The plain words the public pages show for the service's codes: report categories, who reports,
legal tracks, states and outcomes (marked with `N_`, translated where they are shown)."""

from __future__ import annotations

from staydown.i18n import N_

# Plain words for the catalogue's policies; a policy missing here (a platform's own catalogue) is
# offered under its title.
PLAIN: dict[str, tuple[str, str]] = {
    "csam": (
        N_("Sexual images or videos of a child"),
        N_("Photos, videos, drawings or AI-made pictures that show someone under 18 in a sexual way."),
    ),
    "child-sexual-enticement": (
        N_("Someone is trying to sexually approach a child"),
        N_("Grooming: an adult building trust with a child for sex, asking for images, or arranging to meet."),
    ),
    "child-sex-trafficking": (N_("A child is being sold or offered for sex"), ""),
    "ncii": (
        N_("Intimate images shared without consent"),
        N_("Nude or sexual images or videos of a real person, shared without their agreement."),
    ),
    "ncii-synthetic": (N_("Fake or AI-made intimate images of a real person"), ""),
    "terrorist-content": (N_("Terrorism or violent extremism"), ""),
    "violent-threats": (N_("Threats of violence"), ""),
    "violence-glorification": (N_("Praising or glorifying violence"), ""),
    "harassment": (N_("Harassment or bullying"), ""),
    "hate": (N_("Hate against a group of people"), ""),
    "self-harm": (
        N_("Suicide, self-harm or eating disorders"),
        N_("If someone is in danger right now, call your local emergency number."),
    ),
    "scams": (N_("A scam or fraud"), ""),
    "impersonation": (N_("Someone pretending to be someone else"), ""),
    "spam": (N_("Spam"), ""),
    "defamation": (N_("False statements that harm someone's reputation"), ""),
    "other-illegal": (N_("Something else that is illegal"), ""),
}

REPORTERS = {
    "affected_person": (N_("It is about me"), N_("I am the person shown or harmed.")),
    "parent_or_representative": (
        N_("I am a parent, guardian or representative"),
        N_("I act for the person shown or harmed."),
    ),
    "user": (N_("I saw it"), N_("I am not the person shown or harmed.")),
    "anonymous": (N_("I would rather not say"), ""),
}
TAKEDOWN_REPORTERS = {
    "affected_person": (N_("I am the person shown"), ""),
    "parent_or_representative": (
        N_("I am authorised to act for the person shown"),
        N_("For example their parent, guardian or lawyer."),
    ),
}
MINOR_CHOICES = {"yes": (N_("Yes"), ""), "no": (N_("No"), ""), "unsure": (N_("I don't know"), "")}

TRACK_WORDS = {
    "take_it_down": N_("Removal within 48 hours of a valid request (US TAKE IT DOWN Act)"),
    "uk_intimate_image": N_("Intimate image taken down within 48 hours (UK Online Safety Act)"),
    "priority_takedown": N_("Swift removal of illegal content of the gravest kinds"),
    "dsa_notice": N_("A timely decision on your report (EU Digital Services Act)"),
    "terrorist_order": N_("Removal within one hour of a removal order"),
    "authority_order": N_("The deadline your order or request set"),
}
# How a clock ended, as the person it governs reads it.
RESOLUTION_WORDS = {
    "decided": N_("Decided"),
    "removal_confirmed": N_("Removed: the platform confirmed the removal"),
    "refused_on_review": N_("Not removed: refused after review"),
    "finding_not_applicable": N_("Closed: a senior reviewer found that this deadline does not apply"),
    "no_apparent_abuse_on_review": N_("Closed after review"),
}
STATE_WORDS = {
    "incomplete": N_("Waiting for you: the request is not complete yet"),
    "received": N_("Received: waiting for a decision"),
    "in_second_review": N_("Being checked by a second, senior reviewer"),
    "decided": N_("Decided"),
    "not_processed": N_("Not processed"),
}
OUTCOME_WORDS = {
    "violates": N_("We found that it breaks our rules or the law, and acted on it."),
    "does_not_violate": N_("We found that it does not break our rules or the law, so we did not remove it."),
}
KIND_WORDS = {
    "public_report": N_("Report"),
    "dsa_notice": N_("Report"),
    "user_report": N_("Report"),
    "take_it_down": N_("TAKE IT DOWN request"),
    "trusted_flagger": N_("Report"),
}
