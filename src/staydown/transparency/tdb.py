"""The EU Transparency Database (DSA Art. 24(5)): each statement of reasons as the Database's
schema v2 expects it, with no personal data; the rules the Database checks; the HTTP client; and
the batch job that submits pending statements.

The Database's `POST /api/v1/statements` takes 1 to 100 statements and is all or nothing: one
invalid statement (422, errors under `statement_<index>`) or one `puid` it already has (422,
`errors.existing_puids`) and none is stored. The client therefore takes the answer apart: a puid
the Database already has is done (a lost answer to an earlier call, never counted twice), an invalid
statement is failed with its errors, and the rest are sent again. Network errors, 5xx and 429 are
transient: the statements stay pending and the job is retried with backoff.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import SYSTEM, Actor
from staydown.audit import AuditTag
from staydown.cases.models import StaffAlert
from staydown.db import now
from staydown.delivery.outbox import JobContext
from staydown.egress import OPERATOR, guarded_client
from staydown.errors import InvalidInput
from staydown.policies.vocab import DSA_CATEGORIES, DSA_KEYWORDS
from staydown.transparency import texts
from staydown.transparency.models import (
    AutomatedDecision,
    DecisionGround,
    StatementOfReasons,
    StatementSource,
    TdbState,
)
from staydown.transparency.scrub import REDACTED, scrub_personal_data
from staydown.transparency.statements import EEA_COUNTRIES, eea_scope

log = logging.getLogger("staydown.tdb")

TDB_SUBMIT_JOB = "transparency:tdb_submit"
STATEMENTS_PATH = "/api/v1/statements"
STATEMENT_PATH = "/api/v1/statement"
MAX_BATCH = 100
MAX_FACTS = 5000
MAX_ERROR_CHARS = 2000

# -- the schema (v2, StatementStoreRequest) -------------------------------------------------------

DECISION_VISIBILITIES = (
    "DECISION_VISIBILITY_CONTENT_REMOVED",
    "DECISION_VISIBILITY_CONTENT_DISABLED",
    "DECISION_VISIBILITY_CONTENT_DEMOTED",
    "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
    "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED",
    "DECISION_VISIBILITY_CONTENT_LABELLED",
    "DECISION_VISIBILITY_OTHER",
)
DECISION_MONETARIES = ("DECISION_MONETARY_SUSPENSION", "DECISION_MONETARY_TERMINATION", "DECISION_MONETARY_OTHER")
DECISION_PROVISIONS = (
    "DECISION_PROVISION_PARTIAL_SUSPENSION",
    "DECISION_PROVISION_TOTAL_SUSPENSION",
    "DECISION_PROVISION_PARTIAL_TERMINATION",
    "DECISION_PROVISION_TOTAL_TERMINATION",
)
DECISION_ACCOUNTS = ("DECISION_ACCOUNT_SUSPENDED", "DECISION_ACCOUNT_TERMINATED")
ACCOUNT_TYPES = ("ACCOUNT_TYPE_BUSINESS", "ACCOUNT_TYPE_PRIVATE")
DECISION_GROUNDS = ("DECISION_GROUND_ILLEGAL_CONTENT", "DECISION_GROUND_INCOMPATIBLE_CONTENT")
CONTENT_TYPES = (
    "CONTENT_TYPE_APP",
    "CONTENT_TYPE_AUDIO",
    "CONTENT_TYPE_IMAGE",
    "CONTENT_TYPE_PRODUCT",
    "CONTENT_TYPE_SYNTHETIC_MEDIA",
    "CONTENT_TYPE_TEXT",
    "CONTENT_TYPE_VIDEO",
    "CONTENT_TYPE_OTHER",
)
SOURCE_TYPES = ("SOURCE_ARTICLE_16", "SOURCE_TRUSTED_FLAGGER", "SOURCE_TYPE_OTHER_NOTIFICATION", "SOURCE_VOLUNTARY")
AUTOMATED_DETECTIONS = ("Yes", "No")
AUTOMATED_DECISIONS = ("AUTOMATED_DECISION_FULLY", "AUTOMATED_DECISION_PARTIALLY", "AUTOMATED_DECISION_NOT_AUTOMATED")
INCOMPATIBLE_CONTENT_ILLEGALS = ("Yes", "No")
END_DATES = (
    "end_date_account_restriction",
    "end_date_monetary_restriction",
    "end_date_service_restriction",
    "end_date_visibility_restriction",
)
PUID_RE = re.compile(r"[A-Za-z0-9_-]{1,500}")
LATEST_DATE = date(2038, 1, 1)

FIELDS = frozenset(
    {
        "decision_visibility",
        "decision_visibility_other",
        "decision_monetary",
        "decision_monetary_other",
        "decision_provision",
        "decision_account",
        "account_type",
        "category_specification",
        "category_specification_other",
        "decision_ground",
        "decision_ground_reference_url",
        "illegal_content_legal_ground",
        "illegal_content_explanation",
        "incompatible_content_ground",
        "incompatible_content_explanation",
        "incompatible_content_illegal",
        "content_type",
        "content_type_other",
        "category",
        "category_addition",
        "territorial_scope",
        "content_language",
        "content_date",
        "application_date",
        *END_DATES,
        "decision_facts",
        "source_type",
        "source_identity",
        "automated_detection",
        "automated_decision",
        "puid",
        "content_id",
    }
)

_SOURCE = {
    StatementSource.notice.value: "SOURCE_ARTICLE_16",
    StatementSource.trusted_flagger.value: "SOURCE_TRUSTED_FLAGGER",
    StatementSource.other_notification.value: "SOURCE_TYPE_OTHER_NOTIFICATION",
    StatementSource.own_initiative.value: "SOURCE_VOLUNTARY",
}
_AUTOMATED = {
    AutomatedDecision.fully.value: "AUTOMATED_DECISION_FULLY",
    AutomatedDecision.partially.value: "AUTOMATED_DECISION_PARTIALLY",
    AutomatedDecision.not_automated.value: "AUTOMATED_DECISION_NOT_AUTOMATED",
}
_GROUND = {
    DecisionGround.illegal_content.value: "DECISION_GROUND_ILLEGAL_CONTENT",
    DecisionGround.incompatible_content.value: "DECISION_GROUND_INCOMPATIBLE_CONTENT",
}
_CONTENT_TYPE = {
    "image": "CONTENT_TYPE_IMAGE",
    "video": "CONTENT_TYPE_VIDEO",
    "audio": "CONTENT_TYPE_AUDIO",
    "text": "CONTENT_TYPE_TEXT",
    "message": "CONTENT_TYPE_TEXT",
}
# Visibility measures: the Database's value for each content action.
_VISIBILITY = {
    "remove": "DECISION_VISIBILITY_CONTENT_REMOVED",
    "disable": "DECISION_VISIBILITY_CONTENT_DISABLED",
    "age_restrict": "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
    "demote": "DECISION_VISIBILITY_CONTENT_DEMOTED",
    "exclude_from_recommendations": "DECISION_VISIBILITY_CONTENT_DEMOTED",
    "label": "DECISION_VISIBILITY_CONTENT_LABELLED",
    # Out of recommendation and search (a demotion) and out of monetisation (below).
    "restrict_distribution": "DECISION_VISIBILITY_CONTENT_DEMOTED",
}


def decision_fields(measure: str, ends_at: date | None) -> dict[str, Any]:
    """The decision_* fields and the matching end date for one measure."""
    end = ends_at.isoformat() if ends_at is not None and ends_at <= LATEST_DATE else None
    fields: dict[str, Any] = {}
    if measure in _VISIBILITY:
        fields["decision_visibility"] = [_VISIBILITY[measure]]
        fields["end_date_visibility_restriction"] = end
    if measure == "restrict_distribution":
        fields["decision_monetary"] = "DECISION_MONETARY_SUSPENSION"
        fields["end_date_monetary_restriction"] = end
    elif measure == "demonetise":
        # Time-limited demonetisation suspends payments; without an end it terminates them.
        fields["decision_monetary"] = "DECISION_MONETARY_SUSPENSION" if end else "DECISION_MONETARY_TERMINATION"
        fields["end_date_monetary_restriction"] = end
    elif measure == "suspend":
        # DSA Art. 17(1)(c) and (d) both: the account, and with it the whole service to that user.
        fields["decision_account"] = "DECISION_ACCOUNT_SUSPENDED"
        fields["end_date_account_restriction"] = end
        fields["decision_provision"] = "DECISION_PROVISION_TOTAL_SUSPENSION"
        fields["end_date_service_restriction"] = end
    elif measure == "terminate":
        fields["decision_account"] = "DECISION_ACCOUNT_TERMINATED"
        fields["decision_provision"] = "DECISION_PROVISION_TOTAL_TERMINATION"
    if not fields:
        raise ValueError(f"{measure!r} is not a measure the Transparency Database records")
    return fields


_SOURCE_TEXT = {
    StatementSource.notice.value: "following a notice under Article 16 DSA",
    StatementSource.trusted_flagger.value: "following a notice from a trusted flagger",
    StatementSource.other_notification.value: "following a notification or order from an authority",
    StatementSource.own_initiative.value: "on the provider's own initiative",
}


def decision_facts(statement: StatementOfReasons, *, include_reviewer_facts: bool = False) -> str:
    """The facts and circumstances, built from text that holds no personal data: the measure, the
    policy, how the case came about and the means used. The reviewer's words are added, scrubbed,
    only when asked for (they are free text and may name people)."""
    measure = texts.measure("en", statement.measure)
    parts = [f"Measure: {measure}."]
    title = statement.details.get("policy_title")
    if statement.details.get("interim"):
        # Nothing was decided yet: say so, rather than "decided under" a policy no one applied.
        parts.append(
            "This is an interim restriction while the content is reviewed; no decision has been taken"
            + (f' under the provider\'s policy "{title}".' if title else ".")
        )
    elif title:
        parts.append(f'Decided under the provider\'s policy "{title}" ({statement.policy_ref}).')
    parts.append(f"The case arose {_SOURCE_TEXT.get(statement.source, 'on the provider’s own initiative')}.")
    if statement.details.get("copy_of_case"):
        parts.append(
            "The item was found by automated matching as a copy of an item already confirmed as "
            "violating the same policy."
        )
    parts.append(
        "The content was detected by automated means."
        if statement.automated_detection
        else "The content was not detected by automated means."
    )
    parts.append(
        {
            AutomatedDecision.fully.value: "The decision was taken by automated means.",
            AutomatedDecision.partially.value: "The decision was taken partly by automated means.",
        }.get(statement.automated_decision, "The decision was taken by a person.")
    )
    if include_reviewer_facts:
        reviewed = scrub_personal_data(statement.details.get("public_facts") or "")
        if reviewed and reviewed != REDACTED:
            parts.append(f"Facts noted in the decision: {reviewed}")
    text = " ".join(parts)
    return text if len(text) <= MAX_FACTS else text[: MAX_FACTS - 1] + "…"


def _clip(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tdb_statement(statement: StatementOfReasons, *, include_reviewer_facts: bool = False) -> dict[str, Any]:
    """The statement as `POST /api/v1/statements` takes it (schema v2). Only enumerations, dates,
    the policy's own texts and `decision_facts` (see above) go in: no platform ids, no URLs of the
    content, no names, no source identity."""
    details = statement.details or {}
    body: dict[str, Any] = {
        "puid": statement.tdb_puid,
        "decision_ground": _GROUND[statement.decision_ground],
        "category": statement.category,
        "content_date": max(
            date.fromisoformat(details.get("content_date") or statement.issued_at.date().isoformat()), date(2000, 1, 1)
        ).isoformat(),
        "application_date": statement.starts_at.date().isoformat(),
        "decision_facts": decision_facts(statement, include_reviewer_facts=include_reviewer_facts),
        "source_type": _SOURCE[statement.source],
        "automated_detection": "Yes" if statement.automated_detection else "No",
        "automated_decision": _AUTOMATED[statement.automated_decision],
        "territorial_scope": eea_scope(list(statement.territorial_scope)),
    }
    body.update(decision_fields(statement.measure, statement.ends_at.date() if statement.ends_at else None))
    kind = details.get("content_kind")
    content_type = _CONTENT_TYPE.get(kind or "")
    body["content_type"] = [content_type or "CONTENT_TYPE_OTHER"]
    if content_type is None:
        # Our own vocabulary ("link", "profile", "account"...), never the platform's words.
        body["content_type_other"] = (
            "account"
            if statement.target == "account" and not kind
            else (kind if kind and kind != "unknown" else "unspecified")
        )
    if body["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT":
        body["illegal_content_legal_ground"] = _clip(statement.legal_ground, 500)
        body["illegal_content_explanation"] = _clip(statement.legal_explanation, 2000)
    else:
        body["incompatible_content_ground"] = _clip(statement.contractual_ground, 500)
        body["incompatible_content_explanation"] = _clip(statement.contractual_explanation, 2000)
    dsa = details.get("dsa") or {}
    for name in (
        "category_addition",
        "category_specification",
        "category_specification_other",
        "decision_ground_reference_url",
    ):
        if dsa.get(name):
            body[name] = dsa[name]
    return {k: v for k, v in body.items() if v is not None}


# -- the Database's rules (for the local server, and to fail a statement before sending it) -------


def _date(value: Any, earliest: date | None) -> str | None:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return "does not match the format YYYY-MM-DD"
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        return "does not match the format YYYY-MM-DD"
    if earliest is not None and parsed < earliest:
        return f"must be a date after or equal to {earliest.isoformat()}"
    if parsed > LATEST_DATE:
        return f"must be a date before or equal to {LATEST_DATE.isoformat()}"
    return None


def _filled(value: Any) -> bool:
    return value is not None and value != "" and value != []


def validate_statement(body: Any, *, strict: bool = True) -> dict[str, list[str]]:
    """The Database's StatementStoreRequest rules: field -> problems (empty when valid). `strict`
    also refuses fields the schema does not have (the Database ignores them silently, which hides
    a misspelt field)."""
    errors: dict[str, list[str]] = {}

    def err(name: str, message: str) -> None:
        errors.setdefault(name, []).append(f"The {name.replace('_', ' ')} {message}.")

    if not isinstance(body, dict):
        return {"statement": ["A statement must be a JSON object."]}
    if strict:
        for name in sorted(set(body) - FIELDS):
            err(name, "field is not part of the schema")

    def text(name: str, limit: int, *, required: bool = False) -> None:
        value = body.get(name)
        if not _filled(value):
            if required:
                err(name, "field is required")
            return
        if not isinstance(value, str):
            err(name, "must be a string")
        elif len(value) > limit:
            err(name, f"must not be greater than {limit} characters")

    def one_of(name: str, allowed: tuple[str, ...], *, required: bool = False) -> None:
        value = body.get(name)
        if not _filled(value):
            if required:
                err(name, "field is required")
            return
        if value not in allowed:
            err(name, "is invalid (selected value not allowed)")

    def many_of(name: str, allowed: tuple[str, ...] | frozenset[str], *, required: bool = False) -> None:
        value = body.get(name)
        if not _filled(value):
            if required:
                err(name, "field is required")
            return
        if not isinstance(value, list):
            err(name, "must be an array")
        elif any(v not in allowed for v in value):
            err(name, "is invalid (selected value not allowed)")

    decisions = ("decision_visibility", "decision_monetary", "decision_provision", "decision_account")
    if not any(_filled(body.get(d)) for d in decisions):
        for d in decisions:
            others = " / ".join(o.replace("_", " ") for o in decisions if o != d)
            err(d, f"field is required when none of {others} are present")
    many_of("decision_visibility", DECISION_VISIBILITIES)
    found = body.get("decision_visibility")
    visibility = found if isinstance(found, list) else []
    text("decision_visibility_other", 500, required="DECISION_VISIBILITY_OTHER" in visibility)
    one_of("decision_monetary", DECISION_MONETARIES)
    text("decision_monetary_other", 500, required=body.get("decision_monetary") == "DECISION_MONETARY_OTHER")
    one_of("decision_provision", DECISION_PROVISIONS)
    one_of("decision_account", DECISION_ACCOUNTS)
    one_of("account_type", ACCOUNT_TYPES)
    many_of("category_specification", frozenset(DSA_KEYWORDS))
    text("category_specification_other", 500)
    one_of("decision_ground", DECISION_GROUNDS, required=True)
    url = body.get("decision_ground_reference_url")
    if _filled(url) and (not isinstance(url, str) or len(url) > 500 or not re.fullmatch(r"https?://\S+", url)):
        err("decision_ground_reference_url", "must be a valid URL of at most 500 characters")
    illegal = body.get("decision_ground") == "DECISION_GROUND_ILLEGAL_CONTENT"
    incompatible = body.get("decision_ground") == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    text("illegal_content_legal_ground", 500, required=illegal)
    text("illegal_content_explanation", 2000, required=illegal)
    text("incompatible_content_ground", 500, required=incompatible)
    text("incompatible_content_explanation", 2000, required=incompatible)
    one_of("incompatible_content_illegal", INCOMPATIBLE_CONTENT_ILLEGALS)
    many_of("content_type", CONTENT_TYPES, required=True)
    found = body.get("content_type")
    content_type = found if isinstance(found, list) else []
    text("content_type_other", 500, required="CONTENT_TYPE_OTHER" in content_type)
    one_of("category", DSA_CATEGORIES, required=True)
    many_of("category_addition", DSA_CATEGORIES)
    many_of("territorial_scope", EEA_COUNTRIES)
    language = body.get("content_language")
    if _filled(language) and not (isinstance(language, str) and re.fullmatch(r"[A-Z]{2}", language)):
        err("content_language", "must be an upper-case two-letter ISO 639-1 code")
    for name, earliest, required in (
        ("content_date", date(2000, 1, 1), True),
        ("application_date", date(2020, 1, 1), True),
        *((n, None, False) for n in END_DATES),
    ):
        value = body.get(name)
        if not _filled(value):
            if required:
                err(name, "field is required")
            continue
        problem = _date(value, earliest)
        if problem:
            err(name, problem)
    text("decision_facts", MAX_FACTS, required=True)
    one_of("source_type", SOURCE_TYPES, required=True)
    text("source_identity", 500)
    one_of("automated_detection", AUTOMATED_DETECTIONS, required=True)
    one_of("automated_decision", AUTOMATED_DECISIONS, required=True)
    puid = body.get("puid")
    if not _filled(puid):
        err("puid", "field is required")
    elif not isinstance(puid, str) or len(puid) > 500:
        err("puid", "must be a string of at most 500 characters")
    elif not PUID_RE.fullmatch(puid):
        err("puid", "format is invalid")
    return errors


# -- the client -----------------------------------------------------------------------------------


class TdbUnavailable(RuntimeError):
    """A transient failure (network, 5xx, 429): retry later. `outcomes` holds what was learnt
    before it (duplicates and refusals found on an earlier round)."""

    def __init__(self, message: str, outcomes: dict[str, Outcome] | None = None) -> None:
        super().__init__(message)
        self.outcomes = outcomes or {}


class TdbConfigurationError(RuntimeError):
    """The Database refused us, not the statements (401, 403, 404, 405): fix the URL or token."""


@dataclass(frozen=True)
class Outcome:
    status: str  # accepted | duplicate | rejected
    reference: str | None = None  # the Database's uuid, for an accepted statement
    error: str | None = None


class TdbClient:
    """`POST /api/v1/statements` with the Bearer token; one httpx client per process is reused."""

    def __init__(self, base_url: str, token: str, *, http: httpx.Client | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._http = http
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Any, http: httpx.Client | None = None) -> TdbClient:
        if not settings.tdb_url:
            raise TdbConfigurationError("no Transparency Database configured (STAYDOWN_TDB_URL)")
        return cls(
            settings.tdb_url, settings.tdb_token.get_secret_value(), http=http, timeout=settings.tdb_timeout_seconds
        )

    def _post(self, statements: list[dict[str, Any]]) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        content = json.dumps({"statements": statements}, separators=(",", ":"))
        url = self.base_url + STATEMENTS_PATH
        if self._http is not None:
            return self._http.post(url, content=content, headers=headers, timeout=self.timeout)
        with guarded_client(OPERATOR, timeout=self.timeout, request_seconds=self.timeout) as http:
            return http.post(url, content=content, headers=headers)

    def submit(self, statements: list[dict[str, Any]]) -> dict[str, Outcome]:
        """Outcome per puid. Raises TdbUnavailable (retry later) or TdbConfigurationError."""
        if len(statements) > MAX_BATCH:
            raise ValueError(f"the Database takes at most {MAX_BATCH} statements a call")
        outcomes: dict[str, Outcome] = {}
        remaining = list(statements)
        # Each round settles at least one statement or ends: at most len(statements) + 1 calls.
        for _ in range(len(statements) + 1):
            if not remaining:
                break
            try:
                response = self._post(remaining)
            except httpx.HTTPError as exc:
                raise TdbUnavailable(
                    f"the Transparency Database did not answer: {type(exc).__name__}: {exc}", outcomes
                ) from exc
            status = response.status_code
            if status in (200, 201):
                stored = _json(response).get("statements") or []
                refs = {s.get("puid"): s.get("uuid") or s.get("id") for s in stored if isinstance(s, dict)}
                for body in remaining:
                    outcomes[body["puid"]] = Outcome("accepted", reference=_str(refs.get(body["puid"])))
                remaining = []
                break
            if status == 429 or status >= 500:
                raise TdbUnavailable(f"the Transparency Database answered HTTP {status}", outcomes)
            if status in (401, 403, 404, 405):
                raise TdbConfigurationError(f"the Transparency Database answered HTTP {status}: {response.text[:300]}")
            data = _json(response)
            found = data.get("errors")
            errors = found if isinstance(found, dict) else {}
            if status == 422 and errors.get("existing_puids"):
                existing = {str(p) for p in errors["existing_puids"]}
                settled = [b for b in remaining if b["puid"] in existing]
                if not settled:
                    # Duplicates we did not send: nothing to learn from a second identical call.
                    raise TdbUnavailable(
                        "the Transparency Database reported duplicate puids that are not in this batch", outcomes
                    )
                for body in settled:
                    outcomes[body["puid"]] = Outcome("duplicate")
                remaining = [b for b in remaining if b["puid"] not in existing]
                continue
            indexed = {k: v for k, v in errors.items() if re.fullmatch(r"statement_\d+", k)}
            if status == 422 and indexed:
                refused = set()
                for key, problems in indexed.items():
                    index = int(key.split("_", 1)[1])
                    if 0 <= index < len(remaining):
                        refused.add(index)
                        outcomes[remaining[index]["puid"]] = Outcome(
                            "rejected", error=_errors_text(problems, f"HTTP {status}")
                        )
                if not refused:
                    raise TdbUnavailable("the Transparency Database refused statements it did not name", outcomes)
                remaining = [b for i, b in enumerate(remaining) if i not in refused]
                continue
            # Any other 4xx is about what we sent: each statement in it is refused with the answer.
            message = _errors_text(errors or data.get("message") or response.text[:500], f"HTTP {status}")
            for body in remaining:
                outcomes[body["puid"]] = Outcome("rejected", error=message)
            remaining = []
            break
        return outcomes


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _str(value: Any) -> str | None:
    return None if value is None else str(value)[:200]


def _errors_text(problems: Any, prefix: str) -> str:
    if isinstance(problems, dict):
        body = "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in problems.items())
    else:
        body = str(problems)
    return f"{prefix}: {body}"[:MAX_ERROR_CHARS]


# -- submission -----------------------------------------------------------------------------------


@dataclass
class SubmitReport:
    batches: int = 0
    accepted: int = 0
    duplicates: int = 0  # already in the Database: done, and not counted as a new submission
    rejected: int = 0
    transient: str | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def submitted(self) -> int:
        return self.accepted + self.duplicates


def pending_statements(db: Session, *, limit: int) -> list[StatementOfReasons]:
    return list(
        db.execute(
            sa.select(StatementOfReasons)
            .where(StatementOfReasons.tdb_state == TdbState.pending.value)
            .order_by(StatementOfReasons.id)
            .limit(limit)
        ).scalars()
    )


def record_outcomes(
    db: Session,
    *,
    actor: Actor,
    statements: list[StatementOfReasons],
    outcomes: dict[str, Outcome],
    report: SubmitReport,
    transient: str | None = None,
) -> None:
    """Write what the Database said about each statement; audit the batch and each refusal."""
    when = now(db)
    batch = {"accepted": 0, "duplicates": 0, "rejected": 0, "transient": 0}
    for statement in statements:
        outcome = outcomes.get(statement.tdb_puid)
        statement.tdb_attempts += 1
        if outcome is None:
            if transient:
                statement.tdb_error = f"transient: {transient}"[:MAX_ERROR_CHARS]
                batch["transient"] += 1
            continue
        if outcome.status in ("accepted", "duplicate"):
            statement.tdb_state = TdbState.submitted.value
            statement.tdb_error = None
            if statement.tdb_submitted_at is None:
                statement.tdb_submitted_at = when
            if outcome.reference:
                statement.tdb_reference = outcome.reference
            key = "accepted" if outcome.status == "accepted" else "duplicates"
            batch[key] += 1
        else:
            statement.tdb_state = TdbState.failed.value
            statement.tdb_error = (outcome.error or "refused")[:MAX_ERROR_CHARS]
            batch["rejected"] += 1
            report.errors.append(statement.tdb_error)
            audit.record(
                db,
                actor=actor,
                tag=AuditTag.TDB_FAIL,
                subject_type="statement",
                subject_id=statement.id,
                data={"puid": statement.tdb_puid, "error": statement.tdb_error[:500]},
            )
    report.accepted += batch["accepted"]
    report.duplicates += batch["duplicates"]
    report.rejected += batch["rejected"]
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.TDB_SUBMIT,
        subject_type="statement_batch",
        subject_id=statements[0].id if statements else 0,
        data={**batch, "statements": len(statements), "last_id": statements[-1].id if statements else None},
    )


def submit_pending(
    db: Session,
    *,
    client: TdbClient,
    actor: Actor = SYSTEM,
    batch_size: int = MAX_BATCH,
    max_batches: int = 20,
    include_reviewer_facts: bool = False,
) -> SubmitReport:
    """Submit pending statements in batches. This is an edge (the job or the CLI): it commits
    before each call to the Database, so that no transaction waits on the network, and after
    recording each batch. Raises TdbUnavailable after recording a transient failure."""
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
    report = SubmitReport()
    for _ in range(max_batches):
        statements = pending_statements(db, limit=batch_size)
        if not statements:
            break
        bodies: list[dict[str, Any]] = []
        local: dict[str, Outcome] = {}
        for statement in statements:
            body = tdb_statement(statement, include_reviewer_facts=include_reviewer_facts)
            problems = validate_statement(body)
            if problems:
                # A body the Database would refuse is never sent: it is failed here, with why.
                local[statement.tdb_puid] = Outcome("rejected", error=_errors_text(problems, "not sent"))
            else:
                bodies.append(body)
        db.commit()
        report.batches += 1
        try:
            outcomes = client.submit(bodies) if bodies else {}
        except TdbUnavailable as exc:
            report.transient = str(exc)
            record_outcomes(
                db,
                actor=actor,
                statements=statements,
                outcomes={**exc.outcomes, **local},
                report=report,
                transient=str(exc),
            )
            db.commit()
            raise
        record_outcomes(db, actor=actor, statements=statements, outcomes={**outcomes, **local}, report=report)
        db.commit()
        if len(statements) < batch_size:
            break
    return report


def requeue_failed(db: Session, *, actor: Actor, reason: str, ids: list[int] | None = None) -> int:
    """Send refused statements again (after the cause was fixed: a policy text, a schema change),
    built afresh from their rows. Audited per statement, with the refusal it clears."""
    if len(reason.strip()) < 10:
        raise InvalidInput("say why these statements can go again (at least 10 characters)")
    stmt = sa.select(StatementOfReasons).where(StatementOfReasons.tdb_state == TdbState.failed.value)
    if ids is not None:
        stmt = stmt.where(StatementOfReasons.id.in_(ids))
    rows = db.execute(stmt.order_by(StatementOfReasons.id)).scalars().all()
    for statement in rows:
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.TDB_REQUEUE,
            subject_type="statement",
            subject_id=statement.id,
            data={"reason": reason, "previous_error": (statement.tdb_error or "")[:500]},
        )
        statement.tdb_state = TdbState.pending.value
        statement.tdb_error = None
    return len(rows)


BACKLOG_ALERT_AFTER = timedelta(hours=24)


def tdb_submit_job(db: Session, ctx: JobContext) -> None:
    """The periodic job: submit what is pending, if a Database is configured. Without one the
    statements wait, pending, for the day it is.

    An outage is not the job's failure: the statements stay pending and the next run (a minute
    later) tries again, so retrying this run too would only add dead-job alarms, one a minute.
    What people must hear about is a backlog: once the oldest pending statement is a day old, the
    administrators get one alert (until they acknowledge it)."""
    settings = ctx.services["settings"]
    if not settings.tdb_url:
        return
    client = TdbClient.from_settings(settings, http=ctx.services.get("tdb_http_client"))
    try:
        report = submit_pending(
            db,
            client=client,
            batch_size=settings.tdb_batch_size,
            max_batches=settings.tdb_max_batches_per_run,
            include_reviewer_facts=settings.tdb_include_reviewer_facts,
        )
    except (TdbUnavailable, TdbConfigurationError) as exc:
        log.warning("transparency database: nothing more sent this run: %s", exc)
        db.rollback()
        _alert_on_backlog(db, problem=str(exc))
        return
    if report.submitted or report.rejected:
        log.info(
            "transparency database: %s accepted, %s already there, %s refused in %s batch(es)",
            report.accepted,
            report.duplicates,
            report.rejected,
            report.batches,
        )


def _alert_on_backlog(db: Session, *, problem: str) -> None:
    oldest = db.scalar(
        sa.select(sa.func.min(StatementOfReasons.issued_at)).where(
            StatementOfReasons.tdb_state == TdbState.pending.value
        )
    )
    when = now(db)
    if oldest is None or when - _aware(oldest) < BACKLOG_ALERT_AFTER:
        return
    open_alert = db.scalar(
        sa.select(sa.func.count())
        .select_from(StaffAlert)
        .where(StaffAlert.kind == "tdb_backlog", StaffAlert.acknowledged_at.is_(None))
    )
    if open_alert:
        return
    db.add(
        StaffAlert(
            role="admin",
            kind="tdb_backlog",
            case_id=None,
            created_at=when,
            message=(
                f"statements of reasons have waited for the EU Transparency Database since "
                f"{_aware(oldest).isoformat()} (DSA Art. 24(5)); last problem: {problem[:500]}"
            ),
        )
    )
    db.commit()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
