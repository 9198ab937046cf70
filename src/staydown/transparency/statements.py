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

from staydown import audit, codes
from staydown.actors import Actor
from staydown.audit import AuditTag
from staydown.db import now
from staydown.errors import InvalidInput, NotFound
from staydown.policies.schema import GroundNotCited, Policy
from staydown.policies.vocab import (
    BASE_LANGUAGE,
    CONTENT_ACTIONS,
    DECISION_GROUND_ILLEGAL,
)
from staydown.transparency.models import (
    AutomatedDecision,
    DecisionGround,
    StatementOfReasons,
    StatementSource,
    TdbState,
)
from staydown.transparency.scrub import REDACTED, scrub_personal_data

RESTRICTIONS: frozenset[str] = frozenset(CONTENT_ACTIONS) | {"suspend", "terminate"}

# The 30 EEA states as the Transparency Database spells them (Greece is GR, not EL).
EEA_COUNTRIES: tuple[str, ...] = (
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IS", "IT",
    "LI", "LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK",
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
    def from_settings(cls, settings: Any, catalogue: Any = None) -> "StatementSettings":
        return cls(public_base_url=settings.public_base_url.rstrip("/"), platform_name=settings.platform_name,
                   languages=tuple(dict.fromkeys(settings.platform_languages)) or (BASE_LANGUAGE,),
                   appeal_window=timedelta(days=settings.appeal_window_days), catalogue=catalogue)


_BY_ENGINE: "weakref.WeakKeyDictionary[Any, StatementSettings]" = weakref.WeakKeyDictionary()


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

MEASURES: dict[str, dict[str, str]] = {
    "en": {
        "remove": "removal of the content",
        "disable": "access to the content disabled",
        "age_restrict": "the content restricted to adults",
        "demote": "the content's visibility reduced",
        "exclude_from_recommendations": "the content excluded from recommendations",
        "demonetise": "monetisation of the content stopped",
        "label": "a label added to the content",
        "restrict_distribution": "the content taken out of recommendations, search and monetisation while a "
                                 "report about it is reviewed",
        "suspend": "suspension of the account",
        "terminate": "closure of the account",
    },
    "de": {
        "remove": "Entfernung des Inhalts",
        "disable": "Sperrung des Zugangs zum Inhalt",
        "age_restrict": "Beschränkung des Inhalts auf Erwachsene",
        "demote": "verringerte Sichtbarkeit des Inhalts",
        "exclude_from_recommendations": "Ausschluss des Inhalts aus Empfehlungen",
        "demonetise": "Einstellung der Monetarisierung des Inhalts",
        "label": "Kennzeichnung des Inhalts",
        "restrict_distribution": "Ausschluss des Inhalts aus Empfehlungen, Suche und Monetarisierung, solange "
                                 "eine Meldung dazu geprüft wird",
        "suspend": "Sperrung des Kontos",
        "terminate": "Schließung des Kontos",
    },
    "fr": {
        "remove": "suppression du contenu",
        "disable": "désactivation de l'accès au contenu",
        "age_restrict": "contenu réservé aux adultes",
        "demote": "visibilité du contenu réduite",
        "exclude_from_recommendations": "contenu exclu des recommandations",
        "demonetise": "monétisation du contenu arrêtée",
        "label": "ajout d'une étiquette au contenu",
        "restrict_distribution": "contenu retiré des recommandations, de la recherche et de la monétisation "
                                 "pendant l'examen d'un signalement",
        "suspend": "suspension du compte",
        "terminate": "fermeture du compte",
    },
}

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "what": "What we did", "where": "Where", "everywhere": "everywhere", "in": "in {countries}",
        "how_long": "For how long", "indefinite": "with no end date", "until": "until {date}",
        "why": "Why", "law": "the law", "terms": "our terms of service", "facts": "Facts relied on",
        "no_facts": "none beyond the rule and the measure above",
        "source": "How we learned of it", "automation": "Automated means",
        "detected": "the content was detected by automated means",
        "not_detected": "the content was not detected by automated means",
        AutomatedDecision.fully.value: "the decision was taken by automated means",
        AutomatedDecision.partially.value: "the decision was taken partly by automated means",
        AutomatedDecision.not_automated.value: "the decision was taken by a person",
        "redress": "How to contest it",
        "appeal": "You can ask us for a review, free of charge, at {url} until {date}. A person who was not "
                  "involved in this decision will look at it.",
        "out_of_court": "You may also turn to an out-of-court dispute settlement body certified under Article 21 "
                        "of the Digital Services Act.",
        "judicial": "You may also take the matter to a court.",
        "code": "Statement code",
        StatementSource.notice.value: "a report (notice) about it",
        StatementSource.trusted_flagger.value: "a report from a trusted flagger",
        StatementSource.other_notification.value: "a notification or order from an authority",
        StatementSource.own_initiative.value: "our own checks",
        "fallback_notice": "We took action on {platform_name} because of our rules.\n\nWhat we did: {measure}."
                           "\n\nIf you believe this is a mistake, you can ask for a review at {appeal_url} until "
                           "{appeal_deadline}.",
        "statement": "Statement of reasons",
    },
    "de": {
        "what": "Was wir getan haben", "where": "Wo", "everywhere": "überall", "in": "in {countries}",
        "how_long": "Wie lange", "indefinite": "ohne Enddatum", "until": "bis {date}",
        "why": "Warum", "law": "das Gesetz", "terms": "unsere Nutzungsbedingungen",
        "facts": "Zugrunde gelegte Tatsachen", "no_facts": "keine über die Regel und die Maßnahme hinaus",
        "source": "Wie wir davon erfahren haben", "automation": "Automatisierte Mittel",
        "detected": "der Inhalt wurde mit automatisierten Mitteln erkannt",
        "not_detected": "der Inhalt wurde nicht mit automatisierten Mitteln erkannt",
        AutomatedDecision.fully.value: "die Entscheidung wurde mit automatisierten Mitteln getroffen",
        AutomatedDecision.partially.value: "die Entscheidung wurde teilweise mit automatisierten Mitteln getroffen",
        AutomatedDecision.not_automated.value: "die Entscheidung hat ein Mensch getroffen",
        "redress": "Wie du widersprechen kannst",
        "appeal": "Du kannst bis {date} kostenlos unter {url} eine Überprüfung verlangen. Eine Person, die an "
                  "dieser Entscheidung nicht beteiligt war, prüft sie.",
        "out_of_court": "Du kannst dich auch an eine nach Artikel 21 des Gesetzes über digitale Dienste "
                        "zertifizierte außergerichtliche Streitbeilegungsstelle wenden.",
        "judicial": "Du kannst die Sache auch vor Gericht bringen.",
        "code": "Code der Begründung",
        StatementSource.notice.value: "eine Meldung dazu",
        StatementSource.trusted_flagger.value: "eine Meldung eines vertrauenswürdigen Hinweisgebers",
        StatementSource.other_notification.value: "eine Mitteilung oder Anordnung einer Behörde",
        StatementSource.own_initiative.value: "unsere eigenen Prüfungen",
        "fallback_notice": "Wir haben auf {platform_name} wegen unserer Regeln eingegriffen.\n\nWas wir getan "
                           "haben: {measure}.\n\nWenn du glaubst, dass es sich um einen Fehler handelt, kannst du "
                           "bis {appeal_deadline} unter {appeal_url} eine Überprüfung verlangen.",
        "statement": "Begründung",
    },
    "fr": {
        "what": "Ce que nous avons fait", "where": "Où", "everywhere": "partout", "in": "dans : {countries}",
        "how_long": "Pour combien de temps", "indefinite": "sans date de fin", "until": "jusqu'au {date}",
        "why": "Pourquoi", "law": "la loi", "terms": "nos conditions d'utilisation",
        "facts": "Faits pris en compte", "no_facts": "aucun au-delà de la règle et de la mesure ci-dessus",
        "source": "Comment nous l'avons appris", "automation": "Moyens automatisés",
        "detected": "le contenu a été détecté par des moyens automatisés",
        "not_detected": "le contenu n'a pas été détecté par des moyens automatisés",
        AutomatedDecision.fully.value: "la décision a été prise par des moyens automatisés",
        AutomatedDecision.partially.value: "la décision a été prise en partie par des moyens automatisés",
        AutomatedDecision.not_automated.value: "la décision a été prise par une personne",
        "redress": "Comment la contester",
        "appeal": "Vous pouvez demander gratuitement un réexamen sur {url} jusqu'au {date}. Une personne qui n'a "
                  "pas pris part à cette décision l'examinera.",
        "out_of_court": "Vous pouvez aussi saisir un organe de règlement extrajudiciaire des litiges certifié "
                        "au titre de l'article 21 du règlement sur les services numériques.",
        "judicial": "Vous pouvez également saisir la justice.",
        "code": "Code de l'exposé des motifs",
        StatementSource.notice.value: "un signalement le concernant",
        StatementSource.trusted_flagger.value: "un signalement d'un signaleur de confiance",
        StatementSource.other_notification.value: "une notification ou une injonction d'une autorité",
        StatementSource.own_initiative.value: "nos propres contrôles",
        "fallback_notice": "Nous sommes intervenus sur {platform_name} en application de nos règles.\n\nCe que "
                           "nous avons fait : {measure}.\n\nSi vous pensez qu'il s'agit d'une erreur, vous pouvez "
                           "demander un réexamen sur {appeal_url} jusqu'au {appeal_deadline}.",
        "statement": "Exposé des motifs",
    },
}


