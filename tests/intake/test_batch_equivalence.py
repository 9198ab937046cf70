"""Group commit of notices: REQ X-1, X-2, X-4, DSA-1, DSA-6, DSA-7, TID-1.

Processing N notices as ONE batch, in one transaction (`staydown.intake.batch.submit_notices`),
must store exactly what processing them one by one stores: every row of every table, ids
included, and the same audit events (same multiset, same order per subject). A batch is an
optimisation; it may not change who is told what, which clocks run, which content is restricted
or how many people reported a case.

The scenario is ~45 notices chosen for what a set-wise rewrite tends to get wrong: several
notices about one content in the same batch (duplicates, the same reporter twice, a graver
policy arriving later, reach rising), content first mentioned without an account and later with
one, a content re-reported with another URL and another account (an update and a conflict),
child-safety reports (interim restriction, extra tracks) including one joining an existing case,
anonymous and url-only reports, a multi-item notice (also one naming the same content twice), a
trusted flagger in and out of its field, law enforcement, a terrorist order, TAKE IT DOWN
requests complete and incomplete, and a suspended notifier whose ordinary notices are not
processed but whose report about a child is.

Run A submits each notice with `submit_notices(s, [one])` in its own transaction; run B submits
all of them with one `submit_notices` call in one transaction. Both start from a fresh database
with the same setup, the same frozen clock and the same deterministic codes.
"""

from __future__ import annotations

import itertools
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

import staydown.intake.batch as batch
import staydown.transparency.statements as statements
from staydown import audit, codes
from staydown.actors import SYSTEM, Actor
from staydown.audit.models import AuditEvent
from staydown.cases.rules import DEFAULT_RULES
from staydown.clock import FrozenClock
from staydown.db import Database, create_engine
from staydown.intake.misuse import register_trusted_flagger
from staydown.intake.models import Notifier
from staydown.intake.schemas import NoticeIn
from staydown.jsonutil import canonical
from staydown.models import metadata
from staydown.policies.catalogue import default_catalogue
from staydown.staff.models import ApiClient
from staydown.transparency.statements import CODE_PREFIX
from tests.conftest import T0, _reset_postgresql

# -- deterministic codes ----------------------------------------------------------------------
#
# Tracking codes, statement codes and Transparency Database puids are random in service. Each
# gets its own counter, so that a batch drawing all its tracking codes first and its statements
# later gets the same codes as the one-by-one run, which interleaves them.


class _Codes:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.tracking = itertools.count(1)
        self.statement = itertools.count(1)
        self.puid = itertools.count(1)

    def new_tracking_code(self) -> str:
        return codes.grouped(f"{next(self.tracking):020d}")

    def new_statement_code(self) -> str:
        return codes.grouped(f"{next(self.statement):020d}", CODE_PREFIX)

    def token_hex(self, nbytes: int = 16) -> str:
        return f"{next(self.puid):0{2 * nbytes}x}"


@pytest.fixture
def fixed_codes(monkeypatch: pytest.MonkeyPatch) -> _Codes:
    fixed = _Codes()
    monkeypatch.setattr(batch, "new_tracking_code", fixed.new_tracking_code)
    monkeypatch.setattr(statements, "new_statement_code", fixed.new_statement_code)
    monkeypatch.setattr(statements, "secrets", SimpleNamespace(token_hex=fixed.token_hex))
    return fixed


# -- fresh databases ---------------------------------------------------------------------------


@pytest.fixture
def fresh_database(backend: str, request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock):
    """A factory of fresh, migrated databases on the test's backend, all on the same frozen clock.
    SQLite: a new file from the template each time. PostgreSQL: the one test database, emptied
    the way tests/conftest.py empties it between tests (so take each snapshot before the next)."""
    engines: list[sa.Engine] = []

    def make(name: str) -> Database:
        if backend == "sqlite":
            target = tmp_path / f"{name}.db"
            shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
            engine = create_engine(f"sqlite:///{target}")
            engines.append(engine)
            return Database(engine, clock=clock)
        engine = request.getfixturevalue("pg_engine")
        _reset_postgresql(engine)
        return Database(engine, clock=clock)

    yield make
    for engine in engines:
        engine.dispose()


