"""`staydown exchanges list|add|fetch|status|credentials|share`: configure hash exchanges, fetch one
now, and share our confirmed hashes out with legal's approval."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from staydown import cli_support

exchanges_app = typer.Typer(
    help="Hash exchanges (NCMEC, StopNCII, ThreatExchange, TAT, hash lists).", no_args_is_help=True
)
share_app = typer.Typer(
    help="Share our confirmed hashes with an exchange: propose, list, approve (legal).", no_args_is_help=True
)
exchanges_app.add_typer(share_app, name="share")


@exchanges_app.command("list")
def exchanges_list() -> None:
    """Every exchange: its bank, state, last fetch and counts."""
    from rich.table import Table

    from staydown.exchanges.actions import statuses

    database = cli_support.database(cli_support.settings())
    table = Table("name", "exchange", "bank", "enabled", "state", "last fetch", "records", "deleted", "entries")
    with database.unit_of_work(write=False) as db:
        for s in statuses(db):
            e = s.exchange
            table.add_row(
                e.name,
                e.api,
                s.bank,
                "yes" if e.enabled else "no",
                "fetching" if s.fetching else e.state,
                _when(e.last_fetch_finished_at),
                str(s.records_live),
                str(s.records_deleted),
                str(s.entries_enabled),
            )
    cli_support.out.print(table)


@exchanges_app.command("add")
def exchanges_add(
    name: str,
    api: Annotated[str, typer.Option(help="ncmec, stopncii, fb_threatexchange, tat, file or sample")],
    policy: Annotated[str, typer.Option(help="the policy id a match falls under")],
    purpose: Annotated[str, typer.Option(help="what the list may be used for (CSAM-7)")],
    config: Annotated[
        str,
        typer.Option(
            help='the collaboration as JSON, e.g. {"environment": "Industry"}, '
            '{"privacy_group": 123}, {"filename": "/x"} or {"url": "https://..."}; '
            "base_url overrides the service address"
        ),
    ] = "{}",
    credentials_stdin: Annotated[
        bool, typer.Option(help="read the credentials from stdin and seal them under the vault's master key")
    ] = False,
    credentials_in_settings: Annotated[
        bool, typer.Option(help="the credentials are in STAYDOWN_EXCHANGE_CREDENTIALS")
    ] = False,
    action: Annotated[str, typer.Option(help="block, hold or flag on a match")] = "hold",
    confirmed: Annotated[bool, typer.Option(help="the list is of previously confirmed material (CSAM-7)")] = False,
    every: Annotated[int, typer.Option(help="seconds between scheduled fetches")] = 3600,
) -> None:
    """Configure an exchange and the bank it fills (a bank of the same name, made if missing)."""
    from staydown.errors import StaydownError
    from staydown.evidence.vault import vault_from_settings
    from staydown.exchanges.actions import add_exchange

    try:
        parsed = json.loads(config)
    except ValueError as exc:
        cli_support.err.print(f"[red]--config is not JSON:[/red] {exc}")
        raise typer.Exit(2) from exc
    secret = sys.stdin.read() if credentials_stdin else None
    settings = cli_support.settings()
    database = cli_support.database(settings)
    try:
        with database.unit_of_work() as db:
            e = add_exchange(
                db,
                actor=cli_support.cli_actor(),
                name=name,
                api=api,
                config=parsed,
                policy_id=policy,
                permitted_purpose=purpose,
                keys=vault_from_settings(settings).keys,
                credentials=secret,
                credentials_in_settings=credentials_in_settings,
                action_on_match=action,
                confirmed_material=confirmed,
                fetch_every_seconds=every,
            )
            cli_support.out.print(
                f"exchange {e.name} added ({e.api}, credentials: {e.credentials_source}); "
                f"`staydown exchanges fetch {e.name}` fetches it now"
            )
    except StaydownError as exc:
        cli_support.fail(exc)


@exchanges_app.command("credentials")
def exchanges_credentials(
    name: str,
    stdin: Annotated[bool, typer.Option("--stdin", help="read new credentials from stdin")] = False,
    in_settings: Annotated[bool, typer.Option(help="use STAYDOWN_EXCHANGE_CREDENTIALS from now on")] = False,
) -> None:
    """Replace an exchange's credentials (sealed under the vault's master key, or from settings)."""
    from staydown.errors import StaydownError
    from staydown.evidence.vault import vault_from_settings
    from staydown.exchanges.actions import exchange_by_name, set_credentials

    settings = cli_support.settings()
    database = cli_support.database(settings)
    try:
        with database.unit_of_work() as db:
            set_credentials(
                db,
                actor=cli_support.cli_actor(),
                exchange=exchange_by_name(db, name),
                credentials=sys.stdin.read() if stdin else None,
                keys=vault_from_settings(settings).keys,
                in_settings=in_settings,
            )
        cli_support.out.print(f"credentials of {name} replaced")
    except StaydownError as exc:
        cli_support.fail(exc)


@exchanges_app.command("fetch")
def exchanges_fetch(
    name: str,
    full: Annotated[bool, typer.Option(help="fetch the whole list again; what it no longer holds is disabled")] = False,
) -> None:
    """Fetch now, in this process, with a progress bar. A fetch the worker is running is not
    doubled: the command says so and stops."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from staydown.errors import StaydownError
    from staydown.evidence.vault import vault_from_settings
    from staydown.exchanges.actions import exchange_by_name, finish_cli_fetch, lease_cli_fetch, run_fetch

    settings = cli_support.settings()
    database = cli_support.database(settings)
    keys = vault_from_settings(settings).keys
    try:
        with database.unit_of_work() as db:
            job_id = lease_cli_fetch(
                db,
                exchange=exchange_by_name(db, name),
                actor=cli_support.cli_actor(),
                lease_seconds=settings.job_lease_seconds,
                full=full,
            )
    except StaydownError as exc:
        cli_support.fail(exc)
    db = database.session()
    summary = None
    started = int(time.time())
    try:
        exchange = exchange_by_name(db, name)
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn(
                "{task.fields[pages]} pages, {task.fields[updates]} updates, "
                "{task.fields[added]} added, {task.fields[deleted]} deleted · {task.fields[upto]}"
            ),
            TimeElapsedColumn(),
            console=cli_support.err,
            transient=False,
        ) as progress:
            task = progress.add_task(f"fetching {name}", total=None, pages=0, updates=0, added=0, deleted=0, upto="")

            def report(s: Any, checkpoint: Any) -> None:
                ts = checkpoint.get_progress_timestamp() if checkpoint is not None else None
                fields = {
                    "pages": s.pages,
                    "updates": s.updates,
                    "added": s.added,
                    "deleted": s.deleted_records,
                    "upto": f"up to {_when(datetime.fromtimestamp(ts, UTC))}" if ts else "",
                }
                if ts and ts > 0:
                    # The partner's timeline is the bar: from the first page's time to now.
                    first = progress.tasks[0].fields.get("first") or ts
                    progress.update(task, total=max(1, started - first), completed=ts - first, first=first, **fields)
                else:
                    progress.update(task, **fields)

            summary = run_fetch(
                db,
                exchange=exchange,
                settings=settings,
                keys=keys,
                full=full,
                progress=report,
                job=db.get(_job_model(), job_id),
                lease_seconds=settings.job_lease_seconds,
            )
            progress.update(task, total=1, completed=1)
    finally:
        db.rollback()
        db.close()
        with database.unit_of_work() as db2:
            finish_cli_fetch(db2, job_id=job_id, error=summary.error if summary else "interrupted")
    if summary.error:
        cli_support.err.print(f"[red]{name}: {summary.error}[/red]")
        raise typer.Exit(1)
    cli_support.out.print(
        f"{name}: {summary.pages} pages, {summary.updates} updates, {summary.added} entries added, "
        f"{summary.deleted_records} records deleted by the partner ({summary.disabled_entries} entries "
        f"disabled), {summary.skipped} without a signal a bank holds"
        + ("; the rest continues in the worker" if summary.continues else "")
    )