def _labels(language: str) -> dict[str, str]:
    return LABELS.get(language.lower().split("-", 1)[0], LABELS[BASE_LANGUAGE])


def _measures(language: str) -> dict[str, str]:
    return MEASURES.get(language.lower().split("-", 1)[0], MEASURES[BASE_LANGUAGE])


def eea_scope(scope: list[str]) -> list[str]:
    """The EEA states a territorial scope covers, as the Transparency Database spells them;
    an empty scope means everywhere."""
    if not scope:
        return list(EEA_COUNTRIES)
    wanted = {_COUNTRY_ALIASES.get(c.upper(), c.upper()) for c in scope}
    return [c for c in EEA_COUNTRIES if c in wanted]


def measure_text(measure: str, scope: list[str], ends_at: datetime | None, language: str = BASE_LANGUAGE) -> str:
    """The measure in plain words with its scope and duration (the notice's {measure})."""
    labels = _labels(language)
    what = _measures(language).get(measure, measure.replace("_", " "))
    where = labels["everywhere"] if not scope else labels["in"].format(countries=", ".join(sorted(scope)))
    until = labels["indefinite"] if ends_at is None else labels["until"].format(date=ends_at.date().isoformat())
    return f"{what}, {where}, {until}"


# -- issuing --------------------------------------------------------------------------------------