# -- setup and scenario ------------------------------------------------------------------------

NOTICES_SUBMIT = frozenset({"notices:submit"})


@dataclass
class Who:
    platform: Actor
    hotline: Actor  # a trusted flagger's API client (DSA-6)
    public: Actor = field(default_factory=Actor.public)


def _setup(database: Database) -> Who:
    """The same in both runs: two API clients (inserted with fixed keys: `create_api_client`
    draws random ones), a trusted flagger in hate_harassment, and a notifier suspended under
    DSA Art. 23 after a warning."""
    with database.unit_of_work() as db:
        ids = {}
        for name in ("platform", "hotline"):
            row = ApiClient(
                name=name,
                key_prefix=f"fixed{name}"[:16],
                key_hash=name.ljust(64, "0")[:64],
                scopes=sorted(NOTICES_SUBMIT),
                created_by=SYSTEM.ref,
                created_at=T0 - timedelta(days=30),
            )
            db.add(row)
            db.flush()
            ids[name] = row.id
        register_trusted_flagger(
            db,
            actor=SYSTEM,
            name="Hotline Example",
            areas=["hate_harassment"],
            designated_by="DSC of Ireland",
            contact_email="desk@hotline.example",
            api_client_id=ids["hotline"],
        )
        db.add(
            Notifier(
                key="platform:troll-7",
                notices=12,
                founded=1,
                manifestly_unfounded=9,
                warned_at=T0 - timedelta(days=20),
                suspended_until=T0 + timedelta(days=60),
                created_at=T0 - timedelta(days=90),
            )
        )
    return Who(
        platform=Actor.api_client(ids["platform"], "platform", NOTICES_SUBMIT),
        hotline=Actor.api_client(ids["hotline"], "hotline", NOTICES_SUBMIT),
    )


def _item(content_id: str | None = None, url: str | None = None, account_id: str | None = None) -> dict[str, Any]:
    return {k: v for k, v in (("content_id", content_id), ("url", url), ("account_id", account_id)) if v}


