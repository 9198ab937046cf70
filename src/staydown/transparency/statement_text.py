"""The words of a statement of reasons: its measure, its first sentence and the whole statement in a
language, from the sentences in transparency/texts/<language>.yaml (see texts.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from staydown import i18n
from staydown.policies.schema import Policy
from staydown.policies.vocab import BASE_LANGUAGE
from staydown.transparency import texts
from staydown.transparency.models import StatementOfReasons
from staydown.transparency.statement_settings import StatementSettings

STATE_PENDING = "pending_review"  # an interim restriction: no one has decided yet
STATE_DECIDED = "decided"


def _label(language: str, key: str, **values: Any) -> str:
    return texts.label(language, key, **values)


def translated(language: str, text: str | None) -> str | None:
    """A ground's words from the shipped catalogue in `language` (its reference and explanation
    are translated with it); a platform's own words, and a legal citation, as written."""
    return i18n.shipped_translation(text, language) or text if text else text


def measure_text(
    measure: str, scope: list[str], ends_at: datetime | None, language: str = BASE_LANGUAGE, *, pending: bool = False
) -> str:
    """The measure in plain words with its scope and duration."""
    what = texts.measure(language, measure)
    where = _label(language, "everywhere") if not scope else _label(language, "in", countries=", ".join(sorted(scope)))
    if ends_at is not None:
        until = _label(language, "until", date=ends_at.date().isoformat())
    else:
        until = _label(language, "pending_until" if pending else "indefinite")
    return f"{what}, {where}, {until}"


def statement_state(statement: StatementOfReasons) -> str:
    return statement.details.get("state") or (STATE_PENDING if statement.details.get("interim") else STATE_DECIDED)


def headline(statement: StatementOfReasons, language: str, platform_name: str) -> str:
    """The statement's first sentence: what was done, by the measure and its state."""
    state = statement_state(statement)
    measure = measure_text(
        statement.measure, statement.territorial_scope, statement.ends_at, language, pending=state == STATE_PENDING
    )
    return texts.headline(language, kind=statement.measure, state=state, platform_name=platform_name, measure=measure)


def render_statement(
    statement: StatementOfReasons, policy: Policy | None, config: StatementSettings, language: str
) -> str:
    """The statement as the affected user reads it: first what was done (by the measure and its
    state, from texts/<language>.yaml), then every DSA Art. 17(3) element. The policy is the
    ground, never the measure. Uses the scrubbed facts only."""
    state = statement_state(statement)
    pending = state == STATE_PENDING
    deadline = statement.appeal_deadline.date().isoformat() if statement.appeal_deadline else ""
    appeal_url = statement.redress["appeal_url"]
    opening = [headline(statement, language, config.platform_name)]
    if pending:
        opening.append(texts.text(language, "state", STATE_PENDING))
    elif statement.details.get("copy_of_case"):
        opening.append(texts.text(language, "state", "copy"))
    if pending:
        # No rule has been found broken: the ground is the terms that allow the precaution.
        ground = texts.lookup(language, "pending_ground")
        why = (
            f"{_label(language, 'terms')}: {ground['reference'].format(platform_name=config.platform_name)}. "
            f"{ground['explanation']}"
        )
    else:
        parts = []
        if policy is not None:
            text = policy.text(language)
            parts.append(_label(language, "rule", title=text.title, rule=text.rule.strip()))
        if statement.legal_ground:
            parts.append(
                f"{_label(language, 'law')}: {statement.legal_ground}. "
                f"{translated(language, statement.legal_explanation) or ''}".strip()
            )
        if statement.contractual_ground:
            parts.append(
                f"{_label(language, 'terms')}: {translated(language, statement.contractual_ground)}. "
                f"{translated(language, statement.contractual_explanation) or ''}".strip()
            )
        why = " ".join(parts)
    public_facts = statement.details.get("public_facts") or _label(language, "pending_facts" if pending else "no_facts")
    where = (
        _label(language, "everywhere")
        if not statement.territorial_scope
        else _label(language, "in", countries=", ".join(sorted(statement.territorial_scope)))
    )
    if statement.ends_at is not None:
        until = _label(language, "until", date=statement.ends_at.date().isoformat())
    else:
        until = _label(language, "pending_until" if pending else "indefinite")
    lines = [
        " ".join(opening),
        "",
        f"{_label(language, 'what')}: {texts.measure(language, statement.measure)}.",
        f"{_label(language, 'where')}: {where}. {_label(language, 'how_long')}: {until}.",
        f"{_label(language, 'why')}: {why}",
        f"{_label(language, 'facts')}: {public_facts}",
        f"{_label(language, 'source')}: {_label(language, statement.source)}.",
        f"{_label(language, 'automation')}: "
        f"{_label(language, 'detected' if statement.automated_detection else 'not_detected')}; "
        f"{_label(language, statement.automated_decision)}.",
        f"{_label(language, 'redress')}: {_label(language, 'appeal', url=appeal_url, date=deadline)} "
        f"{_label(language, 'out_of_court')} {_label(language, 'judicial')}",
        f"{_label(language, 'code')}: {statement.code}",
    ]
    return "\n".join(lines)