@exchanges_app.command("status")
def exchanges_status(name: str) -> None:
    """One exchange in full: configuration (no secrets), checkpoint, last fetch, feedback sent."""
    import sqlalchemy as sa

    from staydown.errors import StaydownError
    from staydown.exchanges.actions import exchange_by_name, statuses
    from staydown.exchanges.kinds import kind_of
    from staydown.exchanges.models import ExchangeSubmission

    database = cli_support.database(cli_support.settings())
    try:
        with database.unit_of_work(write=False) as db:
            e = exchange_by_name(db, name)
            s = next(x for x in statuses(db) if x.exchange.id == e.id)
            kind = kind_of(e.api)
            checkpoint = kind.load_checkpoint(e.checkpoint) if e.checkpoint else None
            ts = checkpoint.get_progress_timestamp() if checkpoint is not None else None
            sent = db.execute(
                sa.select(ExchangeSubmission.kind, ExchangeSubmission.state, sa.func.count())
                .where(ExchangeSubmission.exchange_id == e.id)
                .group_by(ExchangeSubmission.kind, ExchangeSubmission.state)
            ).all()
            rows = [
                ("exchange", f"{kind.title} ({e.api})"),
                ("bank", s.bank),
                ("enabled", "yes" if e.enabled else "no"),
                ("state", "fetching" if s.fetching else e.state),
                ("last error", e.last_error or "-"),
                ("configuration", json.dumps(e.config)),
                ("credentials", e.credentials_source),
                ("every", f"{e.fetch_every_seconds} s"),
                ("last fetch started", _when(e.last_fetch_started_at)),
                ("last fetch finished", _when(e.last_fetch_finished_at)),
                ("last success", _when(e.last_success_at)),
                ("last fetch", f"{e.last_fetch_pages} pages, {e.last_fetch_updates} updates"),
                (
                    "checkpoint",
                    _when(datetime.fromtimestamp(ts, UTC))
                    if ts
                    else ("none (next fetch is a full one)" if checkpoint is None else "kept"),
                ),
                ("records", f"{s.records_live} live, {s.records_deleted} deleted by the partner"),
                ("entries enabled", str(s.entries_enabled)),
                ("sent", ", ".join(f"{k} {st}: {n}" for k, st, n in sent) or "-"),
            ]
    except StaydownError as exc:
        cli_support.fail(exc)
    for label, value in rows:
        cli_support.out.print(f"[bold]{label:>20}[/bold]  {value}")
    if e.state in ("auth_failed", "failed"):
        raise typer.Exit(1)


