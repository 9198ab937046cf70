"""The `staydown` command: serve, worker, database, staff, API keys, audit, policies."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from staydown.cli_support import cli_actor, err, out
from staydown.cli_support import database as _database
from staydown.cli_support import fail as _fail
from staydown.cli_support import settings as _settings
from staydown.errors import StaydownError
from staydown.exchanges.cli import exchanges_app
from staydown.settings import Settings

if TYPE_CHECKING:
    from staydown.db import Database

app = typer.Typer(
    help="staydown: reported abuse comes down fast, every copy, and stays down.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The database: migrations.", no_args_is_help=True)
staff_app = typer.Typer(help="Staff users and their roles.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys for platforms.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
policies_app = typer.Typer(help="The policy catalogue.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(staff_app, name="staff")
app.add_typer(apikey_app, name="apikey")
app.add_typer(audit_app, name="audit")
app.add_typer(policies_app, name="policies")
banks_app = typer.Typer(help="Hash banks: list, import, export.", no_args_is_help=True)
app.add_typer(banks_app, name="banks")

app.add_typer(exchanges_app, name="exchanges")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
    migrate: Annotated[bool, typer.Option(help="apply database migrations first")] = True,
    worker: Annotated[bool | None, typer.Option(help="run the outbox worker in this process")] = None,
    processes: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="server processes sharing the port (each with its own intake batcher, worker and index replica)",
        ),
    ] = 1,
) -> None:
    """Run the HTTP API, console and (by default) the worker in one process, or in several."""
    settings = _settings()
    # Every process of this server (several with --processes, the intake writer, the hashing
    # workers) counts into one directory that a scrape of any of them reads (staydown.metrics).
    from staydown.observability import enable_multiprocess

    enable_multiprocess(settings.data_dir)
    import uvicorn

    from staydown.app import create_app
    from staydown.migrate import upgrade
    from staydown.runtime import configure_logging

    # The address served is what links written without a request (e-mails, statements) point
    # to when STAYDOWN_PUBLIC_BASE_URL is not set (Settings.base_url).
    settings = settings.model_copy(update={k: v for k, v in (("host", host), ("port", port)) if v is not None})
    configure_logging(settings.log_level, settings.log_format)
    database = _database(settings)
    if migrate:
        upgrade(database.engine)
    _record_catalogue(settings, database)
    # JSON lines: uvicorn's loggers (start-up, access lines) go to staydown's handler, not its own.
    log_config: dict[str, Any] = {"log_config": None} if settings.log_format == "json" else {}
    if processes > 1:
        os.environ.update({"STAYDOWN_HOST": settings.host, "STAYDOWN_PORT": str(settings.port)})
        # Each process builds its own app from the same settings (uvicorn imports the factory).
        database.dispose()
        if worker is not None:
            os.environ["STAYDOWN_WORKER_IN_PROCESS"] = "true" if worker else "false"
        uvicorn.run(
            "staydown.app:app_from_settings",
            factory=True,
            workers=processes,
            host=host or settings.host,
            port=port or settings.port,
            log_level=settings.log_level.lower(),
            proxy_headers=False,
            **log_config,
        )
        return
    application = create_app(
        settings,
        database=database,
        run_worker=worker,
        intake_process=settings.intake_writer == "process",
        hash_processes=settings.scan_hashing == "process",
    )
    uvicorn.run(
        application,
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level.lower(),
        proxy_headers=False,
        **log_config,
    )


def _record_catalogue(settings: Settings, database: Database) -> None:
    """Decisions cite `id@version`: the versions in force must be in the database before serving."""
    from staydown.actors import SYSTEM
    from staydown.policies.actions import sync_catalogue

    catalogue = _catalogue(settings.policy_catalogue_path)
    try:
        with database.unit_of_work() as db:
            report = sync_catalogue(db, actor=SYSTEM, catalogue=catalogue)
    except StaydownError as exc:
        err.print(f"[red]refusing to start:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    if report.added:
        out.print(f"recorded policy versions: {', '.join(report.added)}")


@app.command(name="worker")
def run_worker(
    once: Annotated[bool, typer.Option(help="run what is due, then exit")] = False,
) -> None:
    """Run the outbox worker on its own (scale out: any number, on any machine, with PostgreSQL)."""
    from staydown.jobs import build_registry
    from staydown.runtime import build_worker, configure_logging

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    database = _database(settings)
    w = build_worker(settings, database, build_registry())
    if once:
        n = w.run_until_idle()
        out.print(f"ran {n} job(s)")
        return
    stop = threading.Event()
    try:
        w.run_forever(stop, settings.worker_poll_seconds)
    except KeyboardInterrupt:
        stop.set()


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from staydown.migrate import current_revision, upgrade

    settings = _settings()
    database = _database(settings)
    upgrade(database.engine, revision)
    out.print(f"database at revision {current_revision(database.engine)}")


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision and the newest one."""
    from staydown.migrate import current_revision, head_revision

    database = _database(_settings())
    out.print(f"current: {current_revision(database.engine)}  head: {head_revision()}")


