"""Pydantic models of one catalogue policy, the rules tying its fields together, and its texts."""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Any, Literal, overload

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from staydown import i18n
from staydown.policies import vocab

# The validation context key under which the loader asks for cross-field problems to be collected
# (each with its own field path) instead of the first one being raised.
COLLECT_RULE_PROBLEMS = "staydown.policies.rule_problems"

SLUG_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
MAX_SLUG = 64
# A language tag as the platform writes it: "de", "pt-BR", "sr-Latn". Full BCP 47 is not needed
# for choosing a text; the shape is checked so that a typo does not become a language.
LANGUAGE_PATTERN = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")
URL_PATTERN = re.compile(r"https?://[^\s]+")

MAX_TITLE = 120
MAX_RULE = 2000
MAX_NOTICE = 5000


def _fail(code: str, message: str) -> PydanticCustomError:
    # The message goes through the context so that braces in it (placeholders) are not templated.
    return PydanticCustomError(code, "{detail}", {"detail": message})


def _one_of(what: str, values: tuple[str, ...], code: str) -> AfterValidator:
    known = frozenset(values)

    def check(value: str) -> str:
        if value in known:
            return value
        if len(values) <= 20:
            expected = "; expected one of " + ", ".join(values)
        else:
            close = difflib.get_close_matches(value, values, n=3, cutoff=0.6)
            expected = (
                f"; did you mean {' or '.join(close)}?" if close else ""
            ) + f" (the {len(values)} accepted values are in staydown.policies.vocab)"
        raise _fail(code, f"{value!r} is not {what}{expected}")

    return AfterValidator(check)


def _text(value: str) -> str:
    value = value.strip()
    if not value:
        raise _fail("empty_text", "must not be empty")
    return value


def _slug(value: str) -> str:
    if len(value) > MAX_SLUG or not SLUG_PATTERN.fullmatch(value):
        raise _fail(
            "slug",
            f"{value!r} is not a policy id: use lower-case letters, digits and single hyphens, "
            f"starting with a letter, at most {MAX_SLUG} characters (e.g. 'violent-threats')",
        )
    return value


def _language(value: str) -> str:
    if not LANGUAGE_PATTERN.fullmatch(value):
        raise _fail("language", f"{value!r} is not a language tag such as 'de' or 'pt-BR'")
    if value.lower() == vocab.BASE_LANGUAGE:
        raise _fail(
            "base_language",
            "the policy's own title, rule and notice are the English text; translations hold the other languages",
        )
    return value


def _url(value: str) -> str:
    if not URL_PATTERN.fullmatch(value):
        raise _fail("url", f"{value!r} is not an http(s) URL")
    return value


def notice_placeholders(text: str) -> tuple[str, ...]:
    """The placeholder names a notice text uses, in order; ValueError if its braces are broken."""
    names = []
    for _literal, field, spec, conversion in string.Formatter().parse(text):
        if field is None:
            continue
        if spec or conversion or not field.isidentifier():
            raise ValueError(
                f"'{{{field}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}'"
                " is not a plain placeholder; write {name}, or {{ and }} for literal braces"
            )
        names.append(field)
    return tuple(names)


def _notice(value: str) -> str:
    try:
        used = notice_placeholders(value)
    except ValueError as exc:
        message = str(exc)
        if "encountered" in message or "expected '}'" in message:
            # Python's own wording ("Single '}' encountered in format string") is not for users.
            message = "unbalanced { or } in the notice; write {{ and }} for literal braces"
        raise _fail("notice_placeholder", message) from None
    unknown = [name for name in dict.fromkeys(used) if name not in vocab.NOTICE_PLACEHOLDERS]
    if unknown:
        known = ", ".join("{" + name + "}" for name in vocab.NOTICE_PLACEHOLDERS)
        listed = ", ".join("{" + name + "}" for name in unknown)
        raise _fail(
            "notice_placeholder",
            f"unknown placeholder{'s' if len(unknown) > 1 else ''} {listed}; known: {known}",
        )
    missing = [name for name in vocab.REQUIRED_NOTICE_PLACEHOLDERS if name not in used]
    if missing:
        raise _fail(
            "notice_placeholder",
            "a notice must tell the user how to contest the decision: include "
            + ", ".join("{" + name + "}" for name in missing),
        )
    return value


