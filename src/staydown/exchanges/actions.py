"""Configure exchanges and fetch them: each page of the partner's records goes into the
collaboration's bank together with the checkpoint that covers it, so a crash resumes there."""

from __future__ import annotations

import json
import logging
import re
import tempfile
import time
import typing as t
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import Actor, ActorKind
from staydown.audit import AuditTag
from staydown.db import now
from staydown.delivery.models import Job, JobState
from staydown.delivery.outbox import JobContext, enqueue
from staydown.errors import Conflict, InvalidInput, NotFound, StaydownError
from staydown.evidence.crypto import MasterKeys, VaultKeyError, open_blob, seal, unwrap, wrap
from staydown.exchanges.kinds import SIGNAL_TYPES, Credentials, Kind, kind_of, plain, record_key
from staydown.exchanges.models import Exchange, ExchangeRecord, ExchangeSignal, ExchangeSubmission
from staydown.matching.banks import (
    NewEntry,
    add_entries,
    bank_by_name,
    create_bank,
    delete_bank,
    disable_entry,
    enable_entry,
    normalise_signal,
)
from staydown.matching.models import Bank, BankEntry, MatchAction

log = logging.getLogger(__name__)

EXCHANGE_FETCH = "exchanges:fetch"
EXCHANGES_SCHEDULE = "exchanges:schedule"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,79}$")
MAX_CONFIG_BYTES = 8192
MAX_ERROR = 2000


class CredentialsUnavailable(StaydownError):
    code = "exchange_credentials"


class FetchFailed(StaydownError):
    """A fetch stopped on the partner's answer; the exchange's status says why."""

    code = "exchange_fetch_failed"


def exchange_actor(exchange: Exchange) -> Actor:
    """Writes a fetch makes are the exchange's, under a name that says which one."""
    return Actor(ActorKind.system, f"exchange:{exchange.name}", f"exchange {exchange.name}")


def exchange_by_name(db: Session, name: str) -> Exchange:
    found = db.execute(sa.select(Exchange).where(Exchange.name == name)).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no exchange named {name!r}")
    return found


def _aad(name: str) -> bytes:
    return f"staydown-exchange-credentials:{name}".encode()


# -- configuration -------------------------------------------------------------------------------


def add_exchange(
    db: Session,
    *,
    actor: Actor,
    name: str,
    api: str,
    config: dict[str, t.Any],
    policy_id: str,
    permitted_purpose: str,
    keys: MasterKeys | None = None,
    credentials: str | None = None,
    credentials_in_settings: bool = False,
    bank_name: str | None = None,
    action_on_match: str = MatchAction.hold.value,
    confirmed_material: bool = False,
    fetch_every_seconds: int = 3600,
    report_back: bool = True,
) -> Exchange:
    """Configure one collaboration and the bank it fills. Credentials are checked for shape
    here and sealed under the vault's master key, or left to settings (`STAYDOWN_EXCHANGE_CREDENTIALS`)."""
    if not NAME_RE.match(name):
        raise InvalidInput("an exchange name is 1-80 lower-case letters, digits, '.', '_' or '-'")
    kind = kind_of(api)
    if not isinstance(config, dict) or len(json.dumps(config)) > MAX_CONFIG_BYTES:
        raise InvalidInput(f"an exchange's configuration is a JSON object of at most {MAX_CONFIG_BYTES} bytes")
    _check_config(kind, config)
    if not 60 <= fetch_every_seconds <= 7 * 86400:
        raise InvalidInput("an exchange is fetched every 60 seconds to 7 days")
    if db.execute(sa.select(Exchange.id).where(Exchange.name == name)).first():
        raise Conflict(f"an exchange named {name!r} already exists")
    if credentials is not None and credentials_in_settings:
        raise InvalidInput("give the credentials or say they are in settings, not both")
    if kind.credentials_cls is not None and credentials is None and not credentials_in_settings:
        raise InvalidInput(
            f"{kind.title} needs credentials ({kind.credentials_hint}), given here or in STAYDOWN_EXCHANGE_CREDENTIALS"
        )
    bank = _bank_for(
        db,
        actor=actor,
        kind=kind,
        name=bank_name or name,
        policy_id=policy_id,
        permitted_purpose=permitted_purpose,
        action_on_match=action_on_match,
        confirmed_material=confirmed_material,
    )
    when = now(db)
    exchange = Exchange(
        name=name,
        api=kind.api,
        bank_id=bank.id,
        config=config,
        enabled=True,
        credentials_source="none",
        fetch_every_seconds=fetch_every_seconds,
        report_back=report_back,
        generation=0,
        full_fetch=False,
        state="new",
        last_fetch_pages=0,
        last_fetch_updates=0,
        created_by=actor.ref,
        created_at=when,
        updated_at=when,
    )
    if credentials is not None:
        if keys is None:
            raise InvalidInput("sealing credentials needs the vault's master key")
        _seal(exchange, kind, credentials, keys)
    elif credentials_in_settings:
        exchange.credentials_source = "settings"
    db.add(exchange)
    db.flush()
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.EXCHANGE_ADD,
        subject_type="exchange",
        subject_id=exchange.id,
        data={
            "name": name,
            "api": kind.api,
            "bank": bank.name,
            "config": config,
            "credentials": exchange.credentials_source,
            "fetch_every_seconds": fetch_every_seconds,
        },
    )
    return exchange


