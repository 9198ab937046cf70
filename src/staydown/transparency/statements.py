"""Statements of reasons (DSA Art. 17): issued with every restriction, rendered in the platform's
languages, delivered with the action, readable by their code.

What is a restriction: every content action (removal, disabling, age restriction, demotion,
exclusion from recommendations, demonetisation, labelling, the interim restriction) and the
account measures `suspend` and `terminate`. A `warn` restricts nothing (it is the prior warning
DSA Art. 23 asks for), a `strike` is a record that may lead to a measure (which then gets its own
statement), and `restore`/`restore_account` lift restrictions: none of these gets a statement.

Reporter identity never reaches the affected user: the source is said as a kind ("a report from a
person", "a trusted flagger"), and the names, e-mail addresses, platform ids and signatures of the
case's notifiers are cut out of the facts before they are stored.
"""

from __future__ import annotations

import secrets
import weakref
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit, codes, i18n
from staydown.actors import Actor
from staydown.audit import AuditTag
from staydown.db import now
from staydown.errors import InvalidInput, NotFound
from staydown.i18n import N_
from staydown.policies.schema import GroundNotCited, Policy
from staydown.policies.vocab import (
    BASE_LANGUAGE,
    CONTENT_ACTIONS,
    DECISION_GROUND_ILLEGAL,
)
from staydown.transparency import texts
from staydown.transparency.models import (
    AutomatedDecision,
    DecisionGround,
    StatementOfReasons,
    StatementSource,
    TdbState,
)
from staydown.transparency.scrub import REDACTED, case_scrubber

RESTRICTIONS: frozenset[str] = frozenset(CONTENT_ACTIONS) | {"suspend", "terminate"}

# The 30 EEA states as the Transparency Database spells them (Greece is GR, not EL).
EEA_COUNTRIES: tuple[str, ...] = (
    "AT",
    "BE",
    "BG",
    "CY",
    "CZ",
    "DE",
    "DK",
    "EE",
    "ES",
    "FI",
    "FR",
    "GR",
    "HR",
    "HU",
    "IE",
    "IS",
    "IT",
    "LI",
    "LT",
    "LU",
    "LV",
    "MT",
    "NL",
    "NO",
    "PL",
    "PT",
    "RO",
    "SE",
    "SI",
    "SK",
)
_COUNTRY_ALIASES = {"EL": "GR"}

# Crockford's base32, as notice tracking codes; the "S" says which kind of code a person holds.
CODE_PREFIX = "S"

_SETTINGS_KEY = "staydown.statements.settings"
_CACHE_KEY = "staydown.statements.cache"


# -- configuration --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatementSettings:
    """What issuing a statement needs from settings; `apply_action` has no settings of its own."""

    public_base_url: str = "http://127.0.0.1:8000"
    platform_name: str = "this platform"
    languages: tuple[str, ...] = (BASE_LANGUAGE,)
    appeal_window: timedelta = timedelta(days=183)
    catalogue: Any = None  # the catalogue in force; None = the default catalogue

    @classmethod
    def from_settings(cls, settings: Any, catalogue: Any = None) -> StatementSettings:
        return cls(
            public_base_url=settings.base_url,
            platform_name=settings.platform_name,
            languages=tuple(dict.fromkeys(settings.platform_languages)) or (BASE_LANGUAGE,),
            appeal_window=timedelta(days=settings.appeal_window_days),
            catalogue=catalogue,
        )


_BY_ENGINE: weakref.WeakKeyDictionary[Any, StatementSettings] = weakref.WeakKeyDictionary()


def configure(database: Any, settings: Any, *, catalogue: Any = None) -> StatementSettings:
    """Tie statement settings to a database's engine: every session on it issues statements with
    them. Called by the app factory and `build_database`; a session may override them with
    `use_statement_settings`."""
    config = StatementSettings.from_settings(settings, catalogue)
    _BY_ENGINE[database.engine] = config
    return config


def use_statement_settings(db: Session, config: StatementSettings) -> None:
    db.info[_SETTINGS_KEY] = config


def statement_settings(db: Session) -> StatementSettings:
    found = db.info.get(_SETTINGS_KEY)
    if found is not None:
        return found
    bind = db.get_bind()
    for engine in (bind, getattr(bind, "engine", None), getattr(bind, "_proxied", None)):
        if engine is not None:
            try:
                config = _BY_ENGINE.get(engine)
            except TypeError:
                config = None
            if config is not None:
                return config
    return StatementSettings()