def _scenario(who: Who) -> list[tuple[str, Actor, NoticeIn, str | None]]:
    """(label, actor, notice, idempotency key): labels name each notice in failure messages."""
    P, H, Pub = who.platform, who.hotline, who.public

    def user(rep: str | None, policy: str | None, *items: dict[str, Any], **extra: Any) -> NoticeIn:
        return NoticeIn(
            kind="user_report",
            reporter_kind=extra.pop("reporter_kind", "user"),
            reporter_id=rep,
            policy_id=policy,
            explanation=extra.pop("explanation", f"reported by {rep or 'someone'}"),
            items=list(items),
            **extra,
        )

    def public(policy: str | None, *items: dict[str, Any], **extra: Any) -> NoticeIn:
        extra.setdefault("reporter_kind", "anonymous")
        return NoticeIn(
            kind=extra.pop("kind", "public_report"),
            policy_id=policy,
            items=list(items),
            explanation=extra.pop("explanation", "seen on the public site"),
            **extra,
        )

    return [
        # Several reports about one content: different reporters, the same reporter twice, a
        # graver policy later, reach later (DSA-1; one case, reporters counted once each).
        ("post-1 rep-1", P, user("rep-1", "harassment", _item("post-1", account_id="acct-a")), None),
        ("post-1 rep-2", P, user("rep-2", "harassment", _item("post-1", account_id="acct-a")), None),
        ("post-1 rep-1 again", P, user("rep-1", "harassment", _item("post-1", account_id="acct-a")), None),
        ("post-1 hate rep-3", P, user("rep-3", "hate", _item("post-1", account_id="acct-a")), None),
        # Accounts that recur across contents; a content re-reported with another URL and another
        # account (a content update and an account conflict, recorded, not applied).
        ("post-2 spam acct-a", P, user("rep-4", "spam", _item("post-2", account_id="acct-a")), None),
        ("post-3 scams acct-b", P, user("rep-5", "scams", _item("post-3", account_id="acct-b")), None),
        (
            "post-2 moved, acct-c",
            P,
            user("rep-6", "spam", _item("post-2", url="https://social.example/p/2-moved", account_id="acct-c")),
            None,
        ),
        # a parent reports sexual imagery of their child: interim restriction, tracks.
        (
            "vid-1 csam parent",
            P,
            user(
                None,
                "csam",
                _item("vid-1", url="https://social.example/v/1", account_id="acct-d"),
                reporter_kind="parent_or_representative",
                minor_involved=True,
                explanation="This video shows my son, he is 16.",
            ),
            None,
        ),
        # the same video from an anonymous member of the public, no name, no e-mail.
        ("vid-1 csam anonymous", Pub, public("csam", _item("vid-1"), minor_involved=True), None),
        # NCII from the person depicted.
        (
            "img-1 ncii victim",
            P,
            user(
                None,
                "ncii",
                _item("img-1", account_id="acct-e"),
                reporter_kind="affected_person",
                contact_email="victim@example.org",
                good_faith=True,
                explanation="That is me, posted without my consent.",
            ),
            None,
        ),
        # url-only reports, twice the same url.
        ("url p/99 anon", Pub, public("harassment", _item(url="https://social.example/p/99")), None),
        ("url p/99 anon again", Pub, public("harassment", _item(url="https://social.example/p/99")), None),
        (
            "post-4 hate bystander",
            Pub,
            public("hate", _item("post-4"), reporter_kind="user", contact_email="bystander@example.org"),
            None,
        ),
        # DSA-1: several items per notice, one of them already in a case, one url-only.
        (
            "multi-item dsa notice",
            P,
            NoticeIn(
                kind="dsa_notice",
                reporter_kind="user",
                dsa_category="STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
                explanation="Four posts of the same campaign.",
                good_faith=True,
                contact_name="A. Notifier",
                contact_email="notifier@example.org",
                jurisdiction="DE",
                language="de",
                items=[
                    _item("post-5", account_id="acct-b"),
                    _item("post-6", account_id="acct-f"),
                    _item(url="https://social.example/p/100"),
                    _item("post-1"),
                ],
            ),
            None,
        ),
        (
            "law enforcement",
            P,
            NoticeIn(
                kind="law_enforcement",
                reporter_kind="law_enforcement",
                policy_id="violent-threats",
                explanation="threat to kill, case 2026-441",
                details={"agency": "Example Police", "ref": "2026-441"},
                items=[_item("post-7", account_id="acct-g")],
            ),
            None,
        ),
        # DSA-6: a trusted flagger in its field, out of it, and joining an existing case.
        (
            "flagger hate in field",
            H,
            NoticeIn(policy_id="hate", explanation="incitement", items=[_item("post-8", account_id="acct-h")]),
            None,
        ),
        (
            "flagger scams out of field",
            H,
            NoticeIn(policy_id="scams", explanation="fake shop", items=[_item("post-9")]),
            None,
        ),
        (
            "flagger harassment post-1",
            H,
            NoticeIn(policy_id="harassment", explanation="pile-on", items=[_item("post-1")]),
            None,
        ),
        # TID-1: an incomplete request (no signature) is stored and answered; a complete one.
        (
            "TID incomplete p/77",
            Pub,
            NoticeIn(
                kind="take_it_down",
                reporter_kind="affected_person",
                good_faith=True,
                contact_email="tid@example.org",
                explanation="Private photos of me shared without consent.",
                items=[_item(url="https://social.example/p/77")],
            ),
            None,
        ),
        (
            "TID complete img-4",
            Pub,
            NoticeIn(
                kind="take_it_down",
                reporter_kind="parent_or_representative",
                good_faith=True,
                signature="/s/ parent",
                contact_email="parent@example.org",
                explanation="An intimate image of my daughter shared without consent.",
                items=[_item("img-4")],
            ),
            None,
        ),
        (
            "TID complete img-1 victim",
            Pub,
            NoticeIn(
                kind="take_it_down",
                reporter_kind="affected_person",
                good_faith=True,
                signature="/s/ me",
                contact_email="victim@example.org",
                explanation="The same image of me, as a formal request.",
                items=[_item("img-1")],
            ),
            None,
        ),
        # DSA-7: a suspended notifier: stored and acknowledged, not processed, except about a child.
        ("troll harassment not processed", P, user("troll-7", "harassment", _item("post-10")), None),
        (
            "troll csam processed",
            P,
            user("troll-7", "csam", _item("post-11", account_id="acct-d"), minor_involved=True),
            None,
        ),
        ("troll on post-1 not processed", P, user("troll-7", "harassment", _item("post-1")), None),
        # Reach, rising within the batch.
        (
            "post-12 reach",
            P,
            user("rep-7", "violence-glorification", _item("post-12", account_id="acct-g"), reach=250_000),
            None,
        ),
        ("post-1 reach", P, user("rep-8", "harassment", _item("post-1"), reach=1_000), None),
        ("post-12 more reach", P, user("rep-9", "violence-glorification", _item("post-12"), reach=5_000_000), None),
        (
            "terrorist order",
            P,
            NoticeIn(
                kind="terrorist_order",
                reporter_kind="authority",
                explanation="removal order 2026/77",
                details={"order_ref": "2026/77"},
                items=[_item("post-13")],
            ),
            None,
        ),
        (
            "public dsa notice post-3",
            Pub,
            public(
                None,
                _item("post-3"),
                kind="dsa_notice",
                reporter_kind="user",
                dsa_category="STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
                good_faith=True,
                contact_name="B. Person",
                contact_email="b@example.org",
            ),
            None,
        ),
        (
            "post-14 no policy, no account",
            P,
            user("rep-1", None, _item("post-14", url="https://social.example/p/14")),
            None,
        ),
        # NCII with a minor involved is child sexual abuse material whatever box was ticked.
        (
            "post-15 ncii minor",
            P,
            user("rep-2", "ncii", _item("post-15", account_id="acct-e"), minor_involved=True),
            None,
        ),
        ("post-16 self-harm", P, user("rep-1", "self-harm", _item("post-16", account_id="acct-a")), None),
        (
            "enticement url-only",
            Pub,
            public("child-sexual-enticement", _item(url="https://social.example/dm/5"), minor_involved=True),
            None,
        ),
        ("idempotency k-1", P, user("rep-10", "harassment", _item("post-17")), "k-1"),
        ("idempotency k-2", P, user("rep-10", "harassment", _item("post-18")), "k-2"),
        ("post-4 hate rep-11", P, user("rep-11", "hate", _item("post-4")), None),
        # A child-safety report joins the flagger's hate case: raised to csam, restricted on join.
        (
            "post-8 csam parent",
            P,
            user(None, "csam", _item("post-8"), reporter_kind="parent_or_representative", minor_involved=True),
            None,
        ),
        (
            "p/77 ncii public victim",
            Pub,
            public(
                "ncii",
                _item(url="https://social.example/p/77"),
                reporter_kind="affected_person",
                contact_email="victim@example.org",
            ),
            None,
        ),
        ("post-19 listed twice", P, user("rep-12", "spam", _item("post-19"), _item("post-19")), None),
        ("post-20 acct-i", P, user("rep-13", "spam", _item("post-20", account_id="acct-i")), None),
        ("post-20 no account", P, user("rep-14", "spam", _item("post-20")), None),
        ("post-20 acct-j conflict", P, user("rep-15", "spam", _item("post-20", account_id="acct-j")), None),
        ("post-14 now with account", P, user("rep-16", None, _item("post-14", account_id="acct-k")), None),
        ("post-1 late hate rep-2", P, user("rep-2", "hate", _item("post-1", account_id="acct-a"), reach=50), None),
    ]


