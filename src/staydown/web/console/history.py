"""A case's history in words: each audit event as a sentence a person reads, never its tag."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from staydown.audit import AuditTag
from staydown.audit.models import AuditEvent
from staydown.cases.tracks import KINDS
from staydown.i18n import N_
from staydown.i18n import gettext as _
from staydown.web.console.words import track_title, word

T = AuditTag

# What each event on a case says; `{track}` is the track's title, `{policy}` the policy cited.
SENTENCES: dict[str, str] = {
    T.CASE_OPEN.value: N_("The case was opened"),
    T.CASE_JOIN.value: N_("A report was added to the case"),
    T.CASE_URL_RESOLVED.value: N_("The reported address was matched to the platform's item"),
    T.CASE_CLAIM.value: N_("{who} claimed the case"),
    T.CASE_RELEASE.value: N_("{who} released the case"),
    T.CASE_MEDIA_REVEAL.value: N_("{who} revealed a media item (a counted, audited view)"),
    T.CASE_DECIDE_VIOLATES.value: N_("{who} decided it violates, under {policy}"),
    T.CASE_DECIDE_NO_VIOLATION.value: N_("{who} decided it does not violate, under {policy}"),
    T.CASE_DECIDE_ESCALATE.value: N_("{who} escalated the case to a more senior queue"),
    T.CASE_SECOND_REVIEW.value: N_("{who} made the second review"),
    T.CASE_ACTUAL_KNOWLEDGE.value: N_("Apparent child sexual abuse material was confirmed (actual knowledge)"),
    T.CASE_AUTO_DECISION_SKIPPED.value: N_("No automatic decision was taken; a person decides"),
    T.CASE_COMMENT.value: N_("{who} left a comment"),
    T.CASE_ASSIGN.value: N_("{who} gave the case to {to}"),
    T.CASE_ESCALATE_TO.value: N_("{who} escalated the case to {to}"),
    T.TRACK_OPEN.value: N_("Legal track {track} opened"),
    T.TRACK_START.value: N_("Legal track {track}: its clock started"),
    T.TRACK_MET.value: N_("Legal track {track} met"),
    T.TRACK_NOT_APPLICABLE.value: N_("{who} found that legal track {track} does not apply"),
    T.TRACK_REOPEN.value: N_("Legal track {track} reopened"),
    T.TRACK_ESCALATE.value: N_("Legal track {track}: little time is left, the escalation roles were alerted"),
    T.TRACK_BREACH.value: N_("Legal track {track}: the deadline was missed"),
    T.DECISION_REVERSE.value: N_("{who} reversed the decision's measures"),
    T.SWEEP_RUN.value: N_("A sweep for copies ran"),
    T.STAY_DOWN_BANK.value: N_("The items went into the platform's own bank (stay-down)"),
    T.DSA18_NOTIFY.value: N_("{who} marked a threat to life or safety; the authorities are being notified"),
    T.DSA18_SENT.value: N_("A threat notification was sent to an authority"),
    T.NCMEC_DRAFT.value: N_("{who} drafted a CyberTipline report"),
    T.NCMEC_CONFIRM.value: N_("{who} confirmed a CyberTipline report"),
    T.NCMEC_SUBMIT.value: N_("A CyberTipline report was submitted"),
    T.NCMEC_UPLOAD.value: N_("A file was uploaded to the CyberTipline"),
    T.NCMEC_FINISH.value: N_("A CyberTipline report was finished"),
    T.NCMEC_FILE_WAIVE.value: N_("{who} decided a CyberTipline report goes without a file"),
    T.NCA_DRAFT.value: N_("{who} drafted a report to the National Crime Agency"),
    T.NCA_CONFIRM.value: N_("{who} confirmed a report to the National Crime Agency"),
    T.NCA_OPEN.value: N_("The National Crime Agency opened the report"),
    T.NCA_UPLOAD.value: N_("A file was sent to the National Crime Agency"),
    T.NCA_SUBMIT.value: N_("The National Crime Agency acknowledged the report"),
    T.NCA_RESTART.value: N_("A report to the National Crime Agency was made again"),
    T.CONSISTENCY_SAMPLE.value: N_("The decision was sampled for a consistency check"),
    T.CONSISTENCY_OPINION.value: N_("{who} gave an opinion in a consistency check"),
    T.DECISION_EXCEPTION.value: N_("{who} recorded an exception to the decision"),
}


def _who(event: AuditEvent, names: dict[str, str]) -> str:
    ref = f"{event.actor_kind}:{event.actor_id}"
    if ref in names:
        return names[ref]
    return event.actor_label or _("someone")


def _target(value: Any, names: dict[str, str]) -> str:
    if not value:
        return _("nobody (taken back)")
    text = str(value)
    if text.startswith("role:"):
        return _("everyone with the role %(role)s", role=text.split(":", 1)[1].replace("_", " "))
    return names.get(text, text)


def track_label(kind: str) -> str:
    """A legal track as staff read it: its plain title and where the duty comes from."""
    rule = KINDS.get(kind)
    return (
        _("\u201c%(title)s\u201d (%(law)s)", title=track_title(kind), law=rule.law)
        if rule
        else (kind.replace("_", " ") or _("(unnamed)"))
    )


def describe(event: AuditEvent, *, names: dict[str, str]) -> str:
    """One sentence for one event. An event with no sentence of its own still reads as words."""
    data = event.data if isinstance(event.data, dict) else {}
    template = _(SENTENCES[event.tag]) if event.tag in SENTENCES else None
    if template is None:
        thing, action = [*event.tag.split(":"), "", "", ""][1:3]  # "domain:thing:action"
        template = f"{thing.replace('_', ' ').capitalize()}: {action.replace('_', ' ')}".strip(": ") or "An event"
    kind = str(data.get("kind") or "")
    sentence = template.format(
        who=_who(event, names),
        track=track_label(kind),
        policy=str(data.get("policy_ref") or _("the policy")),
        to=_target(data.get("to"), names),
    )
    extra = _details(event.tag, data)
    text = _("%(sentence)s: %(details)s", sentence=sentence, details=extra) if extra else sentence
    return text if text.endswith((".", "!", "?")) else text + "."


def _details(tag: str, data: dict[str, Any]) -> str:
    reason: Callable[[], str] = lambda: str(data.get("reason") or "")  # noqa: E731
    if tag in (T.CASE_ASSIGN.value, T.CASE_ESCALATE_TO.value):
        return reason()
    if tag == T.CASE_SECOND_REVIEW.value:
        return _("agreed") if data.get("agree") else _("disagreed, and decided it violates")
    if tag == T.TRACK_MET.value and data.get("resolution"):
        return _("by %(resolution)s", resolution=word(data["resolution"]))
    return ""