# -- texts ----------------------------------------------------------------------------------------
# The sentences live in transparency/texts/<language>.yaml (see texts.py).

STATE_PENDING = "pending_review"  # an interim restriction: no one has decided yet
STATE_DECIDED = "decided"


def _label(language: str, key: str, **values: Any) -> str:
    return texts.label(language, key, **values)


def _in(language: str, text: str | None) -> str | None:
    """A ground's words from the shipped catalogue in `language` (its reference and explanation
    are translated with it); a platform's own words, and a legal citation, as written."""
    return i18n.shipped_translation(text, language) or text if text else text


def eea_scope(scope: list[str]) -> list[str]:
    """The EEA states a territorial scope covers, as the Transparency Database spells them;
    an empty scope means everywhere."""
    if not scope:
        return list(EEA_COUNTRIES)
    wanted = {_COUNTRY_ALIASES.get(c.upper(), c.upper()) for c in scope}
    return [c for c in EEA_COUNTRIES if c in wanted]


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


# -- issuing --------------------------------------------------------------------------------------


@dataclass
class _CaseFacts:
    source: str = StatementSource.own_initiative.value
    reporters: list[str] = field(default_factory=list)  # identities that must not reach the user


def _cache(db: Session) -> dict[str, dict[Any, Any]]:
    """Lookups shared by the statements of one transaction (a sweep issues a thousand)."""
    txn = db.get_transaction()
    entry = db.info.get(_CACHE_KEY)
    if entry is None or entry[0] is not txn:
        entry = (txn, {"cases": {}, "case_rows": {}, "policies": {}})
        db.info[_CACHE_KEY] = entry
    return entry[1]


def _case_facts(db: Session, case: Any, cache: dict[str, dict[Any, Any]]) -> _CaseFacts:
    from staydown.intake.models import Notice, NoticeItem, NoticeKind, TrustedFlagger

    if case is None:
        return _CaseFacts()
    # A notice that joins later in the same transaction raises notice_count, so it is seen.
    key = (case.id, case.notice_count)
    found = cache["cases"].get(key)
    if found is not None:
        return found
    rows = db.execute(
        sa.select(
            Notice.kind,
            Notice.contact_name,
            Notice.contact_email,
            Notice.reporter_platform_id,
            Notice.signature,
            TrustedFlagger.name,
        )
        .outerjoin(TrustedFlagger, TrustedFlagger.id == Notice.trusted_flagger_id)
        .where(Notice.id.in_(sa.select(NoticeItem.notice_id).where(NoticeItem.case_id == case.id)))
    ).all()
    kinds = {r[0] for r in rows}
    if NoticeKind.trusted_flagger.value in kinds:
        source = StatementSource.trusted_flagger
    elif kinds & {NoticeKind.law_enforcement.value, NoticeKind.authority_order.value, NoticeKind.terrorist_order.value}:
        source = StatementSource.other_notification
    elif kinds & {
        NoticeKind.user_report.value,
        NoticeKind.public_report.value,
        NoticeKind.dsa_notice.value,
        NoticeKind.take_it_down.value,
    }:
        source = StatementSource.notice
    else:
        source = StatementSource.own_initiative  # a scan detection, or no notice at all
    reporters = sorted({v for r in rows for v in r[1:] if v})
    facts = _CaseFacts(source.value, reporters)
    cache["cases"][key] = facts
    return facts


def _policy(
    db: Session, config: StatementSettings, cache: dict[str, dict[Any, Any]], ref: str | None, policy_id: str | None
) -> Policy | None:
    from staydown.policies.queries import current_policy, policy_version
    from staydown.policies.catalogue import PolicyRefError, default_catalogue, parse_ref

    key = ref or f"current:{policy_id}"
    if key in cache["policies"]:
        return cache["policies"][key]
    found: Policy | None = None
    catalogue = config.catalogue or default_catalogue()
    try:
        wanted_id, wanted_version = parse_ref(ref) if ref else (policy_id, None)
    except PolicyRefError:
        wanted_id, wanted_version = None, None
    if wanted_id and wanted_id in catalogue:
        candidate = catalogue.get(wanted_id)
        if wanted_version is None or candidate.version == wanted_version:
            found = candidate
    if found is None and wanted_id:
        try:  # an older version, kept in the database
            found = policy_version(db, ref) if ref else current_policy(db, wanted_id)
        except (NotFound, InvalidInput):
            found = None
    cache["policies"][key] = found
    return found