# -- running and snapshotting ------------------------------------------------------------------


def _submissions(batch: Any, scenario: list[tuple[str, Actor, NoticeIn, str | None]]) -> list[Any]:
    # `Submission.idempotency_key` is scoped to the submitter by the caller, as POST /v1/notices does.
    return [
        batch.Submission(actor=actor, notice=notice, idempotency_key=f"{actor.ref}:{key}" if key else None)
        for _, actor, notice, key in scenario
    ]


def _result_values(result: Any) -> dict[str, Any]:
    values = {
        "notice_id": result.notice_id,
        "tracking_code": result.tracking_code,
        "state": result.state,
        "missing": list(result.missing),
        "case_ids": list(result.case_ids),
    }
    for optional in ("received_at", "deadlines", "replayed"):  # what the receipt shows, where the result has it
        if hasattr(result, optional):
            values[optional] = getattr(result, optional)
    return values


# Tables left out of the row-by-row comparison, and why:
#  - audit_events: compared below as a multiset and in order per subject; their seq, prev_hash
#    and hash follow the global order, which a batch legitimately groups differently;
#  - audit_head: its hash is the last event's, so it differs with the order; its seq (the number
#    of events) is compared.
EXCLUDED = {"audit_events", "audit_head"}
# Jobs: a batch writes its interim restrictions' webhooks (X-4, urgent) before its receipts'
# e-mails, where one by one they alternate. The same jobs, in the same order within each kind.
ORDERED_BY_KIND = {"jobs"}