@dataclass
class _CaseFacts:
    source: str = StatementSource.own_initiative.value
    detected: bool = False
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
        sa.select(Notice.kind, Notice.contact_name, Notice.contact_email, Notice.reporter_platform_id,
                  Notice.signature, TrustedFlagger.name)
        .outerjoin(TrustedFlagger, TrustedFlagger.id == Notice.trusted_flagger_id)
        .where(Notice.id.in_(sa.select(NoticeItem.notice_id).where(NoticeItem.case_id == case.id)))
    ).all()
    kinds = {r[0] for r in rows}
    if NoticeKind.trusted_flagger.value in kinds:
        source = StatementSource.trusted_flagger
    elif kinds & {NoticeKind.law_enforcement.value, NoticeKind.authority_order.value,
                  NoticeKind.terrorist_order.value}:
        source = StatementSource.other_notification
    elif kinds & {NoticeKind.user_report.value, NoticeKind.public_report.value, NoticeKind.dsa_notice.value,
                  NoticeKind.take_it_down.value}:
        source = StatementSource.notice
    else:
        source = StatementSource.own_initiative  # a scan detection, or no notice at all
    reporters = sorted({v for r in rows for v in r[1:] if v})
    facts = _CaseFacts(source.value, NoticeKind.detection.value in kinds, reporters)
    cache["cases"][key] = facts
    return facts


def _policy(db: Session, config: StatementSettings, cache: dict[str, dict[Any, Any]], ref: str | None,
            policy_id: str | None) -> Policy | None:
    from staydown.policies.actions import current_policy, policy_version
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
            dsa = {k: v for k, v in fields.items() if k in (
                "category_addition", "category_specification", "category_specification_other",
                "decision_ground_reference_url")}
            return {
                "decision_ground": (DecisionGround.illegal_content if illegal else DecisionGround.incompatible_content).value,
                "legal_ground": fields.get("illegal_content_legal_ground"),
                "legal_explanation": fields.get("illegal_content_explanation"),
                "contractual_ground": fields.get("incompatible_content_ground"),
                "contractual_explanation": fields.get("incompatible_content_explanation"),
                "category": fields["category"], "dsa": dsa,
            }
    # No policy to cite (an action taken outside a case's policy): the terms, said neutrally.
    return {
        "decision_ground": DecisionGround.incompatible_content.value,
        "legal_ground": None, "legal_explanation": None,
        "contractual_ground": f"Terms of service of {config.platform_name}",
        "contractual_explanation": "The content or account was found to be incompatible with the terms of "
                                   "service that apply to everyone who uses the service.",
        "category": "STATEMENT_CATEGORY_OTHER_VIOLATION_TC", "dsa": {},
    }


