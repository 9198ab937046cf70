"""Finding things in the console: the global search (content and account ids, handles, tracking,
appeal and statement codes, case numbers) and everything on record about one account or one item."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown.actors import Actor
from staydown.appeals.models import Appeal
from staydown.cases.models import Case
from staydown.codes import normalise
from staydown.db import get_or_404
from staydown.enforcement.models import AccountStrike, EnforcementAction
from staydown.errors import InvalidInput, NotFound
from staydown.i18n import gettext as _
from staydown.intake.models import Notice, NoticeItem
from staydown.staff.permissions import Permission
from staydown.subjects.models import PlatformAccount, PlatformContent
from staydown.transparency.models import StatementOfReasons
from staydown.transparency.statements import CODE_PREFIX
from staydown.web.console.words import reporter_word, word

MAX_QUERY = 200
MAX_HITS = 30
MAX_ROWS = 200
CASE_RE = re.compile(r"^(?:case\s*)?#?(\d{1,18})$", re.IGNORECASE)


@dataclass(frozen=True)
class Hit:
    kind: str  # case, content, account, report, appeal, statement
    label: str
    url: str
    detail: str
    exact: bool


def _sees_child_safety(actor: Actor) -> bool:
    return Permission.CHILD_SAFETY_CASES.value in actor.permissions


def _hidden_cases(db: Session, actor: Actor, case_ids: set[int]) -> set[int]:
    """The cases among `case_ids` this person may not see (child-safety ones without the permission)."""
    if _sees_child_safety(actor) or not case_ids:
        return set()
    return set(db.execute(sa.select(Case.id).where(Case.id.in_(case_ids), Case.child_safety.is_(True))).scalars())


def _case_of_notice(db: Session, notice: Notice) -> int | None:
    if notice.case_id:
        return notice.case_id
    return db.execute(
        sa.select(NoticeItem.case_id)
        .where(NoticeItem.notice_id == notice.id, NoticeItem.case_id.is_not(None))
        .order_by(NoticeItem.id)
        .limit(1)
    ).scalar_one_or_none()


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search(db: Session, actor: Actor, query: str) -> list[Hit]:
    """What `query` names, exact matches first. Nothing this person may not see is found (a
    child-safety case, or an item or account known only through one, for a moderator)."""
    q = (query or "").strip()
    if len(q) > MAX_QUERY:
        raise InvalidInput(
            _("a search is at most %(limit)s characters (it has %(length)s)", limit=MAX_QUERY, length=len(q))
        )
    if not q or not q.isprintable():
        return []
    hits: list[Hit] = []
    found_case = CASE_RE.match(q)
    if found_case:
        case = db.get(Case, int(found_case.group(1))) if int(found_case.group(1)) < 2**63 else None
        if case is not None and not _hidden_cases(db, actor, {case.id}):
            hits.append(
                Hit(
                    "case",
                    _("Case %(id)s", id=case.id),
                    f"/console/cases/{case.id}",
                    f"{word(case.area)} · {word(case.state)}",
                    True,
                )
            )
    code = normalise(q)
    if code:
        for notice in db.execute(sa.select(Notice).where(Notice.tracking_code == code)).scalars():
            case_id = _case_of_notice(db, notice)
            if case_id and not _hidden_cases(db, actor, {case_id}):
                hits.append(
                    Hit(
                        "report",
                        _("Report %(code)s", code=notice.tracking_code),
                        f"/console/cases/{case_id}",
                        _(
                            "%(kind)s from %(reporter)s, case %(case)s",
                            kind=word(notice.kind),
                            reporter=reporter_word(notice.reporter_kind),
                            case=case_id,
                        ),
                        True,
                    )
                )
        for appeal in db.execute(sa.select(Appeal).where(Appeal.code == code)).scalars():
            if _hidden_cases(db, actor, {appeal.case_id}):
                continue
            url = (
                f"/console/appeals/{appeal.id}"
                if Permission.APPEALS_DECIDE.value in actor.permissions
                else f"/console/cases/{appeal.case_id}"
            )
            hits.append(
                Hit(
                    "appeal",
                    _("Appeal %(code)s", code=appeal.code),
                    url,
                    _("%(state)s, case %(case)s", state=word(appeal.state), case=appeal.case_id),
                    True,
                )
            )
    statement_code = normalise(q, prefix=CODE_PREFIX)
    if statement_code:
        for statement in db.execute(
            sa.select(StatementOfReasons).where(StatementOfReasons.code == statement_code)
        ).scalars():
            if statement.case_id and _hidden_cases(db, actor, {statement.case_id}):
                continue
            url = (
                f"/console/cases/{statement.case_id}"
                if statement.case_id
                else f"/console/content/{statement.content_id}"
                if statement.content_id
                else f"/console/accounts/{statement.account_id}"
            )
            hits.append(
                Hit(
                    "statement",
                    _("Statement %(code)s", code=statement.code),
                    url,
                    f"{word(statement.measure)} ({word(statement.target)})",
                    True,
                )
            )
    handle = q.lstrip("@")
    for content in db.execute(
        sa.select(PlatformContent)
        .where(sa.or_(PlatformContent.platform_id == q, PlatformContent.platform_id.like(_like(q), escape="\\")))
        .order_by(PlatformContent.platform_id)
        .limit(MAX_HITS)
    ).scalars():
        if _content_hidden(db, actor, content.id):
            continue
        hits.append(
            Hit(
                "content",
                _("Item %(id)s", id=content.platform_id),
                f"/console/content/{content.id}",
                _("kind %(kind)s", kind=word(content.kind)) + (f" · {content.url}" if content.url else ""),
                content.platform_id == q,
            )
        )
    for account in db.execute(
        sa.select(PlatformAccount)
        .where(
            sa.or_(
                PlatformAccount.platform_id == q,
                PlatformAccount.platform_id.like(_like(q), escape="\\"),
                sa.func.lower(PlatformAccount.handle) == handle.lower(),
                sa.func.lower(PlatformAccount.handle).like(_like(handle.lower()), escape="\\"),
            )
        )
        .order_by(PlatformAccount.platform_id)
        .limit(MAX_HITS)
    ).scalars():
        exact = account.platform_id == q or (account.handle or "").lower() == handle.lower()
        hits.append(
            Hit(
                "account",
                _("Account %(name)s", name=account.handle or account.platform_id),
                f"/console/accounts/{account.id}",
                _("platform id %(id)s · %(status)s", id=account.platform_id, status=word(account.status)),
                exact,
            )
        )
    hits.sort(key=lambda h: not h.exact)
    return hits[:MAX_HITS]


def _cases_of_content(db: Session, content_ids: list[int]) -> set[int]:
    if not content_ids:
        return set()
    direct = set(db.execute(sa.select(Case.id).where(Case.content_id.in_(content_ids))).scalars())
    via = {
        c
        for c in db.execute(
            sa.select(NoticeItem.case_id).where(NoticeItem.content_id.in_(content_ids), NoticeItem.case_id.is_not(None))
        ).scalars()
        if c is not None  # as the query says
    }
    return direct | via


def _content_hidden(db: Session, actor: Actor, content_id: int) -> bool:
    """An item is hidden from a person who may not see one of its cases: a child-safety report
    about it is itself a fact they are not to learn."""
    return bool(_hidden_cases(db, actor, _cases_of_content(db, [content_id])))


@dataclass
class Record:
    """Everything on record about one account or one item, each list newest first."""

    cases: list[Case] = field(default_factory=list)
    actions: list[EnforcementAction] = field(default_factory=list)
    strikes: list[AccountStrike] = field(default_factory=list)
    appeals: list[Appeal] = field(default_factory=list)
    statements: list[StatementOfReasons] = field(default_factory=list)
    contents: list[PlatformContent] = field(default_factory=list)
    hidden: int = 0  # cases left out because this person may not see them

    def statement_of(self) -> dict[int, StatementOfReasons]:
        return {s.action_id: s for s in self.statements}


def _record(db: Session, actor: Actor, *, content_ids: list[int], account_id: int | None) -> Record:
    case_ids = _cases_of_content(db, content_ids)
    action_filter: list[Any] = []
    if content_ids:
        action_filter.append(EnforcementAction.content_id.in_(content_ids))
    if account_id is not None:
        action_filter.append(EnforcementAction.account_id == account_id)
        case_ids |= {
            c
            for c in db.execute(
                sa.select(EnforcementAction.case_id).where(
                    EnforcementAction.account_id == account_id, EnforcementAction.case_id.is_not(None)
                )
            ).scalars()
            if c is not None  # as the query says
        }
        case_ids |= {
            c
            for c in db.execute(
                sa.select(AccountStrike.case_id).where(
                    AccountStrike.account_id == account_id, AccountStrike.case_id.is_not(None)
                )
            ).scalars()
            if c is not None  # as the query says
        }
    hidden = _hidden_cases(db, actor, case_ids)
    visible = case_ids - hidden
    record = Record(hidden=len(hidden))
    record.cases = list(
        db.execute(
            sa.select(Case).where(Case.id.in_(visible)).order_by(Case.opened_at.desc(), Case.id.desc()).limit(MAX_ROWS)
        ).scalars()
    )
    if action_filter:
        actions = sa.select(EnforcementAction).where(sa.or_(*action_filter))
        if hidden:
            actions = actions.where(
                sa.or_(EnforcementAction.case_id.is_(None), EnforcementAction.case_id.notin_(hidden))
            )
        record.actions = list(
            db.execute(
                actions.order_by(EnforcementAction.created_at.desc(), EnforcementAction.id.desc()).limit(MAX_ROWS)
            ).scalars()
        )
    if account_id is not None:
        strikes = sa.select(AccountStrike).where(AccountStrike.account_id == account_id)
        if hidden:
            strikes = strikes.where(sa.or_(AccountStrike.case_id.is_(None), AccountStrike.case_id.notin_(hidden)))
        record.strikes = list(
            db.execute(
                strikes.order_by(AccountStrike.created_at.desc(), AccountStrike.id.desc()).limit(MAX_ROWS)
            ).scalars()
        )
    if visible:
        record.appeals = list(
            db.execute(
                sa.select(Appeal)
                .where(Appeal.case_id.in_(visible))
                .order_by(Appeal.received_at.desc(), Appeal.id.desc())
                .limit(MAX_ROWS)
            ).scalars()
        )
    statement_filter: list[Any] = []
    if content_ids:
        statement_filter.append(StatementOfReasons.content_id.in_(content_ids))
    if account_id is not None:
        statement_filter.append(StatementOfReasons.account_id == account_id)
    if statement_filter:
        statements = sa.select(StatementOfReasons).where(sa.or_(*statement_filter))
        if hidden:
            statements = statements.where(
                sa.or_(StatementOfReasons.case_id.is_(None), StatementOfReasons.case_id.notin_(hidden))
            )
        record.statements = list(
            db.execute(
                statements.order_by(StatementOfReasons.issued_at.desc(), StatementOfReasons.id.desc()).limit(MAX_ROWS)
            ).scalars()
        )
    return record


def account_by_id(db: Session, account_id: int) -> PlatformAccount:
    return get_or_404(db, PlatformAccount, account_id, "account")


def content_by_id(db: Session, actor: Actor, content_id: int) -> PlatformContent:
    found = db.get(PlatformContent, content_id)
    if found is None or _content_hidden(db, actor, content_id):
        raise NotFound(f"no item {content_id}")
    return found


def account_record(db: Session, actor: Actor, account: PlatformAccount) -> Record:
    contents = list(
        db.execute(
            sa.select(PlatformContent)
            .where(PlatformContent.account_id == account.id)
            .order_by(PlatformContent.first_seen_at.desc(), PlatformContent.id.desc())
            .limit(MAX_ROWS)
        ).scalars()
    )
    record = _record(db, actor, content_ids=[c.id for c in contents], account_id=account.id)
    record.contents = [c for c in contents if not _content_hidden(db, actor, c.id)]
    return record


def content_record(db: Session, actor: Actor, content: PlatformContent) -> Record:
    return _record(db, actor, content_ids=[content.id], account_id=None)