def _by_kind(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    kinds: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        kinds[row["kind"]].append(repr(sorted((k, repr(v)) for k, v in row.items() if k != "id")))
    return dict(kinds)


def _snapshot(database: Database) -> dict[str, Any]:
    tables: dict[str, list[dict[str, Any]]] = {}
    with database.engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name in EXCLUDED:
                continue
            order = list(table.primary_key.columns) or list(table.columns)
            tables[table.name] = [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(*order))]
        head_seq = conn.execute(sa.text("SELECT seq FROM audit_head")).scalar_one()
        events = [dict(r._mapping) for r in conn.execute(sa.select(AuditEvent.__table__).order_by(AuditEvent.seq))]
    with database.unit_of_work(write=False) as db:
        verified = audit.verify(db)
    return {"tables": tables, "head_seq": head_seq, "events": events, "verified": verified}


def _event_key(e: dict[str, Any]) -> tuple[Any, ...]:
    return (
        e["tag"],
        e["subject_type"],
        e["subject_id"],
        canonical(e["data"]),
        e["actor_kind"],
        e["actor_id"],
        e["actor_label"],
        e["created_at"],
    )


def _show(row: dict[str, Any], columns: list[str] | None = None) -> str:
    return repr({k: row[k] for k in (columns or row)})


def _without_ids(rows: list[dict[str, Any]]) -> Counter[str]:
    return Counter(repr(sorted((k, repr(v)) for k, v in r.items() if k != "id")) for r in rows)


def _brief(row: dict[str, Any]) -> str:
    """A row in a few words: its id and what names it."""
    named = [str(row[k]) for k in ("kind", "idempotency_key", "tag", "platform_id", "key") if row.get(k)]
    return f"{row.get('id')}:{'/'.join(named[:2])}"


def _table_differences(
    a: dict[str, list[dict[str, Any]]], b: dict[str, list[dict[str, Any]]], max_rows: int = 6
) -> list[str]:
    out: list[str] = []
    for name in a:
        rows_a, rows_b = a[name], b.get(name, [])
        if rows_a == rows_b:
            continue
        if name in ORDERED_BY_KIND and _by_kind(rows_a) == _by_kind(rows_b):
            continue
        lines = [f"table {name}: {len(rows_a)} rows one by one, {len(rows_b)} in a batch"]
        if _without_ids(rows_a) == _without_ids(rows_b):
            lines[0] += (
                ": the same rows but for their ids, in another order (first ids: one by one "
                f"{[_brief(r) for r in rows_a[:8]]}, batch {[_brief(r) for r in rows_b[:8]]})"
            )
        shown = 0
        for i, (ra, rb) in enumerate(itertools.zip_longest(rows_a, rows_b)):
            if ra == rb:
                continue
            if ra is None or rb is None:
                lines.append(f"  row {i}: only {'in the batch' if ra is None else 'one by one'}: {_show(ra or rb)}")
            else:
                cols = [c for c in ra if ra[c] != rb.get(c)]
                key = {c: ra[c] for c in ("id",) if c in ra}
                lines.append(f"  row {i} {key}: columns {cols} differ")
                lines.append(f"    one by one: {_show(ra, cols)}")
                lines.append(f"    batch:      {_show(rb, cols)}")
            shown += 1
            if shown >= max_rows:
                lines.append("  ...")
                break
        out.append("\n".join(lines))
    return out