def new_statement_code() -> str:
    return codes.grouped(codes.random_chars(), CODE_PREFIX)


def normalise_statement_code(code: str) -> str:
    found = codes.normalise(code, prefix=CODE_PREFIX)
    if found is None:
        raise NotFound("no statement of reasons with that code")
    return found


def _without_reporters(text: str, reporters: list[str]) -> str:
    import re

    for value in sorted((r for r in reporters if len(r.strip()) >= 2), key=len, reverse=True):
        text = re.sub(re.escape(value.strip()), "[the notifier]", text, flags=re.IGNORECASE)
    return text


def _content_date(content: Any, fallback: datetime) -> str:
    when = (content.created_at or content.first_seen_at) if content is not None else fallback
    return when.date().isoformat()


def render_statement(statement: StatementOfReasons, policy: Policy | None, config: StatementSettings,
                     language: str) -> str:
    """The statement as the affected user reads it: the policy's notice in that language, then
    every DSA Art. 17(3) element. Uses the scrubbed facts only."""
    labels = _labels(language)
    deadline = statement.appeal_deadline.date().isoformat() if statement.appeal_deadline else ""
    appeal_url = statement.redress["appeal_url"]
    measure = measure_text(statement.measure, statement.territorial_scope, statement.ends_at, language)
    values = {"measure": measure, "appeal_url": appeal_url, "appeal_deadline": deadline,
              "platform_name": config.platform_name}
    if policy is not None:
        notice = policy.render_notice(values=values, language=language)
    else:
        notice = labels["fallback_notice"].format(**values)
    if statement.legal_ground:
        why = f"{labels['law']}: {statement.legal_ground}. {statement.legal_explanation or ''}".strip()
    else:
        why = f"{labels['terms']}: {statement.contractual_ground}. {statement.contractual_explanation or ''}".strip()
    public_facts = statement.details.get("public_facts") or labels["no_facts"]
    where = (labels["everywhere"] if not statement.territorial_scope
             else labels["in"].format(countries=", ".join(sorted(statement.territorial_scope))))
    until = (labels["indefinite"] if statement.ends_at is None
             else labels["until"].format(date=statement.ends_at.date().isoformat()))
    lines = [
        notice, "",
        f"{labels['what']}: {_measures(language).get(statement.measure, statement.measure)}.",
        f"{labels['where']}: {where}. {labels['how_long']}: {until}.",
        f"{labels['why']}: {why}",
        f"{labels['facts']}: {public_facts}",
        f"{labels['source']}: {labels[statement.source]}.",
        f"{labels['automation']}: {labels['detected' if statement.automated_detection else 'not_detected']}; "
        f"{labels[statement.automated_decision]}.",
        f"{labels['redress']}: {labels['appeal'].format(url=appeal_url, date=deadline)} "
        f"{labels['out_of_court']} {labels['judicial']}",
        f"{labels['code']}: {statement.code}",
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
        held += _load(db, PlatformContent, {a.content_id for a in restricting if a.content_id}
                      | {c.content_id for c in cases if c.content_id})
        held += _load(db, PlatformAccount, {a.account_id for a in restricting if a.account_id}
                      | {c.account_id for c in held if isinstance(c, PlatformContent) and c.account_id})
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
        audit.record(db, actor=actor, tag=AuditTag.STATEMENT_ISSUE, subject_type="statement",
                     subject_id=statement.id,
                     data={"action_id": action.id, "case_id": action.case_id, "measure": action.kind,
                           "policy_ref": statement.policy_ref, "source": statement.source,
                           "automated_detection": statement.automated_detection,
                           "automated_decision": statement.automated_decision, "tdb_state": statement.tdb_state})
    return statements


def _load(db: Session, model: Any, ids: set[int]) -> list[Any]:
    return list(db.execute(sa.select(model).where(model.id.in_(sorted(ids)))).scalars()) if ids else []


def _build_statement(db: Session, action: Any, config: StatementSettings, cache: dict[str, dict[Any, Any]],
                     when: datetime) -> StatementOfReasons | None:
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
    automated_detection = bool(action.automated_detection or copy or case_facts.detected)
    # The interim restriction is imposed by rule the moment a report arrives: no person decides it.
    automated = (AutomatedDecision.fully if action.automated_decision or action.interim
                 else AutomatedDecision.not_automated).value
    ground = _ground(policy, config)
    facts = _without_reporters(action.facts or "", case_facts.reporters).strip()
    involved = (content, case_content, owner, getattr(case_content, "account", None))
    known = [case_facts.reporters, [getattr(x, "platform_id", None) for x in involved],
             [getattr(x, "url", None) for x in involved], [getattr(x, "handle", None) for x in involved]]
    public_facts = scrub_personal_data(facts, known=[v for group in known for v in group])
    if public_facts.strip() in ("", REDACTED):
        public_facts = ""
    code = new_statement_code()
    scope = list(action.territorial_scope or [])
    statement = StatementOfReasons(
        code=code, action_id=action.id, case_id=action.case_id, content_id=action.content_id,
        account_id=action.account_id, measure=action.kind, target=action.target,
        policy_ref=action.policy_ref or (policy.ref if policy else None),
        decision_ground=ground["decision_ground"], legal_ground=ground["legal_ground"],
        legal_explanation=ground["legal_explanation"], contractual_ground=ground["contractual_ground"],
        contractual_explanation=ground["contractual_explanation"], category=ground["category"],
        facts=facts or measure_text(action.kind, scope, action.ends_at), source=source,
        automated_detection=automated_detection, automated_decision=automated, territorial_scope=scope,
        starts_at=action.created_at or when, ends_at=action.ends_at, language=config.languages[0],
        appeal_deadline=when + config.appeal_window, issued_at=when,
        # Nothing restricted in the EEA is nothing the Transparency Database takes.
        tdb_state=(TdbState.pending if eea_scope(scope) else TdbState.not_required).value,
        # Random, so that the public Database reveals neither the code nor any platform id.
        tdb_puid="sd-sor-" + secrets.token_hex(16), tdb_attempts=0,
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
            "copy_of_case": bool(copy),
        },
    )
    statement.rendered = {lang: render_statement(statement, policy, config, lang) for lang in config.languages}
    return statement