@staff_app.command("add")
def staff_add(
    username: str,
    role: Annotated[list[str], typer.Option("--role", help="repeat for several roles")],
    display_name: Annotated[str | None, typer.Option()] = None,
    email: Annotated[str | None, typer.Option()] = None,
    password_stdin: Annotated[bool, typer.Option(help="read a password from standard input")] = False,
) -> None:
    """Create a staff user with one or more roles."""
    from staydown.staff.actions import create_staff_user

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    database = _database(_settings())
    try:
        with database.unit_of_work() as db:
            user = create_staff_user(
                db,
                actor=cli_actor(),
                username=username,
                display_name=display_name,
                email=email,
                roles=role,
                password=password,
            )
            out.print(f"staff user {user.username} (id {user.id}) with roles {', '.join(user.roles)}")
    except StaydownError as exc:
        _fail(exc)


@apikey_app.command("create")
def apikey_create(
    name: str,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="repeat; default: a platform integration's scopes")
    ] = None,
) -> None:
    """Create an API client; its key is printed once, on the last line."""
    from staydown.staff.actions import create_api_client

    database = _database(_settings())
    try:
        with database.unit_of_work() as db:
            new = create_api_client(db, actor=cli_actor(), name=name, scopes=scope)
            client_id, scopes = new.client.id, new.client.scopes
    except StaydownError as exc:
        _fail(exc)
    err.print(f"API client {client_id} '{name}' with scopes: {', '.join(scopes)}")
    err.print("store this key now: it is not shown again")
    print(new.key)


@apikey_app.command("revoke")
def apikey_revoke(
    client: Annotated[str, typer.Argument(help="the client's id or key prefix")],
    reason: Annotated[str, typer.Option(help="why, for the record")] = "",
) -> None:
    """Revoke an API client's key at once."""
    from staydown.staff.actions import api_client_by_ref, revoke_api_client

    database = _database(_settings())
    try:
        with database.unit_of_work() as db:
            found = api_client_by_ref(db, client)
            revoke_api_client(db, actor=cli_actor(), client=found, reason=reason)
            out.print(f"API client {found.id} '{found.name}' revoked")
    except StaydownError as exc:
        _fail(exc)


@audit_app.command("verify")
def audit_verify(
    pinned: Annotated[
        str | None, typer.Option("--checkpoint", help="SEQ:HASH printed earlier by `audit checkpoint`")
    ] = None,
) -> None:
    """Check the whole chain; exits non-zero and names the first bad event if it was tampered with."""
    from staydown import audit

    database = _database(_settings())
    try:
        with database.unit_of_work(write=False) as db:
            result = audit.verify(db, pinned=audit.Checkpoint.parse(pinned) if pinned else None)
    except StaydownError as exc:
        _fail(exc)
    if result.ok:
        out.print(f"audit log OK: {result.events_checked} events, head {result.head}")
        return
    err.print(f"[red]audit log FAILED at event {result.first_bad_seq}:[/red] {result.problem}")
    raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Print the head as SEQ:HASH, for an outsider to pin and check against later."""
    from staydown import audit

    database = _database(_settings())
    with database.unit_of_work(write=False) as db:
        print(audit.checkpoint(db))


@policies_app.command("check")
def policies_check(file: Path) -> None:
    """Validate a policy catalogue file; each problem is given with its line."""
    from staydown.policies.catalogue import check_catalogue_file, format_problems

    problems = check_catalogue_file(file)
    if problems:
        err.print(format_problems(problems), markup=False, highlight=False)
        raise typer.Exit(1)
    out.print(f"{file}: OK")


def _catalogue(file: Path | None):
    from staydown.policies import CatalogueError, default_catalogue, load_catalogue

    try:
        return load_catalogue(file) if file else default_catalogue()
    except CatalogueError as exc:
        err.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(1) from exc


@policies_app.command("sync")
def policies_sync(
    file: Annotated[
        Path | None, typer.Argument(help="a catalogue file; default: the configured or shipped one")
    ] = None,
) -> None:
    """Record the catalogue's policy versions; an edit without a new version number is refused."""
    from staydown.policies.actions import sync_catalogue

    settings = _settings()
    catalogue = _catalogue(file or settings.policy_catalogue_path)
    database = _database(settings)
    try:
        with database.unit_of_work() as db:
            report = sync_catalogue(db, actor=cli_actor(), catalogue=catalogue)
    except StaydownError as exc:
        _fail(exc)
    out.print(
        f"added {len(report.added)} ({', '.join(report.added) or '-'}), unchanged {len(report.unchanged)}, "
        f"retired {len(report.retired)}"
    )