def set_credentials(
    db: Session,
    *,
    actor: Actor,
    exchange: Exchange,
    credentials: str | None,
    keys: MasterKeys | None,
    in_settings: bool = False,
) -> Exchange:
    """Replace an exchange's credentials (a rotated key, a refused one); audited, never logged."""
    kind = kind_of(exchange.api)
    if in_settings:
        exchange.credentials_source = "settings"
        exchange.sealed_credentials = exchange.sealed_key = exchange.credentials_key_id = None
    else:
        if credentials is None or keys is None:
            raise InvalidInput("new credentials are needed, or say they are in settings")
        _seal(exchange, kind, credentials, keys)
    exchange.updated_at = now(db)
    if exchange.state == "auth_failed":
        exchange.state = "idle"
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.EXCHANGE_UPDATE,
        subject_type="exchange",
        subject_id=exchange.id,
        data={"credentials": exchange.credentials_source},
    )
    return exchange


@dataclass
class Rewrapped:
    rewrapped: int = 0
    # Exchanges whose credentials no configured key opens: they need `exchanges credentials` again.
    unreadable: list[str] = field(default_factory=list)


def rewrap_credentials(db: Session, *, actor: Actor, keys: MasterKeys) -> Rewrapped:
    """Re-wrap every sealed credential's data key under the current master key, as the vault's
    rotation does for evidence, so that the previous key can be retired. The ciphertext is untouched."""
    result = Rewrapped()
    for exchange in db.execute(
        sa.select(Exchange)
        .where(
            Exchange.credentials_source == "sealed",
            sa.or_(Exchange.credentials_key_id.is_(None), Exchange.credentials_key_id != keys.current_id),
        )
        .order_by(Exchange.id)
    ).scalars():
        old = exchange.credentials_key_id
        try:
            data_key = unwrap(exchange.sealed_key or b"", keys.by_id(old or ""), _aad(exchange.name))
        except VaultKeyError:
            result.unreadable.append(exchange.name)
            continue
        exchange.sealed_key = wrap(data_key, keys.current, _aad(exchange.name))
        exchange.credentials_key_id = keys.current_id
        exchange.updated_at = now(db)
        result.rewrapped += 1
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.EXCHANGE_UPDATE,
            subject_type="exchange",
            subject_id=exchange.id,
            data={"credentials": "rewrapped", "from": old, "to": keys.current_id},
        )
    return result


def _seal(exchange: Exchange, kind: Kind, text: str, keys: MasterKeys) -> None:
    kind.parse_credentials(text)  # refuse a malformed one now, not at the first fetch
    blob, wrapped = seal(text.strip().encode(), keys=keys, item_aad=_aad(exchange.name))
    exchange.sealed_credentials, exchange.sealed_key = blob, wrapped
    exchange.credentials_key_id = keys.current_id
    exchange.credentials_source = "sealed"


def _check_config(kind: Kind, config: dict[str, t.Any]) -> None:
    if kind.api == "file":
        if bool(config.get("filename")) == bool(config.get("url")):
            raise InvalidInput("a hash list exchange reads either a `filename` or a `url`")
        if config.get("url") and not str(config["url"]).startswith(("https://", "http://")):
            raise InvalidInput("a hash list's url is http:// or https://")
    else:
        missing = [k for k in kind.required_config if not config.get(k)]
        if missing:
            raise InvalidInput(f"{kind.title} needs {', '.join(missing)} in its configuration")
    base = config.get("base_url")
    if base is not None and not str(base).startswith(("https://", "http://")):
        raise InvalidInput("base_url is an http:// or https:// address")
    try:
        kind.collab("check", {**config, "filename": config.get("filename") or "-"})
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"{kind.title} configuration: {exc}") from None


