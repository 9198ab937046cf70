"""HMA's exchanges (collaborations) and its signal and content type lists, expressed in staydown's
exchanges: an HMA exchange named `FOO` is the staydown exchange `foo`, which fills the bank `foo`
(HMA also gives an exchange a bank of its own name). The API types are python-threatexchange's
names (`stop_ncii`, `local_file`...), which staydown spells `stopncii` and `file`."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from threatexchange.utils import dataclass_json

from staydown.actors import Actor
from staydown.errors import Conflict, InvalidInput
from staydown.evidence.crypto import MasterKeys
from staydown.exchanges import actions as exchanges
from staydown.exchanges.kinds import KINDS, kind_of
from staydown.exchanges.models import Exchange, ExchangeRecord
from staydown.hma.actions import (
    CONTENT_TYPES,
    DEFAULT_POLICY,
    HMA_SIGNAL_NAME,
    find_bank,
    find_named,
    get_named,
    staydown_name,
)
from staydown.matching.models import MatchAction

# HMA's own check on the bank an exchange makes.
HMA_EXCHANGE_NAME_RE = re.compile(r"^[A-Z0-9_]{1,80}$")
_OURS = {"stop_ncii": "stopncii", "local_file": "file"}
_THEIRS = {ours: theirs for theirs, ours in _OURS.items()}
# What an HMA exchange config carries besides the API's own fields.
_COLLAB_KEYS = ("name", "api", "enabled")


def api_name(api: str) -> str:
    """staydown's API name as HMA (python-threatexchange) names it."""
    return _THEIRS.get(api, api)


def exchange_apis() -> list[str]:
    return [api_name(api) for api in KINDS]


def find_exchange(db: Session, name: str) -> Exchange | None:
    return find_named(db, Exchange, name)


def get_exchange(db: Session, name: str) -> Exchange:
    return get_named(db, Exchange, name, "Exchange")


def list_exchanges(db: Session) -> list[str]:
    return [name.upper() for name in db.execute(sa.select(Exchange.name).order_by(Exchange.name)).scalars()]


def exchange_config(exchange: Exchange) -> dict[str, Any]:
    """The exchange as HMA serialises its collaboration: the library's config dataclass as JSON
    (no credentials: they are never in the config)."""
    kind = kind_of(exchange.api)
    config = dict(exchange.config)
    if kind.api == "file":
        config["filename"] = config.get("filename") or config.get("url")
    out = json.loads(dataclass_json.dataclass_dumps(kind.collab(exchange.name, config)))
    out.update(name=exchange.name.upper(), api=api_name(exchange.api), enabled=exchange.enabled)
    return out