@policies_app.command("list")
def policies_list() -> None:
    """The policy versions in force."""
    from rich.table import Table

    from staydown.policies.queries import current_policy, current_refs

    database = _database(_settings())
    table = Table("ref", "title", "DSA category", "severity")
    with database.unit_of_work(write=False) as db:
        for ref in current_refs(db):
            policy = current_policy(db, ref.split("@")[0])
            table.add_row(ref, policy.title, policy.dsa_category, policy.severity)
    out.print(table)


MAX_CLI_FILE_BYTES = 1 << 30


def _iter_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            err.print(f"[yellow]skipped {path}: not a file or directory[/yellow]")
    return files


@app.command(name="hash")
def hash_files(
    files: Annotated[list[Path], typer.Argument(help="images or videos (or directories of them)")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
) -> None:
    """Print the signals of each file: PDQ with quality, MD5, SHA-256; for a video (MP4, MOV, WebM,
    MKV, animated GIF) its vPDQ in threatexchange's form instead of a PDQ."""
    import json

    from staydown.media.errors import MediaError
    from staydown.media.hashing import compute_signals
    from staydown.media.video import video_format

    settings = _settings()
    limits = settings.decode_limits()
    failed = 0
    for path in _iter_files(files):
        try:
            data = path.read_bytes()
            if video_format(data) is not None:
                _print_video(path, data, settings, as_json)
                continue
            s = compute_signals(data, limits=limits)
        except MediaError as exc:
            failed += 1
            err.print(f"{path}: {exc.code}: {exc}", markup=False, highlight=False)
            continue
        if as_json:
            print(
                json.dumps(
                    {
                        "file": str(path),
                        "pdq": s.pdq,
                        "pdq_quality": s.pdq_quality,
                        "md5": s.md5,
                        "sha256": s.sha256,
                        "format": s.format,
                        "width": s.width,
                        "height": s.height,
                    }
                )
            )
        else:
            print(f"{path}\tpdq={s.pdq} quality={s.pdq_quality}\tmd5={s.md5}\tsha256={s.sha256}")
    if failed:
        raise typer.Exit(1)


def _cli_video_limits(settings: Any) -> Any:
    # A local file may be longer than an upload: the byte limit is the command line's own (the file
    # is held in memory twice, as read and as FFmpeg's in-memory copy).
    import dataclasses

    limits = settings.video_limits()
    return dataclasses.replace(limits, max_bytes=max(limits.max_bytes, MAX_CLI_FILE_BYTES))


def _print_video(path: Path, data: bytes, settings: Any, as_json: bool) -> None:
    import json

    from staydown.matching import vpdq
    from staydown.matching.video import features
    from staydown.media.video import hash_video

    s = hash_video(data, limits=_cli_video_limits(settings))
    text = vpdq.serialise(features(s))
    usable = int(vpdq.usable(features(s)).shape[0])
    if as_json:
        print(
            json.dumps(
                {
                    "file": str(path),
                    "vpdq": text,
                    "vpdq_frames": len(s.kept),
                    "vpdq_usable_frames": usable,
                    "md5": s.md5,
                    "sha256": s.sha256,
                    "format": s.format,
                    "codec": s.codec,
                    "width": s.width,
                    "height": s.height,
                    "duration": s.duration,
                }
            )
        )
    else:
        print(
            f"{path}\tvpdq frames={len(s.kept)} usable={usable} duration={s.duration:g}s\tmd5={s.md5}"
            f"\tsha256={s.sha256}\tvpdq={text}"
        )


@app.command(name="scan")
def scan_dir(
    paths: Annotated[list[Path], typer.Argument(help="files or directories to check")],
    bank: Annotated[str, typer.Option(help="the bank to check against")],
) -> None:
    """Check images and videos against one bank (with robust variants; videos by vPDQ, digests and
    their mirror image); nothing is recorded. A summary table closes the run; the exit code is 1 if
    anything matched, 2 if files could not be read."""
    from rich.progress import Progress
    from rich.table import Table

    from staydown.matching.banks import bank_by_name
    from staydown.matching.engine import MatchEngine
    from staydown.matching.matcher import QuerySignals, match_banks
    from staydown.matching.models import BankUse
    from staydown.matching.scanning import query_from_media
    from staydown.matching.video import match_video, query_from_video
    from staydown.media.errors import MediaError
    from staydown.media.variants import scan as hash_with_variants
    from staydown.media.video import hash_video, video_format

    settings = _settings()
    database = _database(settings)
    try:
        with database.unit_of_work(write=False) as db:
            target = bank_by_name(db, bank)
            target_id, target_name = target.id, target.name
    except StaydownError as exc:
        _fail(exc)
    engine = MatchEngine(database)
    engine.catch_up()
    files = _iter_files(paths)
    matched: list[tuple[Path, int, str, str]] = []
    errors: list[tuple[Path, str]] = []
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task(f"scanning against {target_name}", total=len(files))
        for path in files:
            try:
                data = path.read_bytes()
                if video_format(data) is not None:  # vPDQ against the bank's video entries
                    query = query_from_video(hash_video(data, limits=_cli_video_limits(settings)))
                    with database.unit_of_work(write=False) as db:
                        exact = QuerySignals(pdq=query.image_pdq, md5=query.md5, sha256=query.sha256)
                        found = [
                            m
                            for m in match_banks(db, engine, exact, use=BankUse.scan) + match_video(db, engine, query)
                            if m.bank_id == target_id
                        ]
                        found.sort(key=lambda m: m.distance)
                else:
                    signals, variants = hash_with_variants(data, limits=settings.decode_limits())
                    with database.unit_of_work(write=False) as db:
                        found = [
                            m
                            for m in match_banks(db, engine, query_from_media(signals, variants), use=BankUse.scan)
                            if m.bank_id == target_id
                        ]
                if found:
                    best = found[0]
                    matched.append((path, best.distance, best.signal_type, best.query_variant or "as uploaded"))
            except MediaError as exc:
                errors.append((path, f"{exc.code}: {exc}"))
            except OSError as exc:
                errors.append((path, f"unreadable: {exc.strerror}"))
            progress.advance(task)
    if matched:
        table = Table("file", "distance", "signal", "matched as", title=f"matches in bank {target_name}")
        for path, distance, kind, variant in matched:
            table.add_row(str(path), str(distance), kind, variant)
        out.print(table)
    for path, problem in errors:
        err.print(f"{path}: {problem}", markup=False, highlight=False)
    summary = Table("files", "matched", "no match", "unreadable", title="summary")
    summary.add_row(str(len(files)), str(len(matched)), str(len(files) - len(matched) - len(errors)), str(len(errors)))
    out.print(summary)
    if errors:
        raise typer.Exit(2)
    if matched:
        raise typer.Exit(1)


@banks_app.command("list")
def banks_list() -> None:
    """Every bank with its source, purpose, action and size."""
    import sqlalchemy as sa
    from rich.table import Table

    from staydown.matching.models import Bank

    database = _database(_settings())
    table = Table("name", "source", "policy", "action", "threshold", "uses", "enabled", "entries", "purpose")
    with database.unit_of_work(write=False) as db:
        from staydown.matching.banks import entry_counts

        counts = {bank_id: c.active for bank_id, c in entry_counts(db).items()}
        for b in db.execute(sa.select(Bank).order_by(Bank.name)).scalars():
            table.add_row(
                b.name,
                b.source,
                b.policy_id,
                b.action_on_match,
                str(b.pdq_threshold),
                ",".join(b.allowed_uses),
                "yes" if b.enabled else "no",
                str(counts.get(b.id, 0)),
                b.permitted_purpose,
            )
    out.print(table)


@banks_app.command("create")
def banks_create(
    name: str,
    source: Annotated[str, typer.Option(help="own, ncmec, stopncii, take_it_down, tech_coalition, iwf, other")],
    purpose: Annotated[str, typer.Option(help="what the list may be used for (CSAM-7)")],
    policy: Annotated[str, typer.Option(help="the policy id a match falls under")],
    action: Annotated[str, typer.Option(help="block, hold or flag")] = "hold",
    threshold: Annotated[int, typer.Option(help="PDQ distance threshold, 0-31")] = 31,
    confirmed: Annotated[bool, typer.Option(help="a list of previously confirmed material")] = False,
) -> None:
    """Create a bank."""
    from staydown.matching.banks import create_bank

    database = _database(_settings())
    try:
        with database.unit_of_work() as db:
            b = create_bank(
                db,
                actor=cli_actor(),
                name=name,
                source=source,
                permitted_purpose=purpose,
                policy_id=policy,
                action_on_match=action,
                pdq_threshold=threshold,
                confirmed_material=confirmed,
            )
            out.print(f"bank {b.name} created")
    except StaydownError as exc:
        _fail(exc)


@banks_app.command("import")
def banks_import(
    name: str,
    file: Annotated[Path, typer.Argument(help="CSV (signal_type,signal,note) or a threatexchange export")],
) -> None:
    """Import a hash list; rows that cannot be read are listed with their line."""
    from staydown.matching.banks import bank_by_name, import_entries, parse_bank_file

    if file.stat().st_size > MAX_CLI_FILE_BYTES:
        err.print(f"{file} is larger than {MAX_CLI_FILE_BYTES} bytes")
        raise typer.Exit(1)
    database = _database(_settings())
    try:
        entries, problems, fmt = parse_bank_file(file.read_text(encoding="utf-8"))
        with database.unit_of_work() as db:
            report = import_entries(
                db,
                actor=cli_actor(),
                bank=bank_by_name(db, name),
                entries=entries,
                problems=problems,
                source_ref=file.name,
            )
    except StaydownError as exc:
        _fail(exc)
    except UnicodeDecodeError as exc:
        err.print(f"{file} is not UTF-8 text (byte {exc.start})")
        raise typer.Exit(1) from exc
    for problem in report.rejected[:50]:
        err.print(f"{file}: {problem}", markup=False, highlight=False)
    out.print(f"{fmt}: added {report.added}, duplicates {report.duplicates}, rejected {len(report.rejected)}")
    if report.rejected:
        raise typer.Exit(1)


@banks_app.command("export")
def banks_export(
    name: str,
    fmt: Annotated[str, typer.Option("--format", help="csv, tx-csv or tx-lines")] = "csv",
    include_variants: Annotated[bool, typer.Option(help="also our bank-side variants")] = False,
) -> None:
    """Write a bank's enabled entries to standard output."""
    from staydown.matching.banks import bank_by_name, export_bank

    database = _database(_settings())
    try:
        with database.unit_of_work() as db:
            export_bank(
                db,
                actor=cli_actor(),
                bank=bank_by_name(db, name),
                out=sys.stdout,
                fmt=fmt,
                include_variants=include_variants,
            )
    except StaydownError as exc:
        _fail(exc)


vault_app = typer.Typer(help="The evidence vault.", no_args_is_help=True)
app.add_typer(vault_app, name="vault")


@vault_app.command("rotate")
def vault_rotate() -> None:
    """Re-wrap every item's data key, and every exchange's sealed credentials, under
    STAYDOWN_VAULT_MASTER_KEY (keep the old key in STAYDOWN_VAULT_PREVIOUS_MASTER_KEYS until this
    reports nothing left)."""
    from staydown.evidence.actions import rotate_master_key
    from staydown.evidence.vault import vault_from_settings
    from staydown.exchanges.actions import rewrap_credentials

    settings = _settings()
    database = _database(settings)
    vault = vault_from_settings(settings)
    total = 0
    while True:
        with database.unit_of_work() as db:
            n = rotate_master_key(db, actor=cli_actor(), vault=vault)
        total += n
        if n == 0:
            break
    with database.unit_of_work() as db:
        exchanges = rewrap_credentials(db, actor=cli_actor(), keys=vault.keys)
    out.print(
        f"re-wrapped {total} item(s) and the credentials of {exchanges.rewrapped} exchange(s); every stored "
        f"item now uses key {vault.keys.current_id}"
    )
    if exchanges.unreadable:
        err.print(
            f"[red]no configured key opens the credentials of {', '.join(exchanges.unreadable)}:[/red] give "
            "them again with `staydown exchanges credentials NAME --stdin` before retiring any key"
        )
        raise typer.Exit(1)


transparency_app = typer.Typer(
    help="Transparency: reports (DSA Art. 15/24) and the figures behind them.", no_args_is_help=True
)
app.add_typer(transparency_app, name="transparency")


@transparency_app.command("report")
def transparency_report(
    start: Annotated[str, typer.Option("--from", help="first UTC day of the period (inclusive), YYYY-MM-DD")],
    end: Annotated[str, typer.Option("--to", help="UTC day the period ends at 00:00 (exclusive), YYYY-MM-DD")],
    fmt: Annotated[str, typer.Option("--format", help="json, csv or html")] = "json",
    output: Annotated[
        Path | None, typer.Option("--output", help="write to this file instead of standard output")
    ] = None,
) -> None:
    """The transparency report for a period, computed from the rows of record."""
    from datetime import date

    from staydown.runtime import catalogue_from
    from staydown.transparency.export import FORMATS, render
    from staydown.transparency.report import build_report, period_of_days

    if fmt not in FORMATS:
        err.print(f"[red]error:[/red] --format must be one of {', '.join(FORMATS)}")
        raise typer.Exit(2)
    try:
        first, last = period_of_days(date.fromisoformat(start), date.fromisoformat(end))
    except ValueError:
        err.print("[red]error:[/red] --from and --to are days written YYYY-MM-DD")
        raise typer.Exit(2) from None
    settings = _settings()
    database = _database(settings)
    try:
        with database.unit_of_work(write=False) as db:
            text = render(
                build_report(db, start=first, end=last, catalogue=catalogue_from(settings), settings=settings), fmt
            )
    except StaydownError as exc:
        _fail(exc)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}")