def _bank_for(
    db: Session,
    *,
    actor: Actor,
    kind: Kind,
    name: str,
    policy_id: str,
    permitted_purpose: str,
    action_on_match: str,
    confirmed_material: bool,
) -> Bank:
    try:
        return bank_by_name(db, name)
    except NotFound:
        pass
    return create_bank(
        db,
        actor=actor,
        name=name,
        source=kind.bank_source,
        permitted_purpose=permitted_purpose,
        policy_id=policy_id,
        action_on_match=action_on_match,
        confirmed_material=confirmed_material,
        description=f"fetched from {kind.title} (exchange {name})",
    )


def credentials_for(exchange: Exchange, *, settings: t.Any, keys: MasterKeys | None) -> Credentials:
    kind = kind_of(exchange.api)
    if kind.credentials_cls is None:
        return Credentials(None)
    if exchange.credentials_source == "sealed":
        if keys is None or exchange.sealed_credentials is None or exchange.sealed_key is None:
            raise CredentialsUnavailable(
                f"exchange {exchange.name}: its sealed credentials need the vault's master key"
            )
        try:
            text = open_blob(
                exchange.sealed_credentials,
                exchange.sealed_key,
                master=keys.by_id(exchange.credentials_key_id or ""),
                item_aad=_aad(exchange.name),
            ).decode()
        except VaultKeyError as exc:
            raise CredentialsUnavailable(
                f"exchange {exchange.name}: its credentials cannot be opened ({exc})"
            ) from None
        return kind.parse_credentials(text)
    if exchange.credentials_source == "settings":
        secret = (getattr(settings, "exchange_credentials", None) or {}).get(exchange.name)
        if secret is None:
            raise CredentialsUnavailable(
                f"exchange {exchange.name}: STAYDOWN_EXCHANGE_CREDENTIALS has no entry "
                f"{exchange.name!r} ({kind.credentials_hint})"
            )
        return kind.parse_credentials(secret.get_secret_value())
    raise CredentialsUnavailable(f"exchange {exchange.name} has no credentials ({kind.credentials_hint})")


def set_enabled(db: Session, *, actor: Actor, exchange: Exchange, enabled: bool, reason: str) -> Exchange:
    if not reason.strip():
        raise InvalidInput("turning an exchange on or off needs a reason, for the record")
    if exchange.enabled != enabled:
        exchange.enabled = enabled
        exchange.updated_at = now(db)
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.EXCHANGE_UPDATE,
            subject_type="exchange",
            subject_id=exchange.id,
            data={"enabled": enabled, "reason": reason},
        )
    return exchange


def delete_exchange(db: Session, *, actor: Actor, exchange: Exchange, reason: str) -> None:
    """Delete an exchange that never brought a record, with its bank if that never held an entry.
    One that did is kept (disable it instead): its records explain the bank's entries and the
    matches made against them, and what was told to the partner stays on file."""
    if not reason.strip():
        raise InvalidInput("deleting an exchange needs a reason, for the record")
    records = (
        db.scalar(
            sa.select(sa.func.count()).select_from(ExchangeRecord).where(ExchangeRecord.exchange_id == exchange.id)
        )
        or 0
    )
    if records:
        raise Conflict(
            f"exchange {exchange.name!r} has fetched {records} records, kept so that its bank's entries "
            "stay explainable: disable the exchange instead"
        )
    told = (
        db.scalar(
            sa.select(sa.func.count())
            .select_from(ExchangeSubmission)
            .where(ExchangeSubmission.exchange_id == exchange.id)
        )
        or 0
    )
    if told:
        raise Conflict(
            f"exchange {exchange.name!r} has {told} submissions (feedback or shares) on file: disable "
            "the exchange instead"
        )
    if (
        db.execute(
            sa.select(Job.id).where(Job.ordering_key == _ordering_key(exchange.id), Job.state == JobState.running.value)
        ).first()
        is not None
    ):
        raise Conflict(f"a fetch of {exchange.name} is running; try again when it has finished")
    # A fetch still waiting finds no exchange and ends (fetch_job).
    bank = db.get(Bank, exchange.bank_id)
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.EXCHANGE_DELETE,
        subject_type="exchange",
        subject_id=exchange.id,
        data={"name": exchange.name, "api": exchange.api, "reason": reason},
    )
    db.delete(exchange)
    db.flush()
    if bank is not None and not db.scalar(
        sa.select(sa.func.count()).select_from(BankEntry).where(BankEntry.bank_id == bank.id)
    ):
        delete_bank(db, actor=actor, bank=bank, reason=f"its exchange {exchange.name} was deleted ({reason})")


