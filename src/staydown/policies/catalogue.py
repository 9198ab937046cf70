"""The policy catalogue: loading and checking the YAML file, lookups by id and ref, snapshots."""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib.resources
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, ValidationError

from staydown.policies import schema, vocab
from staydown.policies.schema import Policy

MAX_CATALOGUE_BYTES = 1024 * 1024
# Deeper than any sane catalogue, shallow enough that neither the YAML composer nor the walk
# below can be driven into the recursion limit by a hostile file.
MAX_NESTING = 32
DEFAULT_NAME = "default.yaml"
STRING_NAME = "<string>"

# The pure-Python parser: its syntax errors name the offending character (the C one's do not),
# and a catalogue is small and read once.
_Loader = yaml.SafeLoader


# -- errors --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a catalogue file, where it is (1-based line and column) and why."""

    source: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
        }


def format_problems(problems: Sequence[Problem]) -> str:
    """One line per problem, compiler style, for a terminal or a log."""
    if not problems:
        return "no problems"
    lines = [str(p) for p in problems]
    lines.append(f"{len(problems)} problem{'s' if len(problems) != 1 else ''}")
    return "\n".join(lines)


class CatalogueError(ValueError):
    """The catalogue cannot be used; `problems` says every reason found, with its line."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__(format_problems(self.problems))


class PolicyRefError(ValueError):
    """A policy ref is not of the form 'id@version'."""


class PolicyNotFound(LookupError):
    """No policy with that id in the catalogue."""


class PolicyVersionMismatch(LookupError):
    """A ref names a version of a policy other than the catalogue's current one."""


# -- refs ----------------------------------------------------------------------------------


def make_ref(policy_id: str, version: int) -> str:
    return f"{policy_id}@{version}"


def parse_ref(ref: str) -> tuple[str, int]:
    """'violent-threats@3' -> ('violent-threats', 3); PolicyRefError if it is not that shape."""
    if not isinstance(ref, str):
        raise PolicyRefError(f"a policy ref is a string like 'hate@2', not {type(ref).__name__}")
    policy_id, sep, version = ref.partition("@")
    if not sep:
        raise PolicyRefError(f"{ref!r} is not a policy ref: expected 'id@version', e.g. 'hate@2'")
    if len(policy_id) > schema.MAX_SLUG or not schema.SLUG_PATTERN.fullmatch(policy_id):
        raise PolicyRefError(
            f"{ref!r} is not a policy ref: {policy_id!r} is not a policy id "
            "(lower-case letters, digits and single hyphens, starting with a letter)"
        )
    # Digits only, no sign, no leading zero: one version has one spelling, so refs compare as text.
    if not (version.isascii() and version.isdigit()) or version.startswith("0") or len(version) > 9:
        raise PolicyRefError(
            f"{ref!r} is not a policy ref: the version after '@' must be a whole number from 1, without leading zeros"
        )
    return policy_id, int(version)


# -- documents -----------------------------------------------------------------------------

# Lists whose order carries no meaning: sorted in the document so that reordering them in the
# file is not mistaken for an edit. (The order of `ground` means something: the first is the
# default decision ground.)
_SET_LIKE = ("dsa_category_additions", "dsa_keywords", "default_actions", "legal_tracks")


def to_document(policy: Policy) -> dict[str, Any]:
    """A canonical, JSON-able snapshot of one policy version.

    Fields at their default are left out, so that a field added to the schema later does not
    change the document (and digest) of a policy that does not use it.
    """
    doc = policy.model_dump(mode="json", exclude_defaults=True)
    # The serializer that thaws the translations mapping hides its default from pydantic.
    if not doc.get("translations"):
        doc.pop("translations", None)
    if not doc.get("legal_tracks"):  # likewise hidden by its serializer
        doc.pop("legal_tracks", None)
    for name in _SET_LIKE:
        if name in doc:
            doc[name] = sorted(doc[name], key=lambda v: v if isinstance(v, str) else v["kind"])
    return doc


def policy_from_document(document: Mapping[str, Any]) -> Policy:
    """Rebuild a policy version from its stored snapshot (ValidationError if it is not one)."""
    return Policy.model_validate(dict(document))