@transparency_app.command("submit")
def transparency_submit(
    batches: Annotated[int, typer.Option(help="at most this many batches of up to 100 statements")] = 20,
) -> None:
    """Submit pending statements of reasons to the EU Transparency Database now (DSA Art. 24(5))."""
    from staydown.transparency.tdb import TdbClient, TdbConfigurationError, TdbUnavailable, submit_pending

    settings = _settings()
    if not settings.tdb_url:
        err.print("[red]error:[/red] no Transparency Database configured: set STAYDOWN_TDB_URL and STAYDOWN_TDB_TOKEN")
        raise typer.Exit(2)
    database = _database(settings)
    try:
        with database.unit_of_work() as db:
            report = submit_pending(
                db,
                client=TdbClient.from_settings(settings),
                actor=cli_actor(),
                batch_size=settings.tdb_batch_size,
                max_batches=max(1, batches),
                include_reviewer_facts=settings.tdb_include_reviewer_facts,
            )
    except (TdbUnavailable, TdbConfigurationError) as exc:
        err.print(f"[red]error:[/red] {exc} (what was settled before it is recorded; the rest stays pending)")
        raise typer.Exit(1) from exc
    out.print(
        f"{report.accepted} accepted, {report.duplicates} already in the Database, {report.rejected} refused, "
        f"in {report.batches} batch(es)"
    )
    for error in report.errors[:10]:
        err.print(f"  refused: {error}")
    if report.rejected:
        raise typer.Exit(1)


@transparency_app.command("requeue-failed")
def transparency_requeue_failed(
    reason: Annotated[str, typer.Option(help="why they can go again, for the record")],
    statement: Annotated[list[int] | None, typer.Option("--id", help="repeat; default: every failed one")] = None,
) -> None:
    """Put statements the Transparency Database refused back in the queue, once the cause is fixed."""
    from staydown.transparency.tdb import requeue_failed

    database = _database(_settings())
    try:
        with database.unit_of_work() as db:
            count = requeue_failed(db, actor=cli_actor(), reason=reason, ids=statement or None)
    except StaydownError as exc:
        _fail(exc)
    out.print(f"{count} statement(s) pending again")


@transparency_app.command("tdb-server")
def transparency_tdb_server(
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 8124,
    token: Annotated[str | None, typer.Option(help="the Bearer token it accepts (default: STAYDOWN_TDB_TOKEN)")] = None,
) -> None:
    """A local Transparency Database that checks the schema, for demos and tests (127.0.0.1 only)."""
    import uvicorn

    from staydown.transparency.tdb_server import create_app

    accepted = token or _settings().tdb_token.get_secret_value()
    uvicorn.run(create_app(token=accepted), host="127.0.0.1", port=port, log_level="info")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