# -- scheduling ---------------------------------------------------------------------------------


def _ordering_key(exchange_id: int) -> str:
    # One fetch per exchange at a time, across every worker: the outbox runs jobs that share an
    # ordering key one after another.
    return f"exchange:{exchange_id}"


def request_fetch(db: Session, *, exchange: Exchange, full: bool = False, actor: Actor | None = None) -> Job:
    """Queue a fetch, unless one is already waiting to start (then that one is the answer)."""
    waiting = db.execute(
        sa.select(Job)
        .where(
            Job.ordering_key == _ordering_key(exchange.id),
            Job.kind == EXCHANGE_FETCH,
            Job.state == JobState.pending.value,
        )
        .order_by(Job.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if waiting is not None and (not full or waiting.payload.get("full")):
        return waiting
    job = enqueue(
        db,
        kind=EXCHANGE_FETCH,
        payload={"exchange_id": exchange.id, "full": full},
        ordering_key=_ordering_key(exchange.id),
        max_attempts=10,
    )
    if actor is not None:
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.EXCHANGE_UPDATE,
            subject_type="exchange",
            subject_id=exchange.id,
            data={"fetch_requested": True, "full": full, "job_id": job.id},
        )
    return job


def lease_cli_fetch(db: Session, *, exchange: Exchange, actor: Actor, lease_seconds: int, full: bool = False) -> int:
    """Take the exchange's fetch for a command run at a shell, through the outbox's own exclusion:
    a fetch job leased to the command (a waiting one taken over, or a new one). A fetch a worker
    is running is refused; if the command dies, the lease runs out and a worker resumes the fetch
    from its checkpoint."""
    running = db.execute(
        sa.select(Job.id).where(Job.ordering_key == _ordering_key(exchange.id), Job.state == JobState.running.value)
    ).first()
    if running is not None:
        raise Conflict(
            f"a fetch of {exchange.name} is running already (job {running[0]}); "
            "`staydown exchanges status` shows its progress"
        )
    job = request_fetch(db, exchange=exchange, full=full, actor=actor)
    when = now(db)
    job.state = JobState.running.value
    job.locked_by = f"cli:{actor.ref}"[:120]
    job.locked_until = when + timedelta(seconds=lease_seconds)
    job.attempts += 1
    db.flush()
    return job.id


def finish_cli_fetch(db: Session, *, job_id: int, error: str | None) -> None:
    job = db.get(Job, job_id)
    if job is None or job.state != JobState.running.value or not (job.locked_by or "").startswith("cli:"):
        return
    job.state = JobState.done.value
    job.finished_at = now(db)
    job.locked_by = job.locked_until = None
    job.last_error = error


def schedule_due(db: Session) -> int:
    """Queue a fetch for every enabled exchange whose interval has passed and that has none waiting."""
    when = now(db)
    queued = 0
    for exchange in db.execute(sa.select(Exchange).where(Exchange.enabled.is_(True))).scalars():
        last = exchange.last_fetch_started_at
        if last is not None and when - last < timedelta(seconds=exchange.fetch_every_seconds):
            continue
        busy = db.execute(
            sa.select(Job.id)
            .where(
                Job.ordering_key == _ordering_key(exchange.id),
                Job.state.in_([JobState.pending.value, JobState.running.value]),
            )
            .limit(1)
        ).first()
        if busy is None:
            request_fetch(db, exchange=exchange)
            queued += 1
    return queued


def schedule_job(db: Session, ctx: JobContext) -> None:
    schedule_due(db)


# -- fetching -----------------------------------------------------------------------------------


@dataclass
class FetchSummary:
    pages: int = 0
    updates: int = 0
    added: int = 0
    deleted_records: int = 0
    disabled_entries: int = 0
    enabled_entries: int = 0
    skipped: int = 0
    done: bool = False
    continues: bool = False
    error: str | None = None
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, t.Any]:
        return {k: v for k, v in self.__dict__.items() if k != "problems"} | {"problems": self.problems[:20]}