# -- queries --------------------------------------------------------------------------------------

def statement_by_code(db: Session, code: str) -> StatementOfReasons:
    found = db.execute(sa.select(StatementOfReasons).where(
        StatementOfReasons.code == normalise_statement_code(code))).scalar_one_or_none()
    if found is None:
        raise NotFound("no statement of reasons with that code")
    return found


def statement_for_action(db: Session, action_id: int) -> StatementOfReasons | None:
    return db.execute(sa.select(StatementOfReasons).where(
        StatementOfReasons.action_id == action_id)).scalar_one_or_none()


def statements_for(db: Session, *, case_id: int | None = None, content_id: int | None = None,
                   account_id: int | None = None, action_id: int | None = None, after_id: int = 0,
                   limit: int = 100) -> list[StatementOfReasons]:
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
    return {
        "code": statement.code,
        "issued_at": _iso(statement.issued_at),
        "measure": statement.measure,
        "target": statement.target,
        "measure_text": measure_text(statement.measure, statement.territorial_scope, statement.ends_at),
        "territorial_scope": list(statement.territorial_scope),
        "starts_at": _iso(statement.starts_at),
        "ends_at": _iso(statement.ends_at),
        "policy": {"ref": statement.policy_ref, "title": statement.details.get("policy_title")},
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
        "tdb": {"state": statement.tdb_state, "puid": statement.tdb_puid, "attempts": statement.tdb_attempts,
                "submitted_at": _iso(statement.tdb_submitted_at), "reference": statement.tdb_reference,
                "error": statement.tdb_error},
    }


def statement_for_delivery(db: Session, action_id: int) -> dict[str, Any] | None:
    """The `statement` of an action's webhook body and pull-feed entry (None: not a restriction)."""
    found = statement_for_action(db, action_id)
    return delivery_view(found) if found is not None else None