def _event_differences(a: list[dict[str, Any]], b: list[dict[str, Any]], max_items: int = 8) -> list[str]:
    out: list[str] = []
    ca, cb = Counter(map(_event_key, a)), Counter(map(_event_key, b))
    only_a, only_b = ca - cb, cb - ca
    if only_a or only_b:
        lines = [f"audit events: {len(a)} one by one, {len(b)} in a batch; multisets differ"]
        for label, extra in (("only one by one", only_a), ("only in the batch", only_b)):
            for key, n in sorted(extra.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0]))[:max_items]:
                lines.append(
                    f"  {label} (x{n}): tag={key[0]} subject={key[1]}:{key[2]} data={key[3]} actor={key[4]}:{key[5]}"
                )
        out.append("\n".join(lines))

    def per_subject(events: list[dict[str, Any]]) -> dict[tuple[str, str], list[tuple[Any, ...]]]:
        grouped: dict[tuple[str, str], list[tuple[Any, ...]]] = defaultdict(list)
        for e in events:  # already in seq order
            grouped[(e["subject_type"], e["subject_id"])].append(_event_key(e))
        return grouped

    ga, gb = per_subject(a), per_subject(b)
    shown = 0
    for subject in sorted(set(ga) | set(gb)):
        if ga.get(subject) != gb.get(subject) and Counter(ga.get(subject, [])) == Counter(gb.get(subject, [])):
            seq_a = [(k[0], k[3]) for k in ga[subject]]
            seq_b = [(k[0], k[3]) for k in gb[subject]]
            out.append(
                f"audit events of {subject[0]}:{subject[1]} are in another order:\n"
                f"  one by one: {seq_a}\n  batch:      {seq_b}"
            )
            shown += 1
            if shown >= max_items:
                break
    return out


def _compare(one_by_one: dict[str, Any], batched: dict[str, Any]) -> list[str]:
    problems = []
    for label, snap in (("one by one", one_by_one), ("batch", batched)):
        if not snap["verified"].ok:
            problems.append(f"audit.verify failed after the {label} run: {snap['verified']}")
    problems += _table_differences(one_by_one["tables"], batched["tables"])
    if one_by_one["head_seq"] != batched["head_seq"]:
        problems.append(f"audit_head.seq: {one_by_one['head_seq']} one by one, {batched['head_seq']} in a batch")
    problems += _event_differences(one_by_one["events"], batched["events"])
    return problems