@share_app.command("propose")
def share_propose(
    name: str,
    entry: Annotated[int, typer.Option(min=1, help="the bank entry to share (an enabled original of our own bank)")],
    case: Annotated[
        int | None, typer.Option(min=1, help="the case that confirmed the item, if the entry names none")
    ] = None,
) -> None:
    """Propose sharing one of our hashes with the exchange; nothing leaves until legal approves."""
    from staydown.errors import StaydownError
    from staydown.exchanges.actions import exchange_by_name
    from staydown.exchanges.feedback import propose_share
    from staydown.matching.banks import entry_by_id

    database = cli_support.database(cli_support.settings())
    try:
        with database.unit_of_work() as db:
            submission = propose_share(
                db,
                actor=cli_support.cli_actor(),
                exchange=exchange_by_name(db, name),
                entry=entry_by_id(db, entry),
                case_id=case,
            )
            share_id, state = submission.id, submission.state
    except StaydownError as exc:
        cli_support.fail(exc)
    cli_support.out.print(
        f"share {share_id} to {name}: {state.replace('_', ' ')}"
        + (
            f"; legal approves it with `staydown exchanges share approve {name} {share_id} --as NAME`"
            if state == "awaiting_approval"
            else ""
        )
    )


@share_app.command("list")
def share_list(
    name: Annotated[str | None, typer.Argument(help="one exchange (default: all)")] = None,
    state: Annotated[str | None, typer.Option(help="awaiting_approval, queued, sent, refused or unsupported")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 200,
) -> None:
    """Shares, newest first: what awaits legal's approval and what was sent."""
    from rich.table import Table

    from staydown.errors import StaydownError
    from staydown.exchanges.actions import exchange_by_name
    from staydown.exchanges.feedback import shares

    database = cli_support.database(cli_support.settings())
    table = Table("id", "exchange", "state", "bank", "entry", "signal", "case", "proposed by", "approved by", "sent")
    try:
        with database.unit_of_work(write=False) as db:
            exchange = exchange_by_name(db, name) if name else None
            for s, e, entry in shares(db, exchange=exchange, state=state, limit=limit):
                table.add_row(
                    str(s.id),
                    e.name,
                    s.state + (f" ({s.error})" if s.error else ""),
                    entry.bank.name,
                    str(entry.id),
                    f"{entry.signal_type} {entry.signal}",
                    str(s.case_id or "-"),
                    s.requested_by,
                    s.approved_by or "-",
                    _when(s.sent_at) if s.sent_at else "-",
                )
    except StaydownError as exc:
        cli_support.fail(exc)
    cli_support.out.print(table)


@share_app.command("approve")
def share_approve(
    name: str,
    share_id: int,
    as_user: Annotated[
        str, typer.Option("--as", help="your staff user name (legal: the 'exchanges:share' permission)")
    ],
    password_stdin: Annotated[bool, typer.Option(help="read your password from standard input")] = False,
    totp_code: Annotated[str | None, typer.Option(help="your authenticator code, if your account has one")] = None,
) -> None:
    """Approve a share as yourself: your password (and authenticator code) prove it is you, since
    the shell's own account carries no permission; the worker sends it after this commits."""
    from staydown.errors import NotFound, StaydownError, Unauthenticated
    from staydown.exchanges.actions import exchange_by_name
    from staydown.exchanges.feedback import approve_share, submission_by_id
    from staydown.staff import sessions, totp
    from staydown.staff.auth import actor_for_staff

    password = (
        sys.stdin.readline().rstrip("\n") if password_stdin else typer.prompt(f"password of {as_user}", hide_input=True)
    )
    database = cli_support.database(cli_support.settings())
    try:
        with database.unit_of_work() as db:
            try:
                user = sessions.check_password(db, username=as_user, password=password)
            except sessions.SignInFailed:
                raise Unauthenticated("the user name or password is not right") from None
            if user.totp_secret and not totp.use_code(db, user=user, code=totp_code):
                raise Unauthenticated(
                    "this account needs its authenticator code (--totp-code), and that one is "
                    "not right or was already used"
                )
            exchange = exchange_by_name(db, name)
            submission = submission_by_id(db, share_id)
            if submission.kind != "share" or submission.exchange_id != exchange.id:
                raise NotFound(f"exchange {name} has no share {share_id}")
            approve_share(db, actor=actor_for_staff(user), submission=submission)
    except StaydownError as exc:
        cli_support.fail(exc)
    cli_support.out.print(f"share {share_id} to {name} approved by {as_user}; the worker sends it")


def _job_model() -> Any:
    from staydown.delivery.models import Job

    return Job


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "never"
