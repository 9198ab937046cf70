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

This module issues them; `statement_text` words them, `statement_views` reads them back (by code,
for the public page, staff and the platform), `statement_settings` says what they are issued with.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit, codes, i18n
from staydown.actors import Actor
from staydown.audit import AuditTag
from staydown.cases.models import Case
from staydown.db import now
from staydown.errors import InvalidInput, NotFound
from staydown.i18n import N_
from staydown.intake.models import Notice, NoticeItem, NoticeKind, TrustedFlagger
from staydown.policies.catalogue import PolicyRefError, default_catalogue, parse_ref
from staydown.policies.queries import current_policy, policy_version
from staydown.policies.schema import GroundNotCited, Policy
from staydown.policies.vocab import (
    BASE_LANGUAGE,
    CONTENT_ACTIONS,
    DECISION_GROUND_ILLEGAL,
)
from staydown.subjects.models import PlatformAccount, PlatformContent
from staydown.transparency import texts
from staydown.transparency.models import (
    AutomatedDecision,
    DecisionGround,
    StatementOfReasons,
    StatementSource,
    TdbState,
)
from staydown.transparency.scrub import REDACTED, case_scrubber
from staydown.transparency.statement_settings import StatementSettings, statement_settings
from staydown.transparency.statement_text import STATE_DECIDED, STATE_PENDING, measure_text, render_statement

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

_CACHE_KEY = "staydown.statements.cache"


def eea_scope(scope: list[str]) -> list[str]:
    """The EEA states a territorial scope covers, as the Transparency Database spells them;
    an empty scope means everywhere."""
    if not scope:
        return list(EEA_COUNTRIES)
    wanted = {_COUNTRY_ALIASES.get(c.upper(), c.upper()) for c in scope}
    return [c for c in EEA_COUNTRIES if c in wanted]


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
    for value in sorted((r for r in reporters if len(r.strip()) >= 2), key=len, reverse=True):
        text = re.sub(re.escape(value.strip()), "[the notifier]", text, flags=re.IGNORECASE)
    return text


def _content_date(content: Any, fallback: datetime) -> str:
    when = (content.created_at or content.first_seen_at) if content is not None else fallback
    return when.date().isoformat()


def issue_statement(db: Session, *, actor: Actor, action: Any) -> StatementOfReasons | None:
    """The statement of reasons for a restricting action, issued with it (DSA Art. 17(1): at the
    latest when the restriction is imposed). None for an action that restricts nothing."""
    return issue_statements(db, actor=actor, actions=[action])[0]


def issue_statements(db: Session, *, actor: Actor, actions: list[Any]) -> list[StatementOfReasons | None]:
    """`issue_statement` for many actions at once (a stay-down sweep's chunk): the same statements,
    inserted with one flush, their accounts read in one query. One entry per action, in order."""
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
    for action, statement in zip(actions, statements, strict=True):
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


def cited_policy(db: Session, policy_ref: str | None) -> Policy | None:
    """The policy a statement cites, by its reference: from the catalogue in force, or an older
    version kept in the database (None when neither has it)."""
    return _policy(db, statement_settings(db), _cache(db), policy_ref, None)
