"""Which settings statements of reasons are issued with: tied to a database's engine by the app factory,
or to one session, and read by every statement issued on it."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from staydown.policies.vocab import BASE_LANGUAGE

_SETTINGS_KEY = "staydown.statements.settings"


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
