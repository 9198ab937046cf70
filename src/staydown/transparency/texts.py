"""The sentences of a statement of reasons, as data: one YAML file per language in `texts/`.

Why files and not Python tables: the words are the part a platform's lawyers and translators
change, and a language is added by adding a file with the same keys (English is the fallback
key by key, so a half-translated file still says everything). The files are flat enough to be
turned into gettext catalogues when the public pages get theirs.
"""

from __future__ import annotations

import importlib.resources
from functools import cache
from typing import Any

import yaml

from staydown.policies.vocab import BASE_LANGUAGE


@cache
def available() -> tuple[str, ...]:
    folder = importlib.resources.files("staydown.transparency").joinpath("texts")
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml")))


@cache
def _load(language: str) -> dict[str, Any]:
    path = importlib.resources.files("staydown.transparency").joinpath("texts", f"{language}.yaml")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"texts/{language}.yaml is not a mapping")
    return data


def _primary(language: str) -> str:
    tag = (language or BASE_LANGUAGE).lower().split("-", 1)[0]
    return tag if tag in available() else BASE_LANGUAGE


def lookup(language: str, *path: str) -> Any:
    """The text at `path` in `language`, else in English; KeyError when English lacks it too."""
    for lang in dict.fromkeys((_primary(language), BASE_LANGUAGE)):
        node: Any = _load(lang)
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                break
        if node is not None:
            return node
    raise KeyError("/".join(path))


def text(language: str, *path: str, **values: Any) -> str:
    """One sentence, its placeholders filled."""
    found = lookup(language, *path)
    return str(found).format(**values) if values else str(found)


def label(language: str, key: str, **values: Any) -> str:
    return text(language, "labels", key, **values)


def measure(language: str, kind: str) -> str:
    try:
        return text(language, "measures", kind)
    except KeyError:
        return kind.replace("_", " ")


def headline(language: str, *, kind: str, state: str, **values: Any) -> str:
    """The first sentence: what was done, by the measure and its state (`pending_review` or
    `decided`), with `default` of that state for a measure it does not name."""
    try:
        return text(language, "headline", state, kind, **values)
    except KeyError:
        return text(language, "headline", state, "default", **values)


def keys(node: Any, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every leaf path of a texts tree (the test that each language has every English key)."""
    if isinstance(node, dict):
        out: set[tuple[str, ...]] = set()
        for k, v in node.items():
            out |= keys(v, (*prefix, str(k)))
        return out
    return {prefix}


def tree(language: str) -> dict[str, Any]:
    return _load(language)