def _ground(policy: Policy | None, config: StatementSettings) -> dict[str, Any]:
    if policy is not None:
        try:
            fields = policy.dsa_statement_fields()
        except GroundNotCited:
            fields = None
        if fields is not None:
            illegal = fields["decision_ground"] == DECISION_GROUND_ILLEGAL
            dsa = {
                k: v
                for k, v in fields.items()
                if k
                in (
                    "category_addition",
                    "category_specification",
                    "category_specification_other",
                    "decision_ground_reference_url",
                )
            }
            return {
                "decision_ground": (
                    DecisionGround.illegal_content if illegal else DecisionGround.incompatible_content
                ).value,
                "legal_ground": fields.get("illegal_content_legal_ground"),
                "legal_explanation": fields.get("illegal_content_explanation"),
                "contractual_ground": fields.get("incompatible_content_ground"),
                "contractual_explanation": fields.get("incompatible_content_explanation"),
                "category": fields["category"],
                "dsa": dsa,
            }
    # No policy to cite (an action taken outside a case's policy): the terms, said neutrally.
    neutral = texts.lookup(BASE_LANGUAGE, "no_policy_ground")
    return {
        "decision_ground": DecisionGround.incompatible_content.value,
        "legal_ground": None,
        "legal_explanation": None,
        "contractual_ground": neutral["reference"].format(platform_name=config.platform_name),
        "contractual_explanation": neutral["explanation"],
        "category": "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
        "dsa": {},
    }


def _pending_ground(config: StatementSettings, policy: Policy | None) -> dict[str, Any]:
    """The ground of a restriction while content is reviewed: the terms that allow the
    precaution. No rule has been found broken, so no law is cited as applied; the category is the
    report's (what the review is about), which the Transparency Database needs and which names
    nobody (its puid cannot be tied to the user)."""
    decided = _ground(policy, config)
    pending = texts.lookup(BASE_LANGUAGE, "pending_ground")
    return {
        "decision_ground": DecisionGround.incompatible_content.value,
        "legal_ground": None,
        "legal_explanation": None,
        "contractual_ground": pending["reference"].format(platform_name=config.platform_name),
        "contractual_explanation": pending["explanation"],
        "category": decided["category"],
        "dsa": {k: v for k, v in decided["dsa"].items() if k not in ("decision_ground_reference_url",)},
    }


def new_statement_code() -> str:
    return codes.grouped(codes.random_chars(), CODE_PREFIX)


def normalise_statement_code(code: str) -> str:
    found = codes.normalise(code, prefix=CODE_PREFIX)
    if found is None:
        raise NotFound(N_("no statement of reasons with that code"))
    return found


def _without_reporters(text: str, reporters: list[str]) -> str:
    import re

    for value in sorted((r for r in reporters if len(r.strip()) >= 2), key=len, reverse=True):
        text = re.sub(re.escape(value.strip()), "[the notifier]", text, flags=re.IGNORECASE)
    return text