Progress = Callable[[FetchSummary, t.Any], None]


def fetch_job(db: Session, ctx: JobContext) -> None:
    """Run one fetch of an exchange from the outbox; a refused credential or an error of the
    partner's is recorded on the exchange (its status), and an error worth retrying is raised."""
    exchange = db.get(Exchange, ctx.payload["exchange_id"])
    if exchange is None or not exchange.enabled:
        return
    settings = ctx.services["settings"]
    keys = _keys(ctx.services)
    job = db.get(Job, ctx.job_id)
    summary = run_fetch(
        db,
        exchange=exchange,
        settings=settings,
        keys=keys,
        full=bool(ctx.payload.get("full")),
        budget_seconds=settings.exchange_fetch_budget_seconds,
        job=job,
        lease_seconds=ctx.services.get("job_lease_seconds", settings.job_lease_seconds),
    )
    if summary.error and exchange.state == "failed":
        raise FetchFailed(summary.error)


def _keys(services: dict[str, t.Any]) -> MasterKeys | None:
    vault = services.get("vault")
    if vault is not None:
        return vault.keys
    settings = services.get("settings")
    if settings is None:
        return None
    return MasterKeys.from_base64(
        settings.vault_master_key.get_secret_value(),
        [k.get_secret_value() for k in settings.vault_previous_master_keys],
    )


def run_fetch(
    db: Session,
    *,
    exchange: Exchange,
    settings: t.Any,
    keys: MasterKeys | None,
    full: bool = False,
    budget_seconds: float | None = None,
    progress: Progress | None = None,
    job: Job | None = None,
    lease_seconds: int = 300,
) -> FetchSummary:
    """Fetch from the exchange's checkpoint until the partner has nothing newer (or the budget is
    spent: the rest continues in a new job). Commits after each page: the page's records, their
    bank entries and the checkpoint after it, together. Network calls run outside transactions."""
    kind = kind_of(exchange.api)
    summary = FetchSummary()
    started = time.monotonic()
    checkpoint = None if (full or kind.snapshot) else _load(kind, exchange)
    if checkpoint is not None and checkpoint.is_stale():
        checkpoint = None
    if checkpoint is None and (full or kind.snapshot or not exchange.full_fetch):
        # From the start: the whole list comes again, and what it no longer holds is gone at the end.
        exchange.generation += 1
        exchange.full_fetch = True
    exchange.state = "fetching"
    exchange.last_fetch_started_at = now(db)
    exchange.last_error = None
    exchange.last_fetch_pages = exchange.last_fetch_updates = 0
    db.commit()

    temp: Path | None = None
    try:
        config = dict(exchange.config)
        if kind.api == "file" and config.get("url"):
            temp = _download(config["url"], settings)
            config["filename"] = str(temp)
        api = kind.build(exchange.name, config, credentials_for(exchange, settings=settings, keys=keys))
        deltas = api.fetch_iter(list(SIGNAL_TYPES), checkpoint)
        while True:
            try:
                delta = next(deltas)
            except StopIteration:
                break
            apply_delta(
                db,
                exchange=exchange,
                kind=kind,
                collab=kind.collab(exchange.name, config),
                delta=delta,
                summary=summary,
            )
            exchange.checkpoint = kind.dump_checkpoint(delta.checkpoint)
            exchange.last_fetch_pages = summary.pages = summary.pages + 1
            exchange.last_fetch_updates = summary.updates
            if job is not None:
                job.locked_until = now(db) + timedelta(seconds=lease_seconds)
            db.commit()
            if progress is not None:
                progress(summary, delta.checkpoint)
            if budget_seconds is not None and time.monotonic() - started > budget_seconds:
                summary.continues = True
                break
    except (CredentialsUnavailable, InvalidInput) as exc:
        return _failed(db, exchange, summary, "auth_failed", exc.message)
    except Exception as exc:  # noqa: BLE001 - the partner's errors become the exchange's status
        db.rollback()
        state, message = _describe(kind, exc, exchange.name)
        return _failed(db, exchange, summary, state, message)
    finally:
        if temp is not None:
            temp.unlink(missing_ok=True)

    if summary.continues:
        request_fetch(db, exchange=exchange)
    else:
        if exchange.full_fetch:
            _sweep_unseen(db, exchange=exchange, summary=summary)
            exchange.full_fetch = False
        exchange.state = "ok"
        exchange.last_success_at = now(db)
        summary.done = True
    exchange.last_fetch_finished_at = now(db)
    audit.record(
        db,
        actor=exchange_actor(exchange),
        tag=AuditTag.EXCHANGE_FETCH,
        subject_type="exchange",
        subject_id=exchange.id,
        data=summary.as_dict(),
    )
    db.commit()
    return summary