def canonical_json(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def content_digest(policy: Policy | Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON of a policy's document (a Policy or its document)."""
    document = to_document(policy) if isinstance(policy, Policy) else policy
    return hashlib.sha256(canonical_json(document)).hexdigest()


# -- the catalogue -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The current version of every policy, by id, in file order. Immutable."""

    catalogue_version: int
    policies: Mapping[str, Policy]
    description: str | None = None
    source: str = STRING_NAME
    # Each kind of legal track's default hours (the `legal_tracks` section); a policy may set its own.
    track_hours: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "policies", MappingProxyType(dict(self.policies)))
        object.__setattr__(self, "track_hours", MappingProxyType(dict(self.track_hours)))

    def __iter__(self) -> Iterator[Policy]:
        return iter(self.policies.values())

    def __len__(self) -> int:
        return len(self.policies)

    def __contains__(self, policy_id: object) -> bool:
        return policy_id in self.policies

    def get(self, policy_id: str) -> Policy:
        try:
            return self.policies[policy_id]
        except KeyError:
            close = difflib.get_close_matches(str(policy_id), list(self.policies), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise PolicyNotFound(f"no policy {policy_id!r} in the catalogue{hint}") from None

    def ref(self, policy_id: str) -> str:
        """The ref of the current version: 'id@version'."""
        return self.get(policy_id).ref

    def resolve(self, ref: str) -> Policy:
        """The policy a ref names, if it is the current version.

        Older versions live in the database's snapshots, not in the file.
        """
        policy_id, version = parse_ref(ref)
        policy = self.get(policy_id)
        if policy.version != version:
            raise PolicyVersionMismatch(f"{ref!r} names version {version}; the catalogue holds {policy.ref}")
        return policy

    parse_ref = staticmethod(parse_ref)
    to_document = staticmethod(to_document)
    content_digest = staticmethod(content_digest)

    def by_area(self, area: str) -> tuple[Policy, ...]:
        return tuple(p for p in self if p.area == area)


# -- loading -------------------------------------------------------------------------------


def _known_track_kind(value: str) -> str:
    if value not in vocab.TRACK_KINDS:
        close = difflib.get_close_matches(value, vocab.TRACK_KINDS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise schema._fail(
            "legal_track", f"{value!r} is not a kind of legal track{hint} (known: " + ", ".join(vocab.TRACK_KINDS) + ")"
        )
    return value


_TrackKindAny = Annotated[str, AfterValidator(_known_track_kind)]


def _statutory(section: dict[str, schema.TrackDefaults]) -> dict[str, schema.TrackDefaults]:
    for kind, defaults in section.items():
        limit = vocab.STATUTORY_MAX_HOURS.get(kind)
        if limit is not None and defaults.hours > limit:
            raise schema._fail(
                "legal_track",
                f"the law gives '{kind}' at most {limit:g} hours; "
                f"{defaults.hours:g} would count late removals as on time",
            )
    return section


class _Header(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    catalogue_version: Annotated[StrictInt, Field(ge=1)]
    description: schema.Text | None = None
    # Every kind of legal track may be given its default hours here (cases/tracks.py).
    legal_tracks: Annotated[dict[_TrackKindAny, schema.TrackDefaults], AfterValidator(_statutory)] = {}
    # Each policy is validated on its own below, so that one bad policy hides nothing in another.
    policies: Annotated[list[Any], Field(min_length=1)]


@dataclass(slots=True)
class _Pos:
    """Where one value of the document sits in the file."""

    mark: yaml.Node  # the key for a mapping entry, the item for a list entry
    node: yaml.Node
    children: dict[Any, _Pos] | list[_Pos] | None = None
    tag_value: Any = field(default=None)  # the mapping's `type:` scalar, for union tags


class _Structure(Exception):
    def __init__(self, node: yaml.Node, message: str):
        self.node = node
        self.message = message


def _problem_at(source: str, node: yaml.Node | None, path: str, message: str) -> Problem:
    if node is None:
        return Problem(source, None, None, path, message)
    mark = node.start_mark
    return Problem(source, mark.line + 1, mark.column + 1, path, message)


def _index(
    loader: Any,
    node: yaml.Node,
    mark: yaml.Node,
    depth: int,
    seen: set[int],
    duplicates: list[tuple[yaml.Node, str]],
) -> _Pos:
    if depth > MAX_NESTING:
        raise _Structure(node, f"nested more than {MAX_NESTING} levels deep")
    if id(node) in seen:
        # The composer hands an alias back as the very node it names.
        raise _Structure(
            mark, "anchors and aliases (&name, *name) are not allowed: each policy version must be readable on its own"
        )
    seen.add(id(node))
    pos = _Pos(mark=mark, node=node)
    if isinstance(node, yaml.MappingNode):
        children: dict[Any, _Pos] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _Structure(key_node, "merge keys (<<) are not allowed")
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Structure(key_node, "keys must be plain words, not lists or mappings")
            key = loader.construct_object(key_node)
            child = _index(loader, value_node, key_node, depth + 1, seen, duplicates)
            if key in children:
                first = children[key].mark.start_mark.line + 1
                duplicates.append(
                    (
                        key_node,
                        f"key {key!r} appears twice in this mapping (first on line "
                        f"{first}); YAML would silently keep only the last",
                    )
                )
            else:
                children[key] = child
            if key == "type" and isinstance(value_node, yaml.ScalarNode):
                pos.tag_value = value_node.value
        pos.children = children
    elif isinstance(node, yaml.SequenceNode):
        pos.children = [_index(loader, item, item, depth + 1, seen, duplicates) for item in node.value]
    return pos


def _format_path(parts: list[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            text = str(part).lower() if isinstance(part, bool) else str(part)
            out += f".{text}" if out else text
    return out


def _locate(root: _Pos, loc: Sequence[Any]) -> tuple[yaml.Node, str]:
    """The node to report a pydantic error at, and the path as the user wrote it."""
    pos: _Pos | None = root
    mark = root.mark
    parts: list[Any] = []
    for item in loc:
        if pos is None:
            if item != "[key]":
                parts.append(item)
            continue
        children = pos.children
        if isinstance(children, dict):
            if item in children:
                # Pydantic writes a boolean key (YAML's unquoted no/yes) as 0/1: name the key as
                # the file spells it.
                pos = children[item]
                mark = pos.mark
                parts.append(mark.value if isinstance(mark, yaml.ScalarNode) else item)
                continue
            if item == "[key]":
                continue
            if item == 0 and type(item) is int:
                # A single mapping written where a list is allowed (ground: {...}).
                continue
            if isinstance(item, str) and item == pos.tag_value:
                # The discriminated union names the chosen model in the path; the file does not.
                continue
        elif isinstance(children, list) and type(item) is int and 0 <= item < len(children):
            pos = children[item]
            mark = pos.mark
            parts.append(item)
            continue
        # Not in the file (a missing field): name it, and point at its parent.
        parts.append(item)
        pos = None
    return mark, _format_path(parts)


_FIELD_NAMES = sorted(
    {
        name
        for model in (
            _Header,
            Policy,
            schema.StrikeLadder,
            schema.PolicyTranslation,
            schema.IllegalContentGround,
            schema.TermsOfServiceGround,
            schema.TrackEntry,
            schema.TrackDefaults,
        )
        for name in model.model_fields
    }
)


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if value is None:
        return "nothing (null)"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    return f"{type(value).__name__} {value!r}"


def _explain(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    loc = error["loc"]
    value: Any = error.get("input")
    last = next((p for p in reversed(loc) if isinstance(p, str) and p != "[key]"), "")
    if "detail" in ctx:
        return str(ctx["detail"])
    if kind == "missing":
        return f"required field '{last}' is missing"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(last), _FIELD_NAMES, n=1, cutoff=0.7)
        return f"unknown field '{last}'" + (f"; did you mean '{close[0]}'?" if close else "")
    if kind == "union_tag_invalid":
        return f"{ctx.get('tag')!r} is not a ground type; expected one of " + ", ".join(vocab.GROUND_TYPES)
    if kind == "union_tag_not_found":
        return "a ground needs a 'type': " + " or ".join(vocab.GROUND_TYPES)
    if kind == "literal_error":
        return f"expected {ctx.get('expected')}, got {_describe(value)}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        hint = "; remove the quotes" if isinstance(value, str) and value.strip().isdigit() else ""
        return f"expected a whole number, got {_describe(value)}{hint}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {_describe(value)}"
    if kind == "string_type":
        hint = ""
        if isinstance(value, bool):
            hint = "; YAML reads yes/no/on/off/true/false as booleans, so quote it"
        elif isinstance(value, (int, float)):
            hint = "; quote it"
        return f"expected text, got {_describe(value)}{hint}"
    if kind in ("tuple_type", "list_type"):
        return f"expected a list, got {_describe(value)}"
    if kind in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
        return f"expected a mapping of fields, got {_describe(value)}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}, got {value!r}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}, got {value!r}"
    if kind == "string_too_long":
        return f"is {len(value)} characters long; the limit is {ctx.get('max_length')}"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return f"allows at most {ctx.get('max_length')} item(s)"
    message = str(error.get("msg", kind))
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _problems_from(exc: ValidationError, prefix: tuple[Any, ...], root: _Pos, source: str) -> list[Problem]:
    out = []
    for error in exc.errors(include_url=False):
        loc = prefix + tuple(error["loc"])
        if error["type"] == "union_tag_invalid":
            # The wrong value sits under `type:`, not at the start of the mapping.
            loc += ("type",)
        node, path = _locate(root, loc)
        out.append(_problem_at(source, node, path, _explain(error)))
    return out


def _decode(data: bytes, source: str) -> tuple[str | None, list[Problem]]:
    if len(data) > MAX_CATALOGUE_BYTES:
        return None, [
            Problem(
                source,
                None,
                None,
                "",
                f"the file is {len(data)} bytes; a catalogue may be at most {MAX_CATALOGUE_BYTES} bytes (1 MiB)",
            )
        ]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [Problem(source, line, column, "", "the file is not valid UTF-8")]


def _reader_problem(text: str, exc: yaml.reader.ReaderError, source: str) -> Problem:
    at = exc.position
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    code = exc.character if isinstance(exc.character, int) else ord(exc.character)
    return Problem(
        source,
        line,
        column,
        "",
        f"YAML syntax: character U+{code:04X} is not allowed in a YAML file (control characters cannot appear in it)",
    )


def _parse(data: bytes, source: str) -> tuple[Catalogue | None, list[Problem]]:
    text, problems = _decode(data, source)
    if text is None:
        return None, problems

    try:
        # The reader checks characters as it is built: a control character fails here.
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        return None, [_reader_problem(text, exc, source)]
    try:
        try:
            node = loader.get_single_node()
            if node is None:
                return None, [Problem(source, None, None, "", "the catalogue is empty")]
            duplicates: list[tuple[yaml.Node, str]] = []
            root = _index(loader, node, node, 0, set(), duplicates)
            document = loader.construct_document(node)
        except _Structure as exc:
            return None, [_problem_at(source, exc.node, "", exc.message)]
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            message = ": ".join(m for m in (exc.context, exc.problem) if m) or "malformed YAML"
            if "'\\t'" in message:
                message += " (indent with spaces, not tabs)"
            line = mark.line + 1 if mark else None
            column = mark.column + 1 if mark else None
            return None, [Problem(source, line, column, "", f"YAML syntax: {message}")]
        except yaml.reader.ReaderError as exc:
            return None, [_reader_problem(text, exc, source)]
        except yaml.YAMLError as exc:
            return None, [Problem(source, None, None, "", f"YAML syntax: {exc}")]
        except RecursionError:
            return None, [Problem(source, None, None, "", "the YAML is nested too deeply")]
    finally:
        loader.dispose()

    problems = [_problem_at(source, n, "", m) for n, m in duplicates]
    if not isinstance(document, dict):
        hint = ""
        if isinstance(document, str) and "\n" not in document.strip() and source == STRING_NAME:
            hint = " (to load a file, pass a pathlib.Path)"
        problems.append(
            _problem_at(
                source,
                node,
                "",
                f"the catalogue must be a mapping with catalogue_version and policies, got {_describe(document)}{hint}",
            )
        )
        return None, problems

    header: _Header | None
    try:
        header = _Header.model_validate(document)
    except ValidationError as exc:
        problems.extend(_problems_from(exc, (), root, source))
        # Without a usable header the policies may still be checkable; go on if they are a list.
        raw_policies = document.get("policies")
        header = None
        if not isinstance(raw_policies, list):
            return None, _sorted(problems)
    else:
        raw_policies = header.policies

    policies: list[Policy] = []
    first_seen: dict[str, yaml.Node] = {}
    for i, raw in enumerate(raw_policies):
        collected: list[tuple[schema.Loc, str]] = []
        try:
            policy = Policy.model_validate(raw, context={schema.COLLECT_RULE_PROBLEMS: collected})
        except ValidationError as exc:
            problems.extend(_problems_from(exc, ("policies", i), root, source))
            policy = None
        for loc, message in collected:
            node_, path = _locate(root, ("policies", i, *tuple(loc)))
            problems.append(_problem_at(source, node_, path, message))
        if policy is not None and not collected:
            policies.append(policy)
        raw_id = raw.get("id") if isinstance(raw, dict) else None
        if isinstance(raw_id, str):
            id_node, path = _locate(root, ("policies", i, "id"))
            if raw_id in first_seen:
                first = first_seen[raw_id].start_mark.line + 1
                problems.append(
                    _problem_at(
                        source,
                        id_node,
                        path,
                        f"policy id {raw_id!r} is already used "
                        f"on line {first}; each policy has one entry, and a change to "
                        "it is a new version of that entry",
                    )
                )
            else:
                first_seen[raw_id] = id_node

    if problems or header is None:
        return None, _sorted(problems)
    return (
        Catalogue(
            catalogue_version=header.catalogue_version,
            policies={p.id: p for p in policies},
            description=header.description,
            source=source,
            track_hours={k: float(v.hours) for k, v in header.legal_tracks.items()},
        ),
        [],
    )


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.line or 0, p.column or 0))


def _read(path: str | os.PathLike[str]) -> bytes:
    with open(path, "rb") as fh:
        # One byte past the limit is enough to know it is too big without reading it all.
        return fh.read(MAX_CATALOGUE_BYTES + 1)


def check_catalogue_text(text: str | bytes, *, name: str = STRING_NAME) -> list[Problem]:
    """Every problem in a catalogue given as text; an empty list means it loads."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return _parse(data, name)[1]


def check_catalogue_file(path: str | os.PathLike[str]) -> list[Problem]:
    """Every problem in a catalogue file (for `staydown policies check FILE`); [] if it loads.

    An unreadable file is a problem too, so the caller only has to print and set the exit code.
    """
    try:
        data = _read(path)
    except OSError as exc:
        return [Problem(os.fspath(path), None, None, "", f"cannot read the file: {exc.strerror}")]
    return _parse(data, os.fspath(path))[1]


def load_catalogue(source: str | bytes | os.PathLike[str], *, name: str | None = None) -> Catalogue:
    """Load and check a catalogue; CatalogueError (with every problem found) if it is not valid.

    A path-like object (pathlib.Path) is read as a file; a str or bytes is the YAML itself.
    `name` is what problems call the source; it defaults to the path, or "<string>".
    """
    if isinstance(source, os.PathLike):
        try:
            data = _read(source)
        except OSError as exc:
            raise CatalogueError(
                [Problem(name or os.fspath(source), None, None, "", f"cannot read the file: {exc.strerror}")]
            ) from exc
        label = name or os.fspath(source)
    else:
        data = source.encode("utf-8") if isinstance(source, str) else source
        label = name or STRING_NAME
    catalogue, problems = _parse(data, label)
    if catalogue is None:
        raise CatalogueError(problems)
    return catalogue


@functools.lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    """The catalogue shipped with staydown (policies/default.yaml). Cached: it is immutable."""
    data = importlib.resources.files("staydown.policies").joinpath(DEFAULT_NAME).read_bytes()
    return load_catalogue(data, name=DEFAULT_NAME)