def _unique(values: tuple[Any, ...]) -> tuple[Any, ...]:
    seen = set()
    for value in values:
        if value in seen:
            raise _fail("duplicate_item", f"{value!r} is listed twice")
        seen.add(value)
    return values


def _unique_tracks(values: tuple[Any, ...]) -> tuple[Any, ...]:
    _unique(tuple(v.kind for v in values))
    return values


def _as_list(value: Any) -> Any:
    # A policy usually cites one ground; writing it as a bare mapping is the common case.
    return [value] if isinstance(value, dict) else value


Text = Annotated[StrictStr, AfterValidator(_text)]
Slug = Annotated[StrictStr, AfterValidator(_slug)]
Language = Annotated[StrictStr, AfterValidator(_language)]
Url = Annotated[StrictStr, Field(max_length=vocab.MAX_REFERENCE_URL), AfterValidator(_url)]
NoticeText = Annotated[Text, Field(max_length=MAX_NOTICE), AfterValidator(_notice)]
Category = Annotated[StrictStr, _one_of("a DSA statement category", vocab.DSA_CATEGORIES, "dsa_category")]
Keyword = Annotated[StrictStr, _one_of("a DSA category keyword", vocab.DSA_KEYWORDS, "dsa_keyword")]
NcmecType = Annotated[
    StrictStr,
    _one_of("a CyberTipline incident type", vocab.NCMEC_INCIDENT_TYPES, "ncmec_incident_type"),
]
Severity = Annotated[StrictStr, _one_of("a severity", vocab.SEVERITIES, "severity")]
Action = Annotated[StrictStr, _one_of("an action", vocab.ACTIONS, "action")]


def _listable_track(value: str) -> str:
    if value in vocab.EVENT_TRACKS:
        what = "a marked threat to life or safety" if value == "dsa_art18" else "the order itself"
        raise _fail(
            "legal_track",
            f"{value!r} is opened by {what}, under any policy; a policy lists only "
            "the tracks a report under it opens: " + ", ".join(vocab.LEGAL_TRACKS),
        )
    return value