def _load(kind: Kind, exchange: Exchange) -> t.Any:
    try:
        return kind.load_checkpoint(exchange.checkpoint)
    except Exception:  # noqa: BLE001 - an unreadable checkpoint means fetching again from the start
        log.warning("exchange %s: checkpoint unreadable, fetching from the start", exchange.name)
        return None


def _failed(db: Session, exchange: Exchange, summary: FetchSummary, state: str, message: str) -> FetchSummary:
    summary.error = message[:MAX_ERROR]
    exchange.state = state
    exchange.last_error = summary.error
    exchange.last_fetch_finished_at = now(db)
    audit.record(
        db,
        actor=exchange_actor(exchange),
        tag=AuditTag.EXCHANGE_FETCH_FAIL,
        subject_type="exchange",
        subject_id=exchange.id,
        data={"state": state, "error": summary.error, "pages": summary.pages},
    )
    db.commit()
    log.warning("exchange %s: fetch stopped (%s): %s", exchange.name, state, summary.error)
    return summary


def _describe(kind: Kind, exc: BaseException, name: str = "NAME") -> tuple[str, str]:
    """What the partner's refusal means, in a sentence an operator can act on."""
    response = getattr(exc, "response", None)
    if isinstance(exc, requests.HTTPError) and response is not None:
        status = response.status_code
        detail = _error_detail(response)
        if (
            status in (401, 403)
            or (kind.api == "fb_threatexchange" and status == 400 and "OAuth" in detail)
            # TAT signs in with the password first; its refusal there is a 400.
            or (kind.api == "tat" and status == 400 and "token-auth" in (response.url or ""))
        ):
            return "auth_failed", (
                f"{kind.title} refused the credentials (HTTP {status}{': ' + detail if detail else ''}); "
                f"replace them with: staydown exchanges credentials {name} --stdin"
            )
        return "failed", f"{kind.title} answered HTTP {status}{': ' + detail if detail else ''}"
    if isinstance(exc, requests.ConnectionError):
        return "failed", f"{kind.title} could not be reached ({type(exc).__name__})"
    return "failed", f"{kind.title} fetch failed: {type(exc).__name__}: {str(exc)[:300]}"


def _error_detail(response: requests.Response) -> str:
    try:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            return f"{error.get('type', '')} {error.get('message', '')}".strip()[:300]
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])[:300]
        # Django REST framework's error shapes (TAT's API).
        if isinstance(body, dict) and body.get("detail"):
            return str(body["detail"])[:300]
        if isinstance(body, dict) and isinstance(body.get("non_field_errors"), list):
            return " ".join(str(e) for e in body["non_field_errors"])[:300]
    except ValueError:
        pass
    # An XML or HTML error page: its words, not its markup.
    return " ".join(re.sub(r"<[^>]+>", " ", response.text or "").split())[:200]


def _download(url: str, settings: t.Any) -> Path:
    """A URL list, fetched to a temporary file for the library's file exchange to read."""
    limit = settings.exchange_list_max_bytes
    with requests.get(url, stream=True, timeout=60) as response:
        response.raise_for_status()
        size = 0
        with tempfile.NamedTemporaryFile("wb", suffix=".txt", delete=False) as handle:
            for chunk in response.iter_content(65536):
                size += len(chunk)
                if size > limit:
                    Path(handle.name).unlink(missing_ok=True)
                    raise InvalidInput(f"the hash list at {url} is larger than {limit} bytes")
                handle.write(chunk)
    return Path(handle.name)


# -- applying a page ----------------------------------------------------------------------------


