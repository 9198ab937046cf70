"""A tiny forum that plugs into staydown: uploads are scanned, actions arrive by signed webhook.

Run it with `python examples/forum/forum.py` (see README.md). Everything a platform needs is
here in one file: the scan before publishing, the report link, the webhook receiver, the
acknowledgement, and a pull of the action feed to catch up on anything missed while it was down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import BackgroundTasks, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from staydown.client import (
    Action,
    AsyncClient,
    InvalidInputError,
    InvalidWebhookSignature,
    MalformedWebhook,
    ReplayedWebhook,
    StaydownClientError,
    verify_webhook,
)

log = logging.getLogger("forum")

HERE = Path(__file__).resolve().parent
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
IMAGE_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}

# What each action means on this forum. A forum has no recommendations, search ranking or
# monetisation, so restricting distribution can only be honoured by withholding the post; nor can
# it check ages, so an age restriction withholds it too.
HIDING = ("remove", "disable", "restrict_distribution", "age_restrict")
NOTHING_TO_DO = ("demote", "exclude_from_recommendations", "demonetise")
SHOWN = ("label",)
BARRING = ("suspend", "terminate")
RECORDED = ("warn", "strike")


@dataclass(frozen=True)
class Config:
    """Read from the environment; nothing secret has a default."""

    staydown_url: str
    api_key: str
    webhook_secret: str
    port: int = 8080
    database: Path = Path("forum.db")
    public_url: str = ""
    sync_seconds: float = 60.0
    max_upload_bytes: int = 10 * 1024 * 1024

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Config:
        env = dict(os.environ if env is None else env)
        missing = [name for name in ("STAYDOWN_API_KEY", "STAYDOWN_WEBHOOK_SECRET") if not env.get(name)]
        if missing:
            raise SystemExit(f"forum: set {' and '.join(missing)} (see examples/forum/README.md)")
        port = int(env.get("FORUM_PORT", "8080"))
        return cls(
            staydown_url=env.get("STAYDOWN_URL", "http://127.0.0.1:8000").rstrip("/"),
            api_key=env["STAYDOWN_API_KEY"],
            webhook_secret=env["STAYDOWN_WEBHOOK_SECRET"],
            port=port,
            database=Path(env.get("FORUM_DATABASE", "forum.db")),
            public_url=env.get("FORUM_PUBLIC_URL", f"http://127.0.0.1:{port}").rstrip("/"),
            sync_seconds=float(env.get("FORUM_SYNC_SECONDS", "60")),
        )


# -- storage: the forum's own SQLite file ----------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS posts (
    id TEXT PRIMARY KEY,
    author TEXT NOT NULL,
    caption TEXT NOT NULL,
    media BLOB NOT NULL,
    media_type TEXT NOT NULL,
    state TEXT NOT NULL,            -- pending (being scanned), published, held (awaiting review)
    scan_id INTEGER,
    created_at TEXT NOT NULL
);
-- Every action event received, by webhook or by pull, once per (action, event).
CREATE TABLE IF NOT EXISTS actions (
    action_id INTEGER NOT NULL,
    event TEXT NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    content_id TEXT,
    account_id TEXT,
    policy TEXT,
    statement_url TEXT,             -- the statement of reasons page (DSA Art. 17) for the author
    appeal_url TEXT,
    received_at TEXT NOT NULL,
    acked_at TEXT,
    PRIMARY KEY (action_id, event)
);
CREATE INDEX IF NOT EXISTS actions_content ON actions (content_id);
CREATE INDEX IF NOT EXISTS actions_account ON actions (account_id);
CREATE TABLE IF NOT EXISTS deliveries (delivery_id TEXT PRIMARY KEY, received_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _in_force(alias: str, kinds: tuple[str, ...], column: str, subject: str, restore_kind: str) -> str:
    """SQL for "an action of `kinds` on `subject` is in force": applied, not lifted, and newer than
    any restoration in force. Order-independent, so events arriving late or twice change nothing."""
    names = ", ".join(f"'{k}'" for k in kinds)
    not_lifted = "NOT EXISTS (SELECT 1 FROM actions l WHERE l.action_id = {a}.action_id AND l.event = 'action.lifted')"
    return (
        f"EXISTS (SELECT 1 FROM actions {alias} WHERE {alias}.{column} = {subject} AND {alias}.kind IN ({names}) "
        f"AND {alias}.event = 'action.applied' AND {not_lifted.format(a=alias)} "
        f"AND {alias}.action_id > COALESCE((SELECT MAX(r.action_id) FROM actions r WHERE r.{column} = {subject} "
        f"AND r.kind = '{restore_kind}' AND r.event = 'action.applied' AND {not_lifted.format(a='r')}), 0))"
    )


POST_HIDDEN = _in_force("h", HIDING, "content_id", "p.id", "restore")
POST_LABELLED = _in_force("b", SHOWN, "content_id", "p.id", "restore")
VISIBLE = f"p.state = 'published' AND NOT {POST_HIDDEN}"


class Store:
    """Posts and the actions received for them. One short connection per use: SQLite in WAL mode
    lets the web handlers and the sync loop work side by side."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with self.connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # posts

    def add_pending(self, *, post_id: str, author: str, caption: str, media: bytes) -> None:
        with self.connect() as conn:
            conn.execute(
                "INSERT INTO posts (id, author, caption, media, media_type, state, created_at) "
                "VALUES (?, ?, ?, ?, '', 'pending', ?)",
                (post_id, author, caption, media, _now()),
            )

    def settle(self, post_id: str, *, state: str, scan_id: int, media_type: str) -> None:
        with self.connect() as conn:
            conn.execute(
                "UPDATE posts SET state = ?, scan_id = ?, media_type = ? WHERE id = ?",
                (state, scan_id, media_type, post_id),
            )

    def drop(self, post_id: str) -> None:
        with self.connect() as conn:
            conn.execute("DELETE FROM posts WHERE id = ?", (post_id,))

    def visible_posts(self) -> list[dict[str, Any]]:
        with self.connect() as conn:
            rows = conn.execute(
                f"SELECT p.id, p.author, p.caption, p.created_at, {POST_LABELLED} AS labelled "
                f"FROM posts p WHERE {VISIBLE} ORDER BY p.created_at DESC, p.id"
            ).fetchall()
        return [dict(r) for r in rows]

    def visible_media(self, post_id: str) -> tuple[bytes, str] | None:
        with self.connect() as conn:
            row = conn.execute(
                f"SELECT p.media, p.media_type FROM posts p WHERE p.id = ? AND {VISIBLE}", (post_id,)
            ).fetchone()
        return (row["media"], row["media_type"]) if row else None

    def held_file(self, post_id: str) -> tuple[bytes, str, str] | None:
        """A post's file as the forum holds it, shown or not (hidden posts keep their file): for
        staydown's `provide_file` requests. None once the post is gone."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT media, media_type, created_at FROM posts WHERE id = ? AND state != 'pending'", (post_id,)
            ).fetchone()
        return (row["media"], row["media_type"], row["created_at"]) if row else None

    def post_state(self, post_id: str) -> str | None:
        """`published`, `held`, `hidden` or `pending`; None if there is no such post."""
        with self.connect() as conn:
            row = conn.execute(
                f"SELECT p.state, {POST_HIDDEN} AS hidden FROM posts p WHERE p.id = ?", (post_id,)
            ).fetchone()
        if row is None:
            return None
        return "hidden" if row["hidden"] else row["state"]

    def statement_for(self, post_id: str) -> dict[str, Any] | None:
        """The statement of reasons of the newest measure that hides the post, if one is in force."""
        hiding = ", ".join(f"'{k}'" for k in HIDING)
        with self.connect() as conn:
            row = conn.execute(
                f"SELECT a.kind, a.policy, a.statement_url, a.appeal_url FROM actions a "
                f"WHERE a.content_id = ? AND a.event = 'action.applied' AND a.kind IN ({hiding}) "
                f"AND a.statement_url IS NOT NULL AND NOT EXISTS (SELECT 1 FROM actions l WHERE "
                f"l.action_id = a.action_id AND l.event = 'action.lifted') ORDER BY a.action_id DESC LIMIT 1",
                (post_id,),
            ).fetchone()
        return dict(row) if row else None

    def barred(self, author: str) -> bool:
        with self.connect() as conn:
            return bool(
                conn.execute(
                    f"SELECT {_in_force('s', BARRING, 'account_id', ':author', 'restore_account')}", {"author": author}
                ).fetchone()[0]
            )

    # actions

    def record_delivery(self, conn: sqlite3.Connection, delivery_id: str) -> bool:
        """The `seen` store for the webhook verifier: True if this delivery was recorded before.
        It runs in the same transaction as the action's effect, so a delivery whose processing
        failed is not remembered, and the sender's retry is applied."""
        inserted = conn.execute(
            "INSERT OR IGNORE INTO deliveries (delivery_id, received_at) VALUES (?, ?)", (delivery_id, _now())
        ).rowcount
        return inserted == 0

    def record_action(self, conn: sqlite3.Connection, action: Action) -> bool:
        """Keep the event; True if it is new. Releasing a held post happens here too: a lifted
        restriction means the review found nothing (or a final measure replaced it, which the
        feed delivers first, so the post stays hidden by that one)."""
        inserted = conn.execute(
            "INSERT OR IGNORE INTO actions (action_id, event, kind, target, content_id, account_id, policy, "
            "statement_url, appeal_url, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                action.id,
                action.event,
                action.kind,
                action.target,
                action.content_id,
                action.account_id,
                action.policy,
                action.statement.url if action.statement else None,
                action.statement.appeal_url if action.statement else None,
                _now(),
            ),
        ).rowcount
        if (
            inserted
            and action.content_id
            and ((action.applied and action.kind == "restore") or (action.lifted and action.kind in HIDING))
        ):
            conn.execute("UPDATE posts SET state = 'published' WHERE id = ? AND state = 'held'", (action.content_id,))
        return bool(inserted)

    def mark_acked(self, action: Action) -> None:
        with self.connect() as conn:
            conn.execute(
                "UPDATE actions SET acked_at = ? WHERE action_id = ? AND event = ?", (_now(), action.id, action.event)
            )

    def acked(self, action: Action) -> bool:
        with self.connect() as conn:
            row = conn.execute(
                "SELECT acked_at FROM actions WHERE action_id = ? AND event = ?", (action.id, action.event)
            ).fetchone()
        return bool(row and row["acked_at"])

    def cursor(self) -> int:
        with self.connect() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'action_cursor'").fetchone()
        return int(row["value"]) if row else 0

    def set_cursor(self, seq: int) -> None:
        with self.connect() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('action_cursor', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(seq),),
            )


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _file_name(name: str | None) -> str | None:
    """The uploader's file name as a browser sent it: the last path part, printable, at most 300."""
    if not name:
        return None
    base = re.split(r"[\\/]", name)[-1]
    clean = "".join(c for c in base if c.isprintable())[:300]
    return clean or None


