"""`staydown exchanges list|add|fetch|status|credentials`: configure hash exchanges and fetch one now."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from typing import Annotated, Any

import typer

exchanges_app = typer.Typer(help="Hash exchanges (NCMEC, StopNCII, ThreatExchange, TAT, hash lists).",
                            no_args_is_help=True)


def _cli() -> Any:
    from staydown import cli  # the shared command helpers; imported late, cli.py imports this module

    return cli


@exchanges_app.command("list")
def exchanges_list() -> None:
    """Every exchange: its bank, state, last fetch and counts."""
    from rich.table import Table

    from staydown.exchanges.actions import statuses

    cli = _cli()
    database = cli._database(cli._settings())
    table = Table("name", "exchange", "bank", "enabled", "state", "last fetch", "records", "deleted", "entries")
    with database.unit_of_work(write=False) as db:
        for s in statuses(db):
            e = s.exchange
            table.add_row(e.name, e.api, s.bank, "yes" if e.enabled else "no",
                          "fetching" if s.fetching else e.state, _when(e.last_fetch_finished_at),
                          str(s.records_live), str(s.records_deleted), str(s.entries_enabled))
    cli.out.print(table)


@exchanges_app.command("add")
def exchanges_add(
    name: str,
    api: Annotated[str, typer.Option(help="ncmec, stopncii, fb_threatexchange, tat or file")],
    policy: Annotated[str, typer.Option(help="the policy id a match falls under")],
    purpose: Annotated[str, typer.Option(help="what the list may be used for (CSAM-7)")],
    config: Annotated[str, typer.Option(help='the collaboration as JSON, e.g. {"environment": "Industry"}, '
                                              '{"privacy_group": 123}, {"filename": "/x"} or {"url": "https://..."}; '
                                              'base_url overrides the service address')] = "{}",
    credentials_stdin: Annotated[bool, typer.Option(help="read the credentials from stdin and seal them under "
                                                         "the vault's master key")] = False,
    credentials_in_settings: Annotated[bool, typer.Option(help="the credentials are in STAYDOWN_EXCHANGE_CREDENTIALS")] = False,
    action: Annotated[str, typer.Option(help="block, hold or flag on a match")] = "hold",
    confirmed: Annotated[bool, typer.Option(help="the list is of previously confirmed material (CSAM-7)")] = False,
    every: Annotated[int, typer.Option(help="seconds between scheduled fetches")] = 3600,
) -> None:
    """Configure an exchange and the bank it fills (a bank of the same name, made if missing)."""
    from staydown.errors import StaydownError
    from staydown.evidence.actions import vault_from_settings
    from staydown.exchanges.actions import add_exchange

    cli = _cli()
    try:
        parsed = json.loads(config)
    except ValueError as exc:
        cli.err.print(f"[red]--config is not JSON:[/red] {exc}")
        raise typer.Exit(2) from exc
    secret = sys.stdin.read() if credentials_stdin else None
    settings = cli._settings()
    database = cli._database(settings)
    try:
        with database.unit_of_work() as db:
            e = add_exchange(db, actor=cli.cli_actor(), name=name, api=api, config=parsed, policy_id=policy,
                             permitted_purpose=purpose, keys=vault_from_settings(settings).keys, credentials=secret,
                             credentials_in_settings=credentials_in_settings, action_on_match=action,
                             confirmed_material=confirmed, fetch_every_seconds=every)
            cli.out.print(f"exchange {e.name} added ({e.api}, credentials: {e.credentials_source}); "
                          f"`staydown exchanges fetch {e.name}` fetches it now")
    except StaydownError as exc:
        cli._fail(exc)


@exchanges_app.command("credentials")
def exchanges_credentials(
    name: str,
    stdin: Annotated[bool, typer.Option("--stdin", help="read new credentials from stdin")] = False,
    in_settings: Annotated[bool, typer.Option(help="use STAYDOWN_EXCHANGE_CREDENTIALS from now on")] = False,
) -> None:
    """Replace an exchange's credentials (sealed under the vault's master key, or from settings)."""
    from staydown.errors import StaydownError
    from staydown.evidence.actions import vault_from_settings
    from staydown.exchanges.actions import exchange_by_name, set_credentials

    cli = _cli()
    settings = cli._settings()
    database = cli._database(settings)
    try:
        with database.unit_of_work() as db:
            set_credentials(db, actor=cli.cli_actor(), exchange=exchange_by_name(db, name),
                            credentials=sys.stdin.read() if stdin else None, keys=vault_from_settings(settings).keys,
                            in_settings=in_settings)
        cli.out.print(f"credentials of {name} replaced")
    except StaydownError as exc:
        cli._fail(exc)


@exchanges_app.command("fetch")
def exchanges_fetch(
    name: str,
    full: Annotated[bool, typer.Option(help="fetch the whole list again; what it no longer holds is disabled")] = False,
) -> None:
    """Fetch now, in this process, with a progress bar. A fetch the worker is running is not
    doubled: the command says so and stops."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from staydown.errors import StaydownError
    from staydown.evidence.actions import vault_from_settings
    from staydown.exchanges.actions import exchange_by_name, finish_cli_fetch, lease_cli_fetch, run_fetch

    cli = _cli()
    settings = cli._settings()
    database = cli._database(settings)
    keys = vault_from_settings(settings).keys
    try:
        with database.unit_of_work() as db:
            job_id = lease_cli_fetch(db, exchange=exchange_by_name(db, name), actor=cli.cli_actor(),
                                     lease_seconds=settings.job_lease_seconds, full=full)
    except StaydownError as exc:
        cli._fail(exc)
    db = database.session()
    summary = None
    started = int(time.time())
    try:
        exchange = exchange_by_name(db, name)
        with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                      TextColumn("{task.fields[pages]} pages, {task.fields[updates]} updates, "
                                 "{task.fields[added]} added, {task.fields[deleted]} deleted · {task.fields[upto]}"),
                      TimeElapsedColumn(), console=cli.err, transient=False) as progress:
            task = progress.add_task(f"fetching {name}", total=None, pages=0, updates=0, added=0, deleted=0,
                                     upto="")

            def report(s: Any, checkpoint: Any) -> None:
                ts = checkpoint.get_progress_timestamp() if checkpoint is not None else None
                fields = dict(pages=s.pages, updates=s.updates, added=s.added, deleted=s.deleted_records,
                              upto=f"up to {_when(datetime.fromtimestamp(ts, timezone.utc))}" if ts else "")
                if ts and ts > 0:
                    # The partner's timeline is the bar: from the first page's time to now.
                    first = progress.tasks[0].fields.get("first") or ts
                    progress.update(task, total=max(1, started - first), completed=ts - first, first=first, **fields)
                else:
                    progress.update(task, **fields)

            summary = run_fetch(db, exchange=exchange, settings=settings, keys=keys, full=full, progress=report,
                                job=db.get(_job_model(), job_id), lease_seconds=settings.job_lease_seconds)
            progress.update(task, total=1, completed=1)
    finally:
        db.rollback()
        db.close()
        with database.unit_of_work() as db2:
            finish_cli_fetch(db2, job_id=job_id, error=summary.error if summary else "interrupted")
    if summary.error:
        cli.err.print(f"[red]{name}: {summary.error}[/red]")
        raise typer.Exit(1)
    cli.out.print(f"{name}: {summary.pages} pages, {summary.updates} updates, {summary.added} entries added, "
                  f"{summary.deleted_records} records deleted by the partner ({summary.disabled_entries} entries "
                  f"disabled), {summary.skipped} without a signal a bank holds"
                  + ("; the rest continues in the worker" if summary.continues else ""))