TrackKindName = Annotated[
    StrictStr, AfterValidator(_listable_track), _one_of("a legal track", vocab.LEGAL_TRACKS, "legal_track")
]
# Hours from a clock's start to its deadline: at most a year.
TrackHours = Annotated[StrictInt | StrictFloat, Field(gt=0, le=8760)]
Area = Annotated[StrictStr, _one_of("a policy area", vocab.AREAS, "area")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _track_entry(value: Any) -> Any:
    # Most entries are a bare kind; `{kind: ..., hours: ...}` gives the policy its own deadline.
    return {"kind": value} if isinstance(value, str) else value


class TrackEntry(_Model):
    """A legal track a report under the policy opens, with the policy's own hours if it sets them
    (otherwise the catalogue's `legal_tracks` section gives them)."""

    kind: TrackKindName
    hours: TrackHours | None = None


LegalTrack = Annotated[TrackEntry, BeforeValidator(_track_entry)]


class TrackDefaults(_Model):
    """The catalogue's default for one kind of legal track."""

    hours: TrackHours


class IllegalContentGround(_Model):
    """The law a decision relies on (DSA statement: DECISION_GROUND_ILLEGAL_CONTENT)."""

    type: Literal["illegal_content"]
    legal_reference: Annotated[Text, Field(max_length=vocab.MAX_LEGAL_GROUND)]
    explanation: Annotated[Text, Field(max_length=vocab.MAX_GROUND_EXPLANATION)]
    reference_url: Url | None = None


class TermsOfServiceGround(_Model):
    """The terms clause a decision relies on (DSA: DECISION_GROUND_INCOMPATIBLE_CONTENT)."""

    type: Literal["terms_of_service"]
    reference: Annotated[Text, Field(max_length=vocab.MAX_LEGAL_GROUND)]
    explanation: Annotated[Text, Field(max_length=vocab.MAX_GROUND_EXPLANATION)]
    reference_url: Url | None = None


Ground = Annotated[IllegalContentGround | TermsOfServiceGround, Field(discriminator="type")]


class StrikeLadder(_Model):
    """Weighted strikes under one policy within a window, and where they lead."""

    weight: Annotated[StrictInt, Field(ge=0, le=100)]
    window_days: Annotated[StrictInt, Field(ge=1, le=3650)]
    warn_at: Annotated[StrictInt, Field(ge=1)]
    suspend_at: Annotated[StrictInt, Field(ge=1)]
    suspend_days: Annotated[StrictInt, Field(ge=1, le=3650)]
    terminate_at: Annotated[StrictInt, Field(ge=1)]
    terminate_immediately: StrictBool = False

    @model_validator(mode="after")
    def _thresholds_rise(self) -> StrikeLadder:
        # DSA Art. 23 wants a warning before a suspension, and a suspension before the end.
        if not self.warn_at < self.suspend_at < self.terminate_at:
            raise _fail(
                "strike_thresholds",
                "thresholds must rise: warn_at < suspend_at < terminate_at, got "
                f"{self.warn_at}, {self.suspend_at}, {self.terminate_at}",
            )
        return self


class PolicyTranslation(_Model):
    """A policy's texts in one more language; a field left out falls back to English."""

    title: Annotated[Text, Field(max_length=MAX_TITLE)] | None = None
    rule: Annotated[Text, Field(max_length=MAX_RULE)] | None = None
    notice: NoticeText | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> PolicyTranslation:
        if self.title is None and self.rule is None and self.notice is None:
            raise _fail("empty_translation", "a translation needs a title, rule or notice")
        return self


@dataclass(frozen=True, slots=True)
class PolicyText:
    """A policy's user-facing texts in one language, with the fields that fell back to English."""

    language: str
    title: str
    rule: str
    notice: str
    fallback_fields: tuple[str, ...] = ()


class NoticeRenderError(ValueError):
    """A notice was rendered without a value for a placeholder it uses."""


class GroundNotCited(ValueError):
    """A statement was asked for under a decision ground the policy does not cite."""


class Policy(_Model):
    """One version of one policy: its rule, its legal mapping and what enforcing it does."""

    id: Slug
    version: Annotated[StrictInt, Field(ge=1)]
    title: Annotated[Text, Field(max_length=MAX_TITLE)]
    rule: Annotated[Text, Field(max_length=MAX_RULE)]
    dsa_category: Category
    dsa_category_additions: Annotated[tuple[Category, ...], AfterValidator(_unique)] = ()
    dsa_keywords: Annotated[tuple[Keyword, ...], AfterValidator(_unique)] = ()
    dsa_keyword_other: Annotated[Text, Field(max_length=vocab.MAX_KEYWORD_OTHER)] | None = None
    ground: Annotated[tuple[Ground, ...], BeforeValidator(_as_list), Field(min_length=1, max_length=2)]
    ncmec_incident_type: NcmecType | None = None
    severity: Severity
    child_safety: StrictBool
    ncii: StrictBool
    bank_confirmed: StrictBool
    default_actions: Annotated[tuple[Action, ...], Field(min_length=1), AfterValidator(_unique)]
    strike: StrikeLadder
    notice: NoticeText
    legal_tracks: Annotated[tuple[LegalTrack, ...], AfterValidator(_unique_tracks)] = ()
    auto_action_on_trusted_match: StrictBool = False
    area: Area | None = None
    translations: Mapping[Language, PolicyTranslation] = {}

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> Policy:
        # Freeze the one mutable field so that a catalogue cannot be edited through a policy.
        object.__setattr__(self, "translations", MappingProxyType(dict(self.translations)))
        problems = rule_problems(self)
        if not problems:
            return self
        context = info.context
        if isinstance(context, dict) and isinstance(context.get(COLLECT_RULE_PROBLEMS), list):
            context[COLLECT_RULE_PROBLEMS].extend(problems)
            return self
        raise _fail(
            "policy_rule",
            "; ".join(f"{'.'.join(map(str, loc))}: {message}" for loc, message in problems),
        )

    @field_serializer("legal_tracks")
    def _dump_tracks(self, value: tuple[TrackEntry, ...]) -> list[Any]:
        # A bare kind stays a bare kind, so a policy's document (and digest) reads as written.
        return [t.kind if t.hours is None else {"kind": t.kind, "hours": t.hours} for t in value]

    @field_serializer("translations", mode="wrap")
    def _dump_translations(self, value: Mapping[str, PolicyTranslation], handler: Any) -> Any:
        return handler(dict(value))

    # -- derived views ---------------------------------------------------------------------

    @property
    def ref(self) -> str:
        """'id@version': how decisions, strikes and statements point at this exact version."""
        return f"{self.id}@{self.version}"

    @property
    def track_kinds(self) -> tuple[str, ...]:
        """The kinds of legal track a report under this policy opens (`legal_tracks`)."""
        return tuple(t.kind for t in self.legal_tracks)

    @property
    def severity_rank(self) -> int:
        return vocab.SEVERITY_RANK[self.severity]

    @property
    def content_actions(self) -> tuple[str, ...]:
        return tuple(a for a in self.default_actions if a in vocab.CONTENT_ACTIONS)

    @property
    def account_actions(self) -> tuple[str, ...]:
        return tuple(a for a in self.default_actions if a in vocab.ACCOUNT_ACTIONS)

    @overload
    def ground_of(self, kind: Literal["illegal_content"]) -> IllegalContentGround | None: ...
    @overload
    def ground_of(self, kind: Literal["terms_of_service"]) -> TermsOfServiceGround | None: ...
    @overload
    def ground_of(self, kind: str) -> IllegalContentGround | TermsOfServiceGround | None: ...
    def ground_of(self, kind: str) -> IllegalContentGround | TermsOfServiceGround | None:
        """The ground of that type ("illegal_content" or "terms_of_service"), if cited."""
        return next((g for g in self.ground if g.type == kind), None)

    @property
    def decision_ground(self) -> str:
        """The DSA decision ground a statement uses unless the decision picks the other one:
        that of the policy's first ground."""
        if self.ground[0].type == "illegal_content":
            return vocab.DECISION_GROUND_ILLEGAL
        return vocab.DECISION_GROUND_INCOMPATIBLE

    def dsa_statement_fields(
        self, *, decision_ground: str | None = None, also_illegal: bool | None = None
    ) -> dict[str, Any]:
        """The Transparency Database fields this policy fills in a statement of reasons.

        A policy may cite law and terms: most hate speech breaks the terms without being a
        crime where the user is, so such a policy lists its terms first and a decision that
        relies on the law asks for DECISION_GROUND_ILLEGAL_CONTENT. `also_illegal` fills
        incompatible_content_illegal for a terms decision when the reviewer said so.
        """
        ground = decision_ground or self.decision_ground
        fields: dict[str, Any] = {
            "decision_ground": ground,
            "category": self.dsa_category,
        }
        if self.dsa_category_additions:
            fields["category_addition"] = list(self.dsa_category_additions)
        if self.dsa_keywords:
            fields["category_specification"] = list(self.dsa_keywords)
        if self.dsa_keyword_other:
            fields["category_specification_other"] = self.dsa_keyword_other
        if ground == vocab.DECISION_GROUND_ILLEGAL:
            legal = self.ground_of("illegal_content")
            if legal is None:
                raise GroundNotCited(f"{self.ref} cites no law; it cannot ground an illegal-content decision")
            fields["illegal_content_legal_ground"] = legal.legal_reference
            fields["illegal_content_explanation"] = legal.explanation
            url = legal.reference_url
        elif ground == vocab.DECISION_GROUND_INCOMPATIBLE:
            terms = self.ground_of("terms_of_service")
            if terms is None:
                raise GroundNotCited(f"{self.ref} cites no terms; it cannot ground an incompatible-content decision")
            fields["incompatible_content_ground"] = terms.reference
            fields["incompatible_content_explanation"] = terms.explanation
            if also_illegal is not None:
                fields["incompatible_content_illegal"] = "Yes" if also_illegal else "No"
            url = terms.reference_url
        else:
            raise GroundNotCited(f"{ground!r} is not a DSA decision ground")
        if url:
            fields["decision_ground_reference_url"] = url
        return fields

    def text(self, language: str = vocab.BASE_LANGUAGE) -> PolicyText:
        """Title, rule and notice in a language: the exact tag, then its primary language
        ("pt-BR" -> "pt"), then English field by field."""
        translation = None
        chosen = vocab.BASE_LANGUAGE
        by_lower = {tag.lower(): tag for tag in self.translations}
        for candidate in (language.lower(), language.lower().split("-", 1)[0]):
            if candidate in by_lower:
                chosen = by_lower[candidate]
                translation = self.translations[chosen]
                break
        texts = {name: getattr(translation, name, None) for name in ("title", "rule", "notice")}
        # A field the catalogue does not translate: the shipped translation of its English, when
        # staydown ships one for these exact words (the default catalogue's), else English.
        shipped = {
            name: i18n.shipped_translation(getattr(self, name), language)
            for name, text in texts.items()
            if text is None
        }
        if translation is None and any(shipped.values()):
            chosen = i18n.shipped_language(language) or vocab.BASE_LANGUAGE
        if translation is None and not any(shipped.values()):
            return PolicyText(vocab.BASE_LANGUAGE, self.title, self.rule, self.notice)
        fallback = tuple(name for name in ("title", "rule", "notice") if texts[name] is None and not shipped.get(name))
        return PolicyText(
            language=chosen,
            title=texts["title"] or shipped.get("title") or self.title,
            rule=texts["rule"] or shipped.get("rule") or self.rule,
            notice=texts["notice"] or shipped.get("notice") or self.notice,
            fallback_fields=fallback,
        )

    def render_notice(self, *, values: Mapping[str, str], language: str = vocab.BASE_LANGUAGE) -> str:
        """The notice for the affected user with its placeholders filled in.

        {policy_title} defaults to the title in the same language. Values are inserted as they
        are: escaping for HTML or e-mail is the sender's job.
        """
        text = self.text(language)
        filled = {"policy_title": text.title, **values}
        out = []
        for literal, field, _spec, _conversion in string.Formatter().parse(text.notice):
            out.append(literal)
            if field is None:
                continue
            if field not in filled:
                raise NoticeRenderError(f"the notice of {self.ref} uses {{{field}}} but no value was given for it")
            out.append(str(filled[field]))
        return "".join(out)


Loc = tuple[str | int, ...]


def rule_problems(policy: Policy) -> list[tuple[Loc, str]]:
    """Cross-field rules of one policy: (field path within the policy, explanation) each."""
    problems: list[tuple[Loc, str]] = []
    given = policy.model_fields_set

    def at(field: str, fallback: str) -> Loc:
        # Point at the field if the file has it, else at the field that makes it necessary.
        return (field,) if field in given else (fallback,)

    actions = policy.default_actions
    tracks = tuple(t.kind for t in policy.legal_tracks)
    ladder = policy.strike

    if policy.child_safety:
        if policy.ground[0].type != "illegal_content":
            problems.append(
                (
                    ("ground",),
                    "a child-safety policy must cite the law first: its first ground "
                    "must be of type illegal_content, with the legal_reference that opens the "
                    "legal tracks",
                )
            )
        if policy.ncmec_incident_type is None:
            problems.append(
                (
                    ("child_safety",),
                    "a child-safety policy needs ncmec_incident_type, one of: " + "; ".join(vocab.NCMEC_INCIDENT_TYPES),
                )
            )
        if not policy.bank_confirmed:
            problems.append(
                (
                    ("bank_confirmed",),
                    "a child-safety policy must bank confirmed items "
                    "(bank_confirmed: true) so that copies and re-uploads are caught",
                )
            )
        if policy.severity != "critical":
            problems.append((("severity",), "a child-safety policy must be of severity critical"))
        if "ncmec" not in tracks:
            problems.append(
                (
                    at("legal_tracks", "child_safety"),
                    "a child-safety policy must open the 'ncmec' legal track (18 U.S.C. 2258A)",
                )
            )
        if policy.area not in (None, "child_safety"):
            problems.append((("area",), "a child-safety policy belongs to the child_safety area"))
    else:
        if policy.ncmec_incident_type is not None:
            problems.append(
                (("ncmec_incident_type",), "only a child-safety policy (child_safety: true) reports to NCMEC")
            )
        if "ncmec" in tracks:
            problems.append(
                (
                    ("legal_tracks", tracks.index("ncmec")),
                    "the 'ncmec' track belongs to child-safety policies (child_safety: true)",
                )
            )

    if "uk_nca" in tracks and not policy.child_safety:
        problems.append(
            (
                ("legal_tracks", tracks.index("uk_nca")),
                "the 'uk_nca' track (reports of CSEA content to "
                "the National Crime Agency) belongs to child-safety policies (child_safety: true)",
            )
        )
    for i, entry in enumerate(policy.legal_tracks):
        limit = vocab.STATUTORY_MAX_HOURS.get(entry.kind)
        if entry.hours is not None and limit is not None and entry.hours > limit:
            problems.append(
                (
                    ("legal_tracks", i, "hours"),
                    f"the law gives '{entry.kind}' at most {limit:g} hours; "
                    f"{entry.hours:g} would count late removals as on time",
                )
            )

    if policy.ncii:
        if not policy.bank_confirmed:
            problems.append(
                (
                    ("bank_confirmed",),
                    "an NCII policy must bank confirmed items "
                    "(bank_confirmed: true): known copies must be found and kept down",
                )
            )
        if "take_it_down" not in tracks:
            problems.append(
                (
                    at("legal_tracks", "ncii"),
                    "an NCII policy must open the 'take_it_down' legal track (48-hour removal)",
                )
            )
        if policy.area not in (None, "ncii"):
            problems.append((("area",), "an NCII policy belongs to the ncii area"))

    if policy.auto_action_on_trusted_match and not policy.bank_confirmed:
        problems.append(
            (
                ("auto_action_on_trusted_match",),
                "acting on a match alone needs a bank of previously confirmed material (bank_confirmed: true)",
            )
        )

    if "terminate" in actions and not ladder.terminate_immediately:
        problems.append(
            (
                ("default_actions", actions.index("terminate")),
                "'terminate' as a default action needs strike.terminate_immediately: true",
            )
        )
    if ladder.terminate_immediately:
        if "terminate" not in actions:
            problems.append(
                (("strike", "terminate_immediately"), "immediate termination needs 'terminate' in default_actions")
            )
        if policy.severity != "critical":
            problems.append((("severity",), "immediate termination is kept for critical policies"))
    if "strike" in actions and ladder.weight == 0:
        problems.append(
            (
                ("strike", "weight"),
                "a policy whose default actions include 'strike' needs a strike weight of at least 1",
            )
        )
    for first, second in vocab.EXCLUSIVE_ACTIONS:
        if first in actions and second in actions:
            problems.append(
                (("default_actions", actions.index(second)), f"'{first}' and '{second}' exclude each other")
            )

    categories = (policy.dsa_category, *policy.dsa_category_additions)
    allowed = {kw for cat in categories for kw in vocab.KEYWORDS_BY_CATEGORY[cat]}
    for i, keyword in enumerate(policy.dsa_keywords):
        if keyword != vocab.KEYWORD_OTHER and keyword not in allowed:
            home = next(c for c, kws in vocab.KEYWORDS_BY_CATEGORY.items() if keyword in kws)
            problems.append(
                (
                    ("dsa_keywords", i),
                    f"{keyword} specifies {home}, which is neither dsa_category nor in dsa_category_additions",
                )
            )
    if policy.dsa_category in policy.dsa_category_additions:
        problems.append(
            (
                ("dsa_category_additions", policy.dsa_category_additions.index(policy.dsa_category)),
                "repeats dsa_category",
            )
        )
    if policy.dsa_keyword_other is not None and vocab.KEYWORD_OTHER not in policy.dsa_keywords:
        problems.append((("dsa_keyword_other",), f"free-text keyword needs {vocab.KEYWORD_OTHER} in dsa_keywords"))

    kinds = [g.type for g in policy.ground]
    if len(set(kinds)) != len(kinds):
        problems.append((("ground", 1), "cite at most one ground of each type"))
    return problems