def _content_date(content: Any, fallback: datetime) -> str:
    when = (content.created_at or content.first_seen_at) if content is not None else fallback
    return when.date().isoformat()


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
                f"{_in(language, statement.legal_explanation) or ''}".strip()
            )
        if statement.contractual_ground:
            parts.append(
                f"{_label(language, 'terms')}: {_in(language, statement.contractual_ground)}. "
                f"{_in(language, statement.contractual_explanation) or ''}".strip()
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


def issue_statement(db: Session, *, actor: Actor, action: Any) -> StatementOfReasons | None:
    """The statement of reasons for a restricting action, issued with it (DSA Art. 17(1): at the
    latest when the restriction is imposed). None for an action that restricts nothing."""
    return issue_statements(db, actor=actor, actions=[action])[0]


def issue_statements(db: Session, *, actor: Actor, actions: list[Any]) -> list[StatementOfReasons | None]:
    """`issue_statement` for many actions at once (a stay-down sweep's chunk): the same statements,
    inserted with one flush, their accounts read in one query. One entry per action, in order."""
    from staydown.cases.models import Case
    from staydown.subjects.models import PlatformAccount, PlatformContent

    config = statement_settings(db)
    cache = _cache(db)
    when = now(db)
    restricting = [a for a in actions if a.kind in RESTRICTIONS]
    # Into the identity map (held here: it keeps objects only while someone refers to them), one
    # query per kind, so that _build_statement's db.get asks nothing: a batch of notices' interim
    # restrictions asked four questions each.
    held: list[Any] = []
    if len(restricting) > 1:
        cases = _load(db, Case, {a.case_id for a in restricting if a.case_id})
        held += cases
        held += _load(
            db,
            PlatformContent,
            {a.content_id for a in restricting if a.content_id} | {c.content_id for c in cases if c.content_id},
        )
        held += _load(
            db,
            PlatformAccount,
            {a.account_id for a in restricting if a.account_id}
            | {c.account_id for c in held if isinstance(c, PlatformContent) and c.account_id},
        )
    statements = [_build_statement(db, action, config, cache, when) for action in actions]
    del held
    made = [s for s in statements if s is not None]
    if not made:
        return statements
    db.add_all(made)
    db.flush()
    for action, statement in zip(actions, statements):
        if statement is None:
            continue
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.STATEMENT_ISSUE,
            subject_type="statement",
            subject_id=statement.id,
            data={
                "action_id": action.id,
                "case_id": action.case_id,
                "measure": action.kind,
                "policy_ref": statement.policy_ref,
                "source": statement.source,
                "automated_detection": statement.automated_detection,
                "automated_decision": statement.automated_decision,
                "tdb_state": statement.tdb_state,
            },
        )
    return statements


def _load(db: Session, model: Any, ids: set[int]) -> list[Any]:
    return list(db.execute(sa.select(model).where(model.id.in_(sorted(ids)))).scalars()) if ids else []


def _build_statement(
    db: Session, action: Any, config: StatementSettings, cache: dict[str, dict[Any, Any]], when: datetime
) -> StatementOfReasons | None:
    from staydown.cases.models import Case
    from staydown.subjects.models import PlatformAccount, PlatformContent

    if action.kind not in RESTRICTIONS:
        return None
    case = None
    if action.case_id:
        # Held here too: the identity map keeps objects only while someone refers to them.
        case = cache["case_rows"].get(action.case_id) or db.get(Case, action.case_id)
        cache["case_rows"][action.case_id] = case
    case_facts = _case_facts(db, case, cache)
    policy = _policy(db, config, cache, action.policy_ref, case.policy_id if case else None)
    content = db.get(PlatformContent, action.content_id) if action.content_id else None
    account = db.get(PlatformAccount, action.account_id) if action.account_id else None
    case_content = None
    if case is not None and case.content_id:
        key = ("content", case.content_id)
        case_content = cache["case_rows"].get(key) or db.get(PlatformContent, case.content_id)
        cache["case_rows"][key] = case_content
    context_content = content if content is not None else case_content
    if content is not None and content.account_id and account is None:
        # Loaded with the content wherever contents are selected (sweeps, decisions): no query.
        loaded = "account" in sa.inspect(content).dict
        owner = content.account if loaded else db.get(PlatformAccount, content.account_id)
    else:
        owner = account
    copy = bool((action.details or {}).get("copy_of_case"))
    source = StatementSource.own_initiative.value if copy else case_facts.source
    # Automation is read from the action, where apply_actions set it by one rule
    # (enforcement.automation): the feed, the statement, the Database and the report agree.
    automated_detection = bool(action.automated_detection)
    automated = (AutomatedDecision.fully if action.automated_decision else AutomatedDecision.not_automated).value
    pending = bool(action.interim)
    ground = _pending_ground(config, policy) if pending else _ground(policy, config)
    facts = _without_reporters(action.facts or "", case_facts.reporters).strip()
    involved = (content, case_content, owner, getattr(case_content, "account", None))
    scrub = case_scrubber(db, action.case_id)
    # An interim restriction relies on no finding: its facts are the rule that imposed it, which
    # the user is told in the statement's own words, not in our internal note.
    public_facts = (
        ""
        if pending
        else scrub(
            facts,
            also=[
                v
                for x in involved
                for v in (getattr(x, "platform_id", None), getattr(x, "url", None), getattr(x, "handle", None))
            ],
        )
    )
    if public_facts.strip() in ("", REDACTED):
        public_facts = ""
    code = new_statement_code()
    scope = list(action.territorial_scope or [])
    # The statement is in the language of the user the platform names (the account's, told by
    # PUT /v1/accounts), when the platform serves it; else the platform's first language.
    language = i18n.user_language(getattr(owner, "language", None), config.languages)
    statement = StatementOfReasons(
        code=code,
        action_id=action.id,
        case_id=action.case_id,
        content_id=action.content_id,
        account_id=action.account_id,
        measure=action.kind,
        target=action.target,
        policy_ref=action.policy_ref or (policy.ref if policy else None),
        decision_ground=ground["decision_ground"],
        legal_ground=ground["legal_ground"],
        legal_explanation=ground["legal_explanation"],
        contractual_ground=ground["contractual_ground"],
        contractual_explanation=ground["contractual_explanation"],
        category=ground["category"],
        facts=facts or measure_text(action.kind, scope, action.ends_at),
        source=source,
        automated_detection=automated_detection,
        automated_decision=automated,
        territorial_scope=scope,
        starts_at=action.created_at or when,
        ends_at=action.ends_at,
        language=language,
        appeal_deadline=when + config.appeal_window,
        issued_at=when,
        # Nothing restricted in the EEA is nothing the Transparency Database takes.
        tdb_state=(TdbState.pending if eea_scope(scope) else TdbState.not_required).value,
        # Random, so that the public Database reveals neither the code nor any platform id.
        tdb_puid="sd-sor-" + secrets.token_hex(16),
        tdb_attempts=0,
        redress={
            "appeal_url": f"{config.public_base_url}/appeal?statement={code}",
            "appeal_deadline": (when + config.appeal_window).isoformat(),
            "internal_complaint": "DSA Art. 20: free of charge, electronically, decided by a person who was "
            "not involved in the decision",
            "out_of_court": "DSA Art. 21: a certified out-of-court dispute settlement body",
            "judicial": "the courts, at any time",
        },
        details={
            "url": f"{config.public_base_url}/statements/{code}",
            "policy_title": policy.title if policy else None,
            "dsa": ground["dsa"],
            "content_kind": context_content.kind if context_content is not None else None,
            "content_date": _content_date(context_content, when),
            "public_facts": public_facts,
            "interim": bool(action.interim),
            "state": STATE_PENDING if pending else STATE_DECIDED,
            "copy_of_case": bool(copy),
        },
    )
    statement.rendered = {
        lang: render_statement(statement, policy, config, lang) for lang in dict.fromkeys((language, *config.languages))
    }
    return statement


