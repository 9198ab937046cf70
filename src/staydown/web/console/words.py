"""The console's words for values its domain names in code: reporter kinds, outcomes, severities,
legal tracks, queue views and sorts, in the console's language.

The domain modules define these values (and some English labels: `queues.VIEWS`, `tracks.KINDS`'
titles) for every surface; only the console shows them to staff, so their words are listed here,
marked for the console's catalogue, and tests/web/test_i18n.py checks that this table still covers
what the domain defines. A value missing here is shown as it is, underscores as spaces.
"""

from __future__ import annotations

from staydown.i18n import N_, gettext, shipped_translation
from staydown.i18n import current as current_language

REPORTERS = {
    "affected_person": N_("affected person"),
    "parent_or_representative": N_("parent or representative"),
    "user": N_("user"),
    "anonymous": N_("anonymous"),
    "trusted_flagger": N_("trusted flagger"),
    "law_enforcement": N_("law enforcement"),
    "authority": N_("authority"),
    "automated": N_("automated"),
}
OUTCOMES = {
    "violates": N_("violates"),
    "does_not_violate": N_("does not violate"),
    "escalate": N_("escalate"),
    "upheld": N_("upheld"),
    "reversed": N_("reversed"),
    "modified": N_("modified"),
}
SEVERITIES = {"critical": N_("critical"), "high": N_("high"), "medium": N_("medium"), "low": N_("low")}
# The short names rows and lists use; the titles (`tracks.KINDS`) where a track is explained.
TRACKS = {
    "take_it_down": N_("take it down"),
    "ncmec": N_("ncmec"),
    "dsa_notice": N_("dsa notice"),
    "uk_intimate_image": N_("uk intimate image"),
    "terrorist_order": N_("terrorist order"),
    "dsa_art18": N_("dsa art18"),
    "priority_takedown": N_("priority takedown"),
    "uk_nca": N_("uk nca"),
    "authority_order": N_("authority order"),
}
TRACK_TITLES = {
    "dsa_notice": N_("A decision on your report"),
    "take_it_down": N_("Removal within 48 hours (TAKE IT DOWN Act)"),
    "uk_intimate_image": N_("Removal of an intimate image within 48 hours (UK)"),
    "priority_takedown": N_("Swift removal of priority illegal content"),
    "ncmec": N_("Report to NCMEC's CyberTipline"),
    "uk_nca": N_("Report to the UK National Crime Agency"),
    "dsa_art18": N_("Notification of a threat to life or safety"),
    "terrorist_order": N_("Removal within one hour (terrorist-content removal order)"),
    "authority_order": N_("The deadline an order or request set"),
}
# Other values shown as words: states, resolutions, kinds of notice, policy areas, actions.
WORDS = {
    "open": N_("open"),
    "second_review": N_("second review"),
    "decided": N_("decided"),
    "waiting": N_("waiting"),
    "met": N_("met"),
    "not_applicable": N_("not applicable"),
    "incomplete": N_("incomplete"),
    "received": N_("received"),
    "not_processed": N_("not processed"),
    "pending": N_("pending"),
    "claimed": N_("claimed"),
    "withdrawn": N_("withdrawn"),
    "decision": N_("decision"),
    "removal_confirmed": N_("removal confirmed"),
    "report_finished": N_("report finished"),
    "notification_sent": N_("notification sent"),
    "refused_on_review": N_("refused on review"),
    "no_apparent_abuse_on_review": N_("no apparent abuse on review"),
    "finding_not_applicable": N_("finding not applicable"),
    "user_report": N_("user report"),
    "public_report": N_("public report"),
    "take_it_down": N_("take it down"),
    "dsa_notice": N_("dsa notice"),
    "trusted_flagger": N_("trusted flagger"),
    "law_enforcement": N_("law enforcement"),
    "authority_order": N_("authority order"),
    "terrorist_order": N_("terrorist order"),
    "detection": N_("detection"),
    "child_safety": N_("child safety"),
    "extremism": N_("extremism"),
    "hate_harassment": N_("hate harassment"),
    "legal": N_("legal"),
    "ncii": N_("ncii"),
    "self_harm": N_("self harm"),
    "spam": N_("spam"),
    "violence": N_("violence"),
    "remove": N_("remove"),
    "disable": N_("disable"),
    "age_restrict": N_("age restrict"),
    "demote": N_("demote"),
    "exclude_from_recommendations": N_("exclude from recommendations"),
    "demonetise": N_("demonetise"),
    "label": N_("label"),
    "restrict_distribution": N_("restrict distribution"),
    "warn": N_("warn"),
    "strike": N_("strike"),
    "suspend": N_("suspend"),
    "terminate": N_("terminate"),
    "active": N_("active"),
    "lifted": N_("lifted"),
    "content": N_("content"),
    "account": N_("account"),
    "suspended": N_("suspended"),
    "terminated": N_("terminated"),
    "image": N_("image"),
    "video": N_("video"),
    "text": N_("text"),
    "other": N_("other"),
    "affected_user": N_("affected user"),
    "notifier": N_("notifier"),
    "in_review": N_("in review"),
    "content_restriction": N_("content restriction"),
    "account_restriction": N_("account restriction"),
    "monetisation_restriction": N_("monetisation restriction"),
    "proactive_technology": N_("proactive technology"),
    "no_action": N_("no action"),
    "insufficient_action": N_("insufficient action"),
    "for_user": N_("for the user"),
    "for_platform": N_("for the platform"),
    "settled": N_("settled"),
    "declined": N_("declined"),
    "public": N_("public"),
    "unlisted": N_("unlisted"),
    "followers": N_("followers"),
    "private": N_("private"),
    "unknown": N_("unknown"),
    "case": N_("case"),
    "report": N_("report"),
    "appeal": N_("appeal"),
    "statement": N_("statement"),
    "effective": N_("effective"),
    "pending_second_review": N_("pending second review"),
    "overturned": N_("overturned"),
    **OUTCOMES,
}
VIEWS = {
    "open": N_("Open"),
    "mine": N_("My cases"),
    "breached": N_("Deadline missed"),
    "second_review": N_("Awaiting second review"),
    "closed": N_("Closed (decided)"),
}
SORTS = {"priority": N_("Priority"), "due": N_("Due time")}


def _word(table: dict[str, str], value: object) -> str:
    text = str(value or "")
    return gettext(table[text]) if text in table else text.replace("_", " ")


def reporter_word(kind: object) -> str:
    return _word(REPORTERS, kind)


def outcome_word(outcome: object) -> str:
    return _word(OUTCOMES, outcome)


def severity_word(severity: object) -> str:
    return _word(SEVERITIES, severity)


def track_word(kind: object) -> str:
    return _word(TRACKS, kind)


def track_title(kind: object) -> str:
    return _word(TRACK_TITLES, kind)


def word(value: object) -> str:
    """A state, resolution, kind, area or action in words."""
    return _word(WORDS, value)


def view_word(view: object) -> str:
    return _word(VIEWS, view)


def sort_word(sort: object) -> str:
    return _word(SORTS, sort)


def policy_text(english: object) -> str:
    """A policy's title (or rule) as the shipped catalogue translates it; a platform's own words,
    which no catalogue holds, as they are."""
    text = str(english or "")
    return shipped_translation(text, current_language()) or text


GLOBALS = {
    "word": word,
    "reporter_word": reporter_word,
    "outcome_word": outcome_word,
    "severity_word": severity_word,
    "track_word": track_word,
    "track_title": track_title,
    "view_word": view_word,
    "sort_word": sort_word,
    "policy_text": policy_text,
}