@exchanges_app.command("status")
def exchanges_status(name: str) -> None:
    """One exchange in full: configuration (no secrets), checkpoint, last fetch, feedback sent."""
    import sqlalchemy as sa

    from staydown.errors import StaydownError
    from staydown.exchanges.actions import exchange_by_name, statuses
    from staydown.exchanges.kinds import kind_of
    from staydown.exchanges.models import ExchangeSubmission

    cli = _cli()
    database = cli._database(cli._settings())
    try:
        with database.unit_of_work(write=False) as db:
            e = exchange_by_name(db, name)
            s = next(x for x in statuses(db) if x.exchange.id == e.id)
            kind = kind_of(e.api)
            checkpoint = kind.load_checkpoint(e.checkpoint) if e.checkpoint else None
            ts = checkpoint.get_progress_timestamp() if checkpoint is not None else None
            sent = db.execute(sa.select(ExchangeSubmission.kind, ExchangeSubmission.state, sa.func.count())
                              .where(ExchangeSubmission.exchange_id == e.id)
                              .group_by(ExchangeSubmission.kind, ExchangeSubmission.state)).all()
            rows = [("exchange", f"{kind.title} ({e.api})"), ("bank", s.bank), ("enabled", "yes" if e.enabled else "no"),
                    ("state", "fetching" if s.fetching else e.state), ("last error", e.last_error or "-"),
                    ("configuration", json.dumps(e.config)), ("credentials", e.credentials_source),
                    ("every", f"{e.fetch_every_seconds} s"), ("last fetch started", _when(e.last_fetch_started_at)),
                    ("last fetch finished", _when(e.last_fetch_finished_at)), ("last success", _when(e.last_success_at)),
                    ("last fetch", f"{e.last_fetch_pages} pages, {e.last_fetch_updates} updates"),
                    ("checkpoint", _when(datetime.fromtimestamp(ts, timezone.utc)) if ts else
                     ("none (next fetch is a full one)" if checkpoint is None else "kept")),
                    ("records", f"{s.records_live} live, {s.records_deleted} deleted by the partner"),
                    ("entries enabled", str(s.entries_enabled)),
                    ("sent", ", ".join(f"{k} {st}: {n}" for k, st, n in sent) or "-")]
    except StaydownError as exc:
        cli._fail(exc)
    for label, value in rows:
        cli.out.print(f"[bold]{label:>20}[/bold]  {value}")
    if e.state in ("auth_failed", "failed"):
        raise typer.Exit(1)


def _job_model() -> Any:
    from staydown.delivery.models import Job

    return Job


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "never"