def apply_delta(
    db: Session, *, exchange: Exchange, kind: Kind, collab: t.Any, delta: t.Any, summary: FetchSummary
) -> None:
    """One page of updates: new and changed records add or re-enable their bank entries and keep
    the partner's metadata; deletions disable entries no live record of the exchange still holds."""
    bank = db.get(Bank, exchange.bank_id)
    assert bank is not None
    actor = exchange_actor(exchange)
    when = now(db)
    items = {record_key(k): (k, v) for k, v in delta.updates.items()}
    summary.updates += len(items)
    records: dict[str, ExchangeRecord] = {}
    names = list(items)
    for i in range(0, len(names), 500):
        for existing in db.execute(
            sa.select(ExchangeRecord).where(
                ExchangeRecord.exchange_id == exchange.id, ExchangeRecord.record_key.in_(names[i : i + 500])
            )
        ).scalars():
            records[existing.record_key] = existing

    wanted: dict[str, list[tuple[str, str, str]]] = {}
    gone: list[ExchangeRecord] = []
    for name, (key, value) in items.items():
        rec = records.get(name)
        if kind.is_gone(value):
            if rec is not None and rec.deleted_at is None:
                rec.deleted_at = rec.fetched_at = when
                gone.append(rec)
            continue
        clean: list[tuple[str, str, str]] = []
        for s in kind.signals(collab, key, value):
            try:
                signal_type, signal = normalise_signal(s.signal_type, s.signal)
            except InvalidInput as exc:
                summary.skipped += 1
                summary.problems.append(f"{name}: {exc.message}")
                continue
            clean.append((signal_type.value, signal, s.partner_type))
        if not clean:
            summary.skipped += 1  # nothing a bank can hold (a URL, PhotoDNA only)
        meta = plain(value)
        if rec is None:
            rec = ExchangeRecord(
                exchange_id=exchange.id,
                record_key=name,
                partner_id=kind.partner_id(value),
                meta=meta,
                first_fetched_at=when,
                fetched_at=when,
                seen_generation=exchange.generation,
            )
            db.add(rec)
            records[name] = rec
        else:
            rec.meta, rec.partner_id, rec.fetched_at = meta, kind.partner_id(value), when
            rec.deleted_at = None
            rec.seen_generation = exchange.generation
        wanted[name] = clean
    db.flush()

    entries = _entries(db, bank, {(st, s) for sigs in wanted.values() for st, s, _ in sigs})
    missing = sorted({(st, s) for sigs in wanted.values() for st, s, _ in sigs} - set(entries))
    if missing:
        result = add_entries(
            db,
            actor=actor,
            bank=bank,
            source_ref=f"exchange:{exchange.name}",
            entries=[NewEntry(st, s, note=f"{kind.title}") for st, s in missing],
        )
        summary.added += result.added
        entries.update({(e.signal_type, e.signal): e for e in result.entries})

    touched: set[int] = {s.bank_entry_id for rec in gone for s in _signals(db, rec) if s.live}
    for rec in gone:
        for held in _signals(db, rec):
            held.live = False
    summary.deleted_records += len(gone)
    for name, sigs in wanted.items():
        rec = records[name]
        current = {s.bank_entry_id: s for s in _signals(db, rec)}
        keep = {entries[(st, s)].id: pt for st, s, pt in sigs if (st, s) in entries}
        for entry_id, partner_type in keep.items():
            row = current.get(entry_id)
            if row is None:
                db.add(
                    ExchangeSignal(
                        exchange_id=exchange.id,
                        record_id=rec.id,
                        bank_entry_id=entry_id,
                        partner_type=partner_type,
                        live=True,
                    )
                )
            elif not row.live:
                row.live = True
        for entry_id, row in current.items():
            if entry_id not in keep and row.live:
                row.live = False  # the partner changed the record: this signal is no longer in it
                touched.add(entry_id)
    db.flush()
    _settle_entries(
        db, exchange=exchange, actor=actor, entry_ids=touched | {e.id for e in entries.values()}, summary=summary
    )


def _signals(db: Session, rec: ExchangeRecord) -> list[ExchangeSignal]:
    if rec.id is None:
        return []
    return list(db.execute(sa.select(ExchangeSignal).where(ExchangeSignal.record_id == rec.id)).scalars())


def _entries(db: Session, bank: Bank, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], BankEntry]:
    found: dict[tuple[str, str], BankEntry] = {}
    by_type: dict[str, list[str]] = {}
    for st, s in wanted:
        by_type.setdefault(st, []).append(s)
    for st, signals in by_type.items():
        for i in range(0, len(signals), 500):
            for e in db.execute(
                sa.select(BankEntry).where(
                    BankEntry.bank_id == bank.id,
                    BankEntry.signal_type == st,
                    BankEntry.variant == "",
                    BankEntry.signal.in_(signals[i : i + 500]),
                )
            ).scalars():
                found[(e.signal_type, e.signal)] = e
    return found