def create_exchange(
    db: Session,
    *,
    actor: Actor,
    bank: Any,
    api: Any,
    api_json: Any,
    keys: MasterKeys | None,
    settings: Any,
    credential_json: Any = None,
    policy_id: str | None = None,
    permitted_purpose: str | None = None,
    action_on_match: str | None = None,
) -> Exchange:
    """HMA's exchange creation: a collaboration of API type `api` with its fields in `api_json`,
    and a bank of the same name. Credentials, which HMA sets per API type, are the exchange's own
    here: `credential_json` (the library's fields) is sealed under the vault's master key, or
    `STAYDOWN_EXCHANGE_CREDENTIALS` holds them under the exchange's name."""
    if not isinstance(bank, str) or not HMA_EXCHANGE_NAME_RE.match(bank):
        raise InvalidInput("Field `bank` must match /^[A-Z0-9_]+$/")
    if api_json is None:
        api_json = {}
    if not isinstance(api_json, dict):
        raise InvalidInput("Field `api_json` must be object")
    if api is None:
        raise InvalidInput("Field `api` is required")
    ours = _OURS.get(str(api), str(api))
    if ours not in KINDS:
        raise InvalidInput(f"No such exchange type '{api}'")
    kind = kind_of(ours)
    name = staydown_name(bank)
    if find_exchange(db, bank) is not None:
        raise Conflict(f"Exchange '{bank}' already exists")
    if find_bank(db, bank) is not None:
        raise Conflict(f"bank '{bank}' already exists: an exchange makes a bank of its own name")
    credentials: str | None = None
    in_settings = False
    if kind.credentials_cls is not None:
        if credential_json:
            if not isinstance(credential_json, dict):
                raise InvalidInput(f"Field `credential_json` must be an object ({kind.credentials_hint})")
            credentials = json.dumps(credential_json)
        elif name in (getattr(settings, "exchange_credentials", None) or {}):
            in_settings = True
        else:
            raise InvalidInput(
                f"{kind.title} needs credentials: send `credential_json` ({kind.credentials_hint}) "
                f"or put them in STAYDOWN_EXCHANGE_CREDENTIALS under {name!r}"
            )
    enabled = api_json.get("enabled", True)
    config = {k: v for k, v in api_json.items() if k not in _COLLAB_KEYS}
    exchange = exchanges.add_exchange(
        db,
        actor=actor,
        name=name,
        api=ours,
        config=config,
        keys=keys,
        credentials=credentials,
        credentials_in_settings=in_settings,
        bank_name=name,
        policy_id=policy_id or DEFAULT_POLICY,
        permitted_purpose=permitted_purpose
        or f"signals shared on {kind.title}, configured through the "
        "HMA-compatible API, matched against the platform's uploads",
        action_on_match=action_on_match or MatchAction.flag.value,
    )
    if enabled is False:
        exchanges.set_enabled(db, actor=actor, exchange=exchange, enabled=False, reason="created disabled (HMA API)")
    return exchange


def update_exchange(db: Session, *, actor: Actor, exchange: Exchange, enabled: bool | None) -> Exchange:
    """HMA's update changes `enabled` only."""
    if enabled is not None:
        exchanges.set_enabled(
            db,
            actor=actor,
            exchange=exchange,
            enabled=enabled,
            reason=f"{'enabled' if enabled else 'disabled'} through the HMA API",
        )
    return exchange


def delete_exchange(db: Session, *, actor: Actor, name: str) -> None:
    """HMA answers a delete of an unknown exchange with success; so does this. One that fetched
    records is kept (403 with the reason): disable it instead."""
    exchange = find_exchange(db, name)
    if exchange is not None:
        exchanges.delete_exchange(db, actor=actor, exchange=exchange, reason="deleted through the HMA API")


def _ts(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


def fetch_status(db: Session, exchange: Exchange) -> dict[str, Any]:
    """HMA's FetchStatus of an exchange, from its row and its live records."""
    kind = kind_of(exchange.api)
    try:
        checkpoint = kind.load_checkpoint(exchange.checkpoint) if exchange.checkpoint else None
    except Exception:  # noqa: BLE001 - an unreadable checkpoint is no checkpoint (the next fetch starts over)
        checkpoint = None
    running = exchange.state == "fetching"
    finished = exchange.last_fetch_finished_at
    items = (
        db.scalar(
            sa.select(sa.func.count())
            .select_from(ExchangeRecord)
            .where(ExchangeRecord.exchange_id == exchange.id, ExchangeRecord.deleted_at.is_(None))
        )
        or 0
    )
    return {
        "checkpoint_ts": checkpoint.get_progress_timestamp() if checkpoint is not None else None,
        "running_fetch_start_ts": _ts(exchange.last_fetch_started_at) if running else None,
        "last_fetch_complete_ts": _ts(finished),
        "last_fetch_succeeded": None if finished is None else exchange.state == "ok",
        "up_to_date": exchange.state == "ok" and not running,
        "fetched_items": int(items),
    }


def signal_types() -> list[dict[str, Any]]:
    """Every signal type staydown matches, always on: a type turned partly off would leave abuse up."""
    return [{"name": HMA_SIGNAL_NAME[ours], "enabled_ratio": 1.0} for ours in ("pdq", "md5", "vpdq")]


def content_types() -> list[dict[str, Any]]:
    return [{"name": name, "enabled": True} for name in CONTENT_TYPES]