def _result_differences(labels: list[str], a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[str]:
    if len(a) != len(b):
        return [f"{len(a)} results one by one, {len(b)} from the batch"]
    return [
        f"result {i} ({labels[i]}): one by one {ra}, batch {rb}"
        for i, (ra, rb) in enumerate(zip(a, b, strict=True))
        if ra != rb
    ]


def _run(
    database: Database,
    submit: Callable[..., list[Any]],
    batch: Any,
    scenario: list[tuple[str, Actor, NoticeIn, str | None]],
    *,
    together: bool | int,
) -> list[dict[str, Any]]:
    """Submit the scenario one notice per transaction (`together=False`), all in one transaction
    (`True`), or in consecutive batches of `together` notices each."""
    catalogue = default_catalogue()
    subs = _submissions(batch, scenario)
    size = len(subs) if together is True else 1 if together is False else together
    values = []
    for start in range(0, len(subs), size):
        chunk = subs[start : start + size]
        with database.unit_of_work() as s:
            got = list(submit(s, chunk, catalogue=catalogue, rules=DEFAULT_RULES, engine=None))
            assert len(got) == len(chunk), f"submit_notices of {len(chunk)} submissions returned {len(got)} results"
            values += [_result_values(r) for r in got]
    return values


def _fail_with(problems: list[str]) -> None:
    if problems:
        pytest.fail(f"{len(problems)} difference(s):\n\n" + "\n\n".join(problems), pytrace=False)


# -- the tests ---------------------------------------------------------------------------------


def test_X1_X2_X4_DSA1_DSA7_TID1_a_batch_stores_exactly_what_one_by_one_stores(
    fresh_database, fixed_codes: _Codes
) -> None:
    """REQ X-1, X-2, X-4, DSA-1, DSA-6, DSA-7, TID-1: N notices in one transaction give the same rows
    (all columns, ids included), the same audit events, and the same per-notice results as the
    same N notices each in its own transaction."""
    first = fresh_database("one_by_one")
    who = _setup(first)
    scenario = _scenario(who)
    results_a = _run(first, batch.submit_notices, batch, scenario, together=False)
    snap_a = _snapshot(first)

    fixed_codes.reset()
    second = fresh_database("batched")
    assert _setup(second) == who
    results_b = _run(second, batch.submit_notices, batch, scenario, together=True)
    snap_b = _snapshot(second)

    # The scenario does what it means to (so that equality is not the equality of two empty runs).
    tables = snap_a["tables"]
    states = Counter(n["state"] for n in tables["notices"])
    assert states["not_processed"] == 2 and states["incomplete"] == 1 and states["received"] == len(scenario) - 3
    assert any(a["kind"] == "restrict_distribution" and a["interim"] for a in tables["enforcement_actions"])
    assert tables["statements_of_reasons"] and tables["outbound_messages"] and tables["jobs"]
    assert any(c["trusted_flagger_in_field"] for c in tables["cases"])

    labels = [label for label, *_ in scenario]
    _fail_with(_result_differences(labels, results_a, results_b) + _compare(snap_a, snap_b))


@pytest.mark.parametrize("size", [7])
def test_batches_that_split_a_content_s_reports_store_what_one_by_one_stores(
    fresh_database, fixed_codes: _Codes, size: int
) -> None:
    """REQ X-2, X-4, DSA-1: consecutive batches, whose boundaries fall between reports of the same
    content, mix both paths of a batch (cases and tracks loaded from earlier batches, and opened in
    this one): still the same stored state as one by one."""
    first = fresh_database("one_by_one")
    who = _setup(first)
    scenario = _scenario(who)
    results_a = _run(first, batch.submit_notices, batch, scenario, together=False)
    snap_a = _snapshot(first)

    fixed_codes.reset()
    second = fresh_database("chunked")
    _setup(second)
    results_b = _run(second, batch.submit_notices, batch, scenario, together=size)
    snap_b = _snapshot(second)

    labels = [label for label, *_ in scenario]
    _fail_with(_result_differences(labels, results_a, results_b) + _compare(snap_a, snap_b))


def test_DSA1_a_retried_idempotency_key_is_filed_once_whether_batched_or_not(
    fresh_database, fixed_codes: _Codes
) -> None:
    """REQ DSA-1 (nothing dropped, nothing doubled): a platform retrying a notice after a lost
    answer sends the same Idempotency-Key again and gets the first receipt; the same key from
    another submitter is another notice. One by one, or the first attempts in one batch and the
    retry in the next (a batch never holds the same key twice), the stored state is the same."""

    def scenario(who: Who) -> list[tuple[str, Actor, NoticeIn, str | None]]:
        body = NoticeIn(
            policy_id="harassment",
            explanation="threats",
            reporter_id="rep-1",
            items=[_item("p-77", account_id="acct-z")],
        )
        return [
            ("first attempt", who.platform, body, "report-123"),
            ("same key, other submitter", who.hotline, body, "report-123"),
            ("another key", who.platform, body, "report-124"),
            ("retry", who.platform, body, "report-123"),
        ]

    first = fresh_database("one_by_one")
    who = _setup(first)
    results_a = _run(first, batch.submit_notices, batch, scenario(who), together=False)
    snap_a = _snapshot(first)
    retry, original = ({k: v for k, v in r.items() if k != "replayed"} for r in (results_a[3], results_a[0]))
    assert retry == original and results_a[3].get("replayed", True)
    assert results_a[1]["notice_id"] != results_a[0]["notice_id"]
    assert len(snap_a["tables"]["notices"]) == 3

    fixed_codes.reset()
    second = fresh_database("batched")
    _setup(second)
    results_b = _run(second, batch.submit_notices, batch, scenario(who)[:3], together=True)
    results_b += _run(second, batch.submit_notices, batch, scenario(who)[3:], together=True)
    snap_b = _snapshot(second)

    labels = [label for label, *_ in scenario(who)]
    _fail_with(_result_differences(labels, results_a, results_b) + _compare(snap_a, snap_b))