def _settle_entries(
    db: Session, *, exchange: Exchange, actor: Actor, entry_ids: set[int], summary: FetchSummary
) -> None:
    """An entry is enabled while a live record of the exchange holds it. What a person disabled
    (a false positive) stays disabled: only the exchange's own disabling is undone by the partner."""
    if not entry_ids:
        return
    ids = sorted(entry_ids)
    live: set[int] = set()
    for i in range(0, len(ids), 500):
        live.update(
            db.execute(
                sa.select(ExchangeSignal.bank_entry_id).where(
                    ExchangeSignal.exchange_id == exchange.id,
                    ExchangeSignal.live.is_(True),
                    ExchangeSignal.bank_entry_id.in_(ids[i : i + 500]),
                )
            ).scalars()
        )
    for i in range(0, len(ids), 500):
        for entry in db.execute(sa.select(BankEntry).where(BankEntry.id.in_(ids[i : i + 500]))).scalars():
            if entry.id in live and not entry.enabled and entry.disabled_by == actor.ref:
                enable_entry(db, actor=actor, entry=entry, reason=f"shared again by {kind_of(exchange.api).title}")
                summary.enabled_entries += 1
            elif entry.id not in live and entry.enabled:
                disable_entry(
                    db,
                    actor=actor,
                    entry=entry,
                    reason=f"deleted by the partner on {kind_of(exchange.api).title} (exchange {exchange.name})",
                )
                summary.disabled_entries += 1


def _sweep_unseen(db: Session, *, exchange: Exchange, summary: FetchSummary) -> None:
    """After a fetch from the start, records it did not bring back are no longer the partner's."""
    when = now(db)
    stale = list(
        db.execute(
            sa.select(ExchangeRecord).where(
                ExchangeRecord.exchange_id == exchange.id,
                ExchangeRecord.deleted_at.is_(None),
                ExchangeRecord.seen_generation < exchange.generation,
            )
        ).scalars()
    )
    touched: set[int] = set()
    for rec in stale:
        rec.deleted_at = when
        for s in _signals(db, rec):
            if s.live:
                s.live = False
                touched.add(s.bank_entry_id)
    summary.deleted_records += len(stale)
    db.flush()
    _settle_entries(db, exchange=exchange, actor=exchange_actor(exchange), entry_ids=touched, summary=summary)


# -- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExchangeStatus:
    exchange: Exchange
    bank: str
    records_live: int
    records_deleted: int
    entries_enabled: int
    fetching: bool


def statuses(db: Session) -> list[ExchangeStatus]:
    """Every exchange with its counts, as the CLI and the console show them."""
    rows = list(
        db.execute(sa.select(Exchange, Bank.name).join(Bank, Bank.id == Exchange.bank_id).order_by(Exchange.name)).all()
    )
    counts: dict[int, dict[bool, int]] = {}
    for exchange_id, deleted, n in db.execute(
        sa.select(ExchangeRecord.exchange_id, ExchangeRecord.deleted_at.is_not(None), sa.func.count()).group_by(
            ExchangeRecord.exchange_id, ExchangeRecord.deleted_at.is_not(None)
        )
    ):
        counts.setdefault(exchange_id, {})[bool(deleted)] = int(n)
    enabled = dict(
        db.execute(
            sa.select(BankEntry.bank_id, sa.func.count())
            .where(BankEntry.enabled.is_(True), BankEntry.parent_id.is_(None))
            .group_by(BankEntry.bank_id)
        ).all()
    )
    busy = set(
        db.execute(
            sa.select(Job.ordering_key).where(Job.kind == EXCHANGE_FETCH, Job.state == JobState.running.value)
        ).scalars()
    )
    return [
        ExchangeStatus(
            exchange=e,
            bank=bank_name,
            records_live=counts.get(e.id, {}).get(False, 0),
            records_deleted=counts.get(e.id, {}).get(True, 0),
            entries_enabled=int(enabled.get(e.bank_id, 0)),
            fetching=_ordering_key(e.id) in busy,
        )
        for e, bank_name in rows
    ]
