"""Messages to people outside: receipts and decisions for notifiers (DSA-1), sent from the outbox."""

from __future__ import annotations

import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from staydown.db import Base, BigIntPK, UTCDateTime, now
from staydown.delivery.outbox import JobContext, enqueue

SEND_MESSAGE = "messages:send"


class OutboundMessage(Base):
    __tablename__ = "outbound_messages"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    notice_id: Mapped[int | None] = mapped_column(sa.ForeignKey("notices.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(30), nullable=False)  # receipt, decision, ...
    channel: Mapped[str] = mapped_column(sa.String(20), nullable=False)  # email | platform
    recipient: Mapped[str] = mapped_column(sa.String(320), nullable=False)
    subject: Mapped[str] = mapped_column(sa.String(300), nullable=False)
    body: Mapped[str] = mapped_column(sa.Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class FileMailer:
    """Development and tests: each message is written as an .eml file to a folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = message["Message-ID"].strip("<>").replace("/", "_").replace("@", "_at_")
        (self.folder / f"{name}.eml").write_bytes(bytes(message))


class SmtpMailer:
    def __init__(
        self, host: str, port: int, *, username: str | None, password: str | None, starttls: bool, timeout: float = 30.0
    ) -> None:
        self.host, self.port, self.username, self.password = host, port, username, password
        self.starttls, self.timeout = starttls, timeout

    def send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


def mailer_from_settings(settings: Any) -> Mailer:
    if settings.smtp_host:
        return SmtpMailer(
            settings.smtp_host,
            settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            starttls=settings.smtp_starttls,
        )
    return FileMailer(Path(settings.data_dir) / "mail")


def queue_message(
    db: Session, *, notice_id: int | None, kind: str, channel: str, recipient: str, subject: str, body: str
) -> OutboundMessage:
    """Write the message and its delivery job in the caller's transaction."""
    message = OutboundMessage(
        notice_id=notice_id,
        kind=kind,
        channel=channel,
        recipient=recipient,
        subject=subject[:300],
        body=body,
        created_at=now(db),
    )
    db.add(message)
    db.flush()
    if channel == "email":
        enqueue(db, kind=SEND_MESSAGE, payload={"message_id": message.id}, idempotency_key=f"message:{message.id}")
    return message


def send_message_job(db: Session, ctx: JobContext) -> None:
    """Deliver one queued e-mail. The Message-ID is fixed per message, so a retry after a crash
    that had already handed it to the server is recognisable as a duplicate downstream."""
    message = db.get(OutboundMessage, ctx.payload["message_id"])
    if message is None or message.sent_at is not None:
        return
    send_email(
        ctx,
        to=message.recipient,
        subject=message.subject,
        body=message.body,
        message_id=f"staydown-message-{message.id}",
    )
    message.sent_at = now(db)


def send_email(ctx: JobContext, *, to: str, subject: str, body: str, message_id: str) -> None:
    """Send one plain-text e-mail through the job's mailer (SMTP, or files in development). The
    caller fixes `message_id` per thing sent, so a retry after a crash that had already handed it
    to the server is recognisable as a duplicate downstream."""
    settings = ctx.services["settings"]
    mailer: Mailer = ctx.services.get("mailer") or mailer_from_settings(settings)
    email = EmailMessage()
    email["From"] = settings.mail_from
    email["To"] = to
    email["Subject"] = subject
    email["Message-ID"] = f"<{message_id}@{settings.mail_domain}>"
    email.set_content(body)
    mailer.send(email)