def outcome_of(action: Action) -> tuple[str, str]:
    """The acknowledgement for an action event: (status, detail). A `provide_file` request is
    answered by `answer_file_request`, which sends the file first."""
    verb = "lifted" if action.lifted else "applied"
    if action.kind == "provide_file":
        return "applied", ("no longer needed: nothing to do" if action.lifted else "file provided")
    if action.kind in HIDING:
        return "applied", f"{verb}: post {'shown again unless another measure holds it' if action.lifted else 'hidden'}"
    if action.kind == "restore":
        return "applied", f"{verb}: post published again"
    if action.kind in SHOWN:
        return "applied", f"{verb}: label {'removed' if action.lifted else 'shown with the post'}"
    if action.kind in NOTHING_TO_DO:
        return "applied", "nothing to do: the forum has no recommendations, search ranking or monetisation"
    if action.kind in BARRING or action.kind == "restore_account":
        return "applied", f"{verb}: posting rights follow the measures in force"
    if action.kind in RECORDED:
        return "applied", f"{verb}: recorded"
    return "failed", f"the forum does not support the action {action.kind!r}"


# -- the web app -----------------------------------------------------------------------------


def create_app(config: Config, *, client: AsyncClient | None = None) -> FastAPI:
    store = Store(config.database)
    templates = Jinja2Templates(directory=str(HERE / "templates"))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        staydown = client or AsyncClient(config.staydown_url, config.api_key)
        app.state.staydown = staydown
        task = asyncio.create_task(_sync_forever(app)) if config.sync_seconds > 0 else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if client is None:
                await staydown.aclose()

    app = FastAPI(title="forum", lifespan=lifespan)
    app.state.store = store
    app.state.config = config

    def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, template, {"report_url": report_url, **context}, status_code=status)

    def report_url(post_id: str) -> str:
        return f"{config.staydown_url}/report?content={quote(post_id, safe='')}"

    async def answer_file_request(action: Action) -> tuple[str, str] | None:
        """staydown asks for a post's file because a report to the authorities needs it: send the
        file as the forum holds it, or say why it cannot. None if sending failed (the next sync
        tries again)."""
        found = await run_in_threadpool(store.held_file, action.content_id or "")
        if found is None:
            return "failed", "the forum no longer holds this post's file (the post was deleted)"
        data, media_type, created_at = found
        try:
            await app.state.staydown.provide_file(
                action, data, context={"uploaded_at": created_at, "media_type": media_type}
            )
        except StaydownClientError:
            log.warning(
                "could not send the file of post %s for request %s; the next sync will",
                action.content_id,
                action.file_request_id,
                exc_info=True,
            )
            return None
        return "applied", "file provided"

    async def ack(action: Action) -> None:
        status, detail = outcome_of(action)
        if action.kind == "provide_file" and action.applied:
            answered = await answer_file_request(action)
            if answered is None:
                return
            status, detail = answered
        try:
            await app.state.staydown.ack_action(action.id, status=status, detail=detail)
        except StaydownClientError:
            # Not lost: the periodic pull finds the event unacknowledged and acknowledges it.
            log.warning(
                "could not acknowledge action %s (%s); the next sync will", action.id, action.event, exc_info=True
            )
            return
        await run_in_threadpool(store.mark_acked, action)

    @app.get("/", response_class=HTMLResponse)
    async def index(request: Request) -> HTMLResponse:
        posts = await run_in_threadpool(store.visible_posts)
        return page(request, "index.html", posts=posts)

    @app.get("/api/posts")
    async def posts_json() -> dict[str, Any]:
        return {"posts": await run_in_threadpool(store.visible_posts)}

    @app.get("/media/{post_id}")
    async def media(post_id: str) -> Response:
        found = await run_in_threadpool(store.visible_media, post_id)
        if found is None:
            return Response("not available", status_code=404, media_type="text/plain")
        data, media_type = found
        # The type comes from staydown's decoding, never from the uploader's claim.
        return Response(
            data, media_type=media_type, headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
        )

    @app.post("/posts", response_class=HTMLResponse)
    async def create_post(
        request: Request, username: str = Form(...), caption: str = Form(""), image: UploadFile = File(...)
    ) -> HTMLResponse:
        if not USERNAME_RE.match(username):
            return page(
                request,
                "message.html",
                422,
                title="Choose another name",
                text="Use 1 to 40 letters, digits, dots, dashes or underscores.",
            )
        if await run_in_threadpool(store.barred, username):
            return page(
                request,
                "message.html",
                403,
                title="You cannot post",
                text="This account is suspended following a moderation decision.",
            )
        data = await image.read(config.max_upload_bytes + 1)
        if len(data) > config.max_upload_bytes:
            return page(
                request,
                "message.html",
                413,
                title="Too large",
                text=f"Images can be at most {config.max_upload_bytes // (1024 * 1024)} MiB.",
            )
        post_id = secrets.token_hex(8)  # never reused, so staydown never confuses two posts
        # The post exists, unseen, before staydown hears of it: an action sent while the scan is
        # still running finds it and is kept.
        await run_in_threadpool(store.add_pending, post_id=post_id, author=username, caption=caption[:500], media=data)
        try:
            # Everything a report to the authorities would carry about this upload, should it ever
            # be reported: who, from which address and port, when, under what file name, and that
            # a forum post is public.
            result = await app.state.staydown.scan(
                data,
                content_id=post_id,
                account_id=username,
                account_handle=username,
                content_kind="image",
                content_url=f"{config.public_url}/p/{post_id}",
                content_visibility="public",
                uploader_ip=request.client.host if request.client else None,
                uploader_port=request.client.port if request.client else None,
                uploaded_at=datetime.now(UTC),
                original_filename=_file_name(image.filename),
            )
        except InvalidInputError as exc:
            await run_in_threadpool(store.drop, post_id)
            return page(request, "message.html", 422, title="That file could not be read", text=exc.message)
        except StaydownClientError:
            # Fail closed: nothing is published unchecked.
            log.exception("scan failed for post %s", post_id)
            await run_in_threadpool(store.drop, post_id)
            return page(
                request,
                "message.html",
                503,
                title="Try again shortly",
                text="Uploads cannot be checked right now, so nothing was posted.",
            )
        media_type = IMAGE_TYPES.get(str(result.media.get("format", "")).upper())
        if result.blocked or media_type is None:
            await run_in_threadpool(store.drop, post_id)
            if result.blocked:
                return page(
                    request, "message.html", 422, title="Upload refused", text="This image cannot be posted here."
                )
            return page(request, "message.html", 415, title="Images only", text="Post a JPEG, PNG, GIF or WebP image.")
        state = "held" if result.held else "published"
        await run_in_threadpool(store.settle, post_id, state=state, scan_id=result.scan_id, media_type=media_type)
        if result.held:
            return page(
                request,
                "message.html",
                202,
                title="Waiting for review",
                post_id=post_id,
                text="Your post will appear once it has been reviewed.",
            )
        return page(request, "message.html", 201, title="Posted", post_id=post_id, text="Your post is up.")

    @app.get("/p/{post_id}", response_class=HTMLResponse)
    async def show_post(request: Request, post_id: str) -> HTMLResponse:
        posts = [p for p in await run_in_threadpool(store.visible_posts) if p["id"] == post_id]
        if not posts:
            # A post taken down by a decision says why and how to contest it (DSA Art. 17); a real
            # forum would show this to the author only.
            statement = await run_in_threadpool(store.statement_for, post_id)
            return page(
                request,
                "message.html",
                404,
                title="Not available",
                text="This post is not available.",
                statement=statement,
            )
        return page(request, "index.html", posts=posts, single=True)

    @app.post("/staydown/webhook")
    async def webhook(request: Request, background: BackgroundTasks) -> JSONResponse:
        body = await request.body()

        def receive() -> tuple[str, Action]:
            with store.transaction() as conn:
                event = verify_webhook(
                    body,
                    request.headers,
                    config.webhook_secret,
                    seen=lambda delivery_id: store.record_delivery(conn, delivery_id),
                )
                store.record_action(conn, event.action)
                return event.delivery_id, event.action

        try:
            delivery_id, action = await run_in_threadpool(receive)
        except ReplayedWebhook as exc:
            # Answer 2xx, or the sender keeps retrying a delivery that was applied already.
            return JSONResponse({"status": "duplicate", "delivery_id": exc.event.delivery_id})
        except MalformedWebhook as exc:
            return JSONResponse({"error": exc.code, "message": str(exc)}, status_code=400)
        except InvalidWebhookSignature as exc:
            log.warning("refused a webhook: %s", exc)
            return JSONResponse({"error": exc.code, "message": str(exc)}, status_code=401)
        # Acknowledge after answering, so the sender is not kept waiting on a call back to itself.
        background.add_task(ack, action)
        return JSONResponse({"status": "accepted", "delivery_id": delivery_id})

    async def sync_once() -> int:
        """Pull the action feed from the stored cursor: apply what the webhooks missed and
        acknowledge what was not acknowledged. Returns how many events it went through."""
        count = 0
        after = await run_in_threadpool(store.cursor)
        async for action in app.state.staydown.iter_actions(after=after):

            def apply(action: Action = action) -> None:
                with store.transaction() as conn:
                    store.record_action(conn, action)

            await run_in_threadpool(apply)
            if not await run_in_threadpool(store.acked, action):
                await ack(action)
            await run_in_threadpool(store.set_cursor, action.seq)
            count += 1
        return count

    async def _sync_forever(app: FastAPI) -> None:
        while True:
            try:
                await sync_once()
            except Exception:  # keep syncing; the next round retries
                log.warning("syncing the action feed failed; retrying in %s s", config.sync_seconds, exc_info=True)
            await asyncio.sleep(config.sync_seconds)

    app.state.sync_once = sync_once
    return app


def main() -> None:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = Config.from_env()
    uvicorn.run(create_app(config), host="127.0.0.1", port=config.port)


if __name__ == "__main__":
    main()
