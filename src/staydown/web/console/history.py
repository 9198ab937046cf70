"""A case's history in words: each audit event as a sentence a person reads, never its tag."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from staydown.audit import AuditTag
from staydown.audit.models import AuditEvent

T = AuditTag

# What each event on a case says; `{track}` is the track's title, `{policy}` the policy cited.
SENTENCES: dict[str, str] = {
    T.CASE_OPEN.value: "The case was opened",
    T.CASE_JOIN.value: "A report was added to the case",
    T.CASE_URL_RESOLVED.value: "The reported address was matched to the platform's item",
    T.CASE_CLAIM.value: "{who} claimed the case",
    T.CASE_RELEASE.value: "{who} released the case",
    T.CASE_MEDIA_REVEAL.value: "{who} revealed a media item (a counted, audited view)",
    T.CASE_DECIDE_VIOLATES.value: "{who} decided it violates, under {policy}",
    T.CASE_DECIDE_NO_VIOLATION.value: "{who} decided it does not violate, under {policy}",
    T.CASE_DECIDE_ESCALATE.value: "{who} escalated the case to a more senior queue",
    T.CASE_SECOND_REVIEW.value: "{who} made the second review",
    T.CASE_ACTUAL_KNOWLEDGE.value: "Apparent child sexual abuse material was confirmed (actual knowledge)",
    T.CASE_AUTO_DECISION_SKIPPED.value: "No automatic decision was taken; a person decides",
    T.CASE_COMMENT.value: "{who} left a comment",
    T.CASE_ASSIGN.value: "{who} gave the case to {to}",
    T.CASE_ESCALATE_TO.value: "{who} escalated the case to {to}",
    T.TRACK_OPEN.value: "Legal track {track} opened",
    T.TRACK_START.value: "Legal track {track}: its clock started",
    T.TRACK_MET.value: "Legal track {track} met",
    T.TRACK_NOT_APPLICABLE.value: "{who} found that legal track {track} does not apply",
    T.TRACK_REOPEN.value: "Legal track {track} reopened",
    T.TRACK_ESCALATE.value: "Legal track {track}: little time is left, the escalation roles were alerted",
    T.TRACK_BREACH.value: "Legal track {track}: the deadline was missed",
    T.DECISION_REVERSE.value: "{who} reversed the decision's measures",
    T.SWEEP_RUN.value: "A sweep for copies ran",
    T.STAY_DOWN_BANK.value: "The items went into the platform's own bank (stay-down)",
    T.DSA18_NOTIFY.value: "{who} marked a threat to life or safety; the authorities are being notified",
    T.DSA18_SENT.value: "A threat notification was sent to an authority",
    T.NCMEC_DRAFT.value: "{who} drafted a CyberTipline report",
    T.NCMEC_CONFIRM.value: "{who} confirmed a CyberTipline report",
    T.NCMEC_SUBMIT.value: "A CyberTipline report was submitted",
    T.NCMEC_UPLOAD.value: "A file was uploaded to the CyberTipline",
    T.NCMEC_FINISH.value: "A CyberTipline report was finished",
    T.NCMEC_FILE_WAIVE.value: "{who} decided a CyberTipline report goes without a file",
    T.NCA_DRAFT.value: "{who} drafted a report to the National Crime Agency",
    T.NCA_CONFIRM.value: "{who} confirmed a report to the National Crime Agency",
    T.NCA_OPEN.value: "The National Crime Agency opened the report",
    T.NCA_UPLOAD.value: "A file was sent to the National Crime Agency",
    T.NCA_SUBMIT.value: "The National Crime Agency acknowledged the report",
    T.NCA_RESTART.value: "A report to the National Crime Agency was made again",
    T.CONSISTENCY_SAMPLE.value: "The decision was sampled for a consistency check",
    T.CONSISTENCY_OPINION.value: "{who} gave an opinion in a consistency check",
    T.DECISION_EXCEPTION.value: "{who} recorded an exception to the decision",
}


def _who(event: AuditEvent, names: dict[str, str]) -> str:
    ref = f"{event.actor_kind}:{event.actor_id}"
    if ref in names:
        return names[ref]
    return event.actor_label or "someone"


def _target(value: Any, names: dict[str, str]) -> str:
    if not value:
        return "nobody (taken back)"
    text = str(value)
    if text.startswith("role:"):
        return "everyone with the role " + text.split(":", 1)[1].replace("_", " ")
    return names.get(text, text)


def track_label(kind: str) -> str:
    """A legal track as staff read it: its plain title and where the duty comes from."""
    from staydown.cases.tracks import KINDS

    rule = KINDS.get(kind)
    return f"\u201c{rule.title}\u201d ({rule.law})" if rule else (kind.replace("_", " ") or "(unnamed)")


def describe(event: AuditEvent, *, names: dict[str, str]) -> str:
    """One sentence for one event. An event with no sentence of its own still reads as words."""
    data = event.data if isinstance(event.data, dict) else {}
    template = SENTENCES.get(event.tag)
    if template is None:
        domain, thing, action = (event.tag.split(":") + ["", "", ""])[:3]
        template = f"{thing.replace('_', ' ').capitalize()}: {action.replace('_', ' ')}".strip(": ") or "An event"
    kind = str(data.get("kind") or "")
    sentence = template.format(
        who=_who(event, names),
        track=track_label(kind),
        policy=str(data.get("policy_ref") or "the policy"),
        to=_target(data.get("to"), names),
    )
    extra = _details(event.tag, data)
    text = sentence + (f": {extra}" if extra else "")
    return text if text.endswith((".", "!", "?")) else text + "."


def _details(tag: str, data: dict[str, Any]) -> str:
    reason: Callable[[], str] = lambda: str(data.get("reason") or "")  # noqa: E731
    if tag in (T.CASE_ASSIGN.value, T.CASE_ESCALATE_TO.value):
        return reason()
    if tag == T.CASE_SECOND_REVIEW.value:
        return "agreed" if data.get("agree") else "disagreed, and decided it violates"
    if tag == T.TRACK_MET.value and data.get("resolution"):
        return "by " + str(data["resolution"]).replace("_", " ")
    return ""