# -- queries --------------------------------------------------------------------------------------


def statement_by_code(db: Session, code: str) -> StatementOfReasons:
    found = db.execute(
        sa.select(StatementOfReasons).where(StatementOfReasons.code == normalise_statement_code(code))
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(N_("no statement of reasons with that code"))
    return found


def statement_for_action(db: Session, action_id: int) -> StatementOfReasons | None:
    return db.execute(
        sa.select(StatementOfReasons).where(StatementOfReasons.action_id == action_id)
    ).scalar_one_or_none()


def statements_for(
    db: Session,
    *,
    case_id: int | None = None,
    content_id: int | None = None,
    account_id: int | None = None,
    action_id: int | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[StatementOfReasons]:
    """Statements by what they concern, oldest first; at least one filter is required."""
    if case_id is None and content_id is None and account_id is None and action_id is None:
        raise InvalidInput("say which statements: case_id, content_id, account_id or action_id")
    if not 1 <= limit <= 500:
        raise InvalidInput("limit must be between 1 and 500")
    stmt = sa.select(StatementOfReasons).where(StatementOfReasons.id > after_id)
    if case_id is not None:
        stmt = stmt.where(StatementOfReasons.case_id == case_id)
    if content_id is not None:
        stmt = stmt.where(StatementOfReasons.content_id == content_id)
    if account_id is not None:
        stmt = stmt.where(StatementOfReasons.account_id == account_id)
    if action_id is not None:
        stmt = stmt.where(StatementOfReasons.action_id == action_id)
    return list(db.execute(stmt.order_by(StatementOfReasons.id).limit(limit)).scalars())


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def public_view(statement: StatementOfReasons) -> dict[str, Any]:
    """What anyone holding the code may read: every DSA Art. 17(3) element, and no personal data
    (no platform ids, no internal ids, the facts scrubbed, no Transparency Database identifier)."""
    state = statement_state(statement)
    pending = state == STATE_PENDING
    rendered = statement.rendered.get(statement.language) or next(iter(statement.rendered.values()), "")
    return {
        "code": statement.code,
        "issued_at": _iso(statement.issued_at),
        "state": state,
        # The first sentence as issued: what was done (a restriction pending review, or a decision).
        "headline": rendered.split("\n", 1)[0],
        "measure": statement.measure,
        "target": statement.target,
        "measure_text": measure_text(
            statement.measure, statement.territorial_scope, statement.ends_at, pending=pending
        ),
        "territorial_scope": list(statement.territorial_scope),
        "starts_at": _iso(statement.starts_at),
        "ends_at": _iso(statement.ends_at),
        # While a review is pending no rule has been applied: the page names none (the ground is
        # the terms that allow the precaution). Decided, the policy's title is what a person reads.
        "policy": (
            {"ref": None, "title": None}
            if pending
            else {"ref": statement.policy_ref, "title": statement.details.get("policy_title")}
        ),
        "copy_of_case": bool(statement.details.get("copy_of_case")),
        "decision_ground": statement.decision_ground,
        "legal_ground": statement.legal_ground,
        "legal_explanation": statement.legal_explanation,
        "contractual_ground": statement.contractual_ground,
        "contractual_explanation": statement.contractual_explanation,
        "category": statement.category,
        "facts": statement.details.get("public_facts") or "",
        "source": statement.source,
        "automated_detection": statement.automated_detection,
        "automated_decision": statement.automated_decision,
        "redress": dict(statement.redress),
        "appeal_deadline": _iso(statement.appeal_deadline),
        "language": statement.language,
        "rendered": dict(statement.rendered),
    }


def public_view_in(db: Session, statement: StatementOfReasons, language: str) -> dict[str, Any]:
    """`public_view` for a reader of `language` (the public page): the first sentence, the
    measure and the rule in that language, the rest as issued."""
    view = public_view(statement)
    config = statement_settings(db)
    pending = view["state"] == STATE_PENDING
    issued = statement.rendered.get(language)
    view["headline"] = issued.split("\n", 1)[0] if issued else headline(statement, language, config.platform_name)
    view["measure_text"] = measure_text(
        statement.measure, statement.territorial_scope, statement.ends_at, language, pending=pending
    )
    view["policy"] = {**view["policy"], "rule": None}
    for name in ("legal_explanation", "contractual_ground", "contractual_explanation"):
        view[name] = _in(language, view[name])
    if pending:  # the terms that allow the precaution, in the reader's words
        ground = texts.lookup(language, "pending_ground")
        view["contractual_ground"] = ground["reference"].format(platform_name=config.platform_name)
        view["contractual_explanation"] = ground["explanation"]
    if not pending:
        policy = _policy(db, config, _cache(db), statement.policy_ref, None)
        if policy is not None:
            text = policy.text(language)
            view["policy"].update(title=text.title, rule=text.rule.strip())
    return view


def delivery_view(statement: StatementOfReasons) -> dict[str, Any]:
    """What the platform receives with the action, to show its user (the delivery path)."""
    return {
        "code": statement.code,
        "url": statement.details.get("url"),
        "appeal_url": statement.redress.get("appeal_url"),
        "appeal_deadline": _iso(statement.appeal_deadline),
        "language": statement.language,
        "rendered": dict(statement.rendered),
    }


def staff_view(statement: StatementOfReasons) -> dict[str, Any]:
    """The full record for staff and API clients: ids, the unscrubbed facts (minus the notifiers'
    identity, which no statement keeps) and the Transparency Database state."""
    return {
        **public_view(statement),
        "id": statement.id,
        "action_id": statement.action_id,
        "case_id": statement.case_id,
        "content_id": statement.content_id,
        "account_id": statement.account_id,
        "facts": statement.facts,
        "public_facts": statement.details.get("public_facts") or "",
        "tdb": {
            "state": statement.tdb_state,
            "puid": statement.tdb_puid,
            "attempts": statement.tdb_attempts,
            "submitted_at": _iso(statement.tdb_submitted_at),
            "reference": statement.tdb_reference,
            "error": statement.tdb_error,
        },
    }


def statement_for_delivery(db: Session, action_id: int) -> dict[str, Any] | None:
    """The `statement` of an action's webhook body and pull-feed entry (None: not a restriction)."""
    found = statement_for_action(db, action_id)
    return delivery_view(found) if found is not None else None
