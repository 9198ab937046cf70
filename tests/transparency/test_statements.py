"""Statements of reasons (DSA-2): one for every restriction with every Art. 17(3) element, the
right source and automation flags, never the reporter's identity, rendered in the platform's
languages, delivered with the action, and public by code without personal data."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy import event

from staydown import audit
from staydown.actors import SYSTEM, Actor
from staydown.audit.models import AuditEvent
from staydown.cases.actions import claim_case
from staydown.cases.models import Case
from staydown.db import Database
from staydown.delivery.webhooks import action_event
from staydown.enforcement.actions import apply_action
from staydown.enforcement.models import EnforcementAction
from staydown.errors import NotFound
from staydown.flows.decisions import decide_case, submit_detection
from staydown.intake.actions import submit_notice
from staydown.intake.schemas import NoticeIn
from staydown.matching.matcher import BankMatch
from staydown.policies import default_catalogue
from staydown.settings import Settings
from staydown.staff.permissions import Role, permissions_for_roles
from staydown.subjects.models import PlatformContent
from staydown.subjects.records import ensure_content
from staydown.subjects.schemas import AccountRef, ContentRef
from staydown.transparency.models import StatementOfReasons
from staydown.transparency.report import build_report
from staydown.transparency.statement_settings import StatementSettings, statement_settings, use_statement_settings
from staydown.transparency.statement_views import public_view, statement_by_code, statement_for_action
from staydown.transparency.statements import RESTRICTIONS
from staydown.transparency.tdb import tdb_statement
from tests.conftest import T0
from tests.helpers import auth, make_key, make_staff, sign_in

CATALOGUE = default_catalogue()
ACCOUNT_MEASURES = {"suspend", "terminate"}


def _content(db: Any, n: int = 1, *, kind: str = "image", handle: str = "poster") -> Any:
    return ensure_content(
        db,
        actor=SYSTEM,
        ref=ContentRef(
            id=f"post-{n}",
            kind=kind,
            url=f"https://forum.example/p/{n}",
            account=AccountRef(id=f"user-{n}", handle=handle),
        ),
    )


def _statement(db: Any, action: EnforcementAction) -> StatementOfReasons:
    found = statement_for_action(db, action.id)
    assert found is not None, f"no statement for {action.kind}"
    return found


def _notice(db: Any, **fields: Any) -> Case:
    body = {
        "kind": "public_report",
        "reporter_kind": "user",
        "policy_id": "harassment",
        "explanation": "threats",
        "items": [{"content_id": "post-1", "account_id": "user-1"}],
        **fields,
    }
    receipt = submit_notice(db, actor=SYSTEM, notice=NoticeIn(**body), catalogue=CATALOGUE)
    return receipt.cases[0]


@pytest.mark.parametrize("kind", sorted(RESTRICTIONS))
def test_dsa2_every_restriction_has_a_statement_with_every_element(db: Any, kind: str) -> None:
    content = _content(db)
    target = {"account_id": content.account_id} if kind in ACCOUNT_MEASURES else {"content_id": content.id}
    ends = T0 + timedelta(days=30) if kind in ("suspend", "demonetise") else None
    action = apply_action(
        db,
        actor=SYSTEM,
        kind=kind,
        policy_ref="harassment@2",
        facts="three threatening replies",
        territorial_scope=["DE", "AT"],
        ends_at=ends,
        **target,
    )
    s = _statement(db, action)
    # measure, scope, duration
    assert s.measure == kind and s.target == action.target
    assert s.territorial_scope == ["DE", "AT"] and s.starts_at == T0 and s.ends_at == ends
    # facts and source, automated means
    assert s.facts == "three threatening replies"
    assert s.source == "own_initiative" and s.automated_detection is False and s.automated_decision == "not_automated"
    # ground with explanation: harassment cites its terms first
    assert s.decision_ground == "incompatible_content" and s.contractual_ground and s.contractual_explanation
    assert s.category == "STATEMENT_CATEGORY_CYBER_VIOLENCE" and s.policy_ref == "harassment@2"
    # redress: appeal link and deadline, out-of-court, courts
    assert s.redress["appeal_url"] == f"http://127.0.0.1:8000/appeal?statement={s.code}"
    assert s.appeal_deadline == T0 + timedelta(days=183) and s.issued_at == T0
    assert "Art. 21" in s.redress["out_of_court"] and s.redress["judicial"]
    text = s.rendered["en"]
    for element in (
        s.redress["appeal_url"],
        "2026-12-01",
        "Article 21",
        "court",
        "in AT, DE",
        s.contractual_ground,
        "three threatening replies",
        "our own checks",
        "the decision was taken by a person",
        s.code,
    ):
        assert element in text, element
    if ends is not None:
        assert "until 2026-07-01" in text
    assert s.code.startswith("S-") and len(s.code) == 25 and s.tdb_state == "pending"
    assert s.tdb_puid.startswith("sd-sor-") and s.code not in s.tdb_puid
    tags = [e.data.get("measure") for e in _pending_events(db, "transparency:statement:issue")]
    assert tags == [kind]


def _pending_events(db: Any, tag: str) -> list[Any]:
    return [e for e in audit.pending(db) if e.tag == tag]


@pytest.mark.parametrize("kind", ["warn", "strike", "restore", "restore_account"])
def test_dsa2_warnings_strikes_and_restorations_restrict_nothing(db: Any, kind: str) -> None:
    content = _content(db)
    target = {"content_id": content.id} if kind == "restore" else {"account_id": content.account_id}
    action = apply_action(db, actor=SYSTEM, kind=kind, policy_ref="harassment@2", **target)
    assert statement_for_action(db, action.id) is None
    assert action_event(db, action, "action.applied")["statement"] is None


def test_dsa2_human_decision_on_a_report_is_a_notice_not_automated(db: Any) -> None:
    case = _notice(db)
    staff = _moderator()
    claim_case(db, actor=staff, case=case)
    result = decide_case(
        db,
        actor=staff,
        case=case,
        policy_ref="harassment@2",
        outcome="violates",
        facts="repeated threats",
        actions=["remove"],
        catalogue=CATALOGUE,
    )
    s = _statement(db, result.actions[0])
    assert (s.source, s.automated_detection, s.automated_decision) == ("notice", False, "not_automated")
    assert s.case_id == case.id and s.content_id == result.actions[0].content_id


@pytest.mark.parametrize(
    "kind, source",
    [
        ("trusted_flagger", "trusted_flagger"),
        ("law_enforcement", "other_notification"),
        ("authority_order", "other_notification"),
        ("dsa_notice", "notice"),
    ],
)
def test_dsa2_source_follows_the_notices_of_the_case(db: Any, kind: str, source: str) -> None:
    case = _notice(db, kind=kind)
    content_id = db.execute(sa.select(Case.content_id).where(Case.id == case.id)).scalar_one()
    action = apply_action(
        db,
        actor=SYSTEM,
        kind="remove",
        content_id=content_id,
        case_id=case.id,
        policy_ref="harassment@2",
        facts="confirmed",
    )
    assert _statement(db, action).source == source


def test_dsa2_scan_detection_is_automated_detection_and_its_hold_an_automated_decision(db: Any) -> None:
    _content(db)
    match = BankMatch(
        bank="known",
        bank_id=1,
        entry_id=7,
        signal_type="md5",
        distance=0,
        threshold=0,
        action="hold",
        policy_id="harassment",
        confirmed_material=False,
    )
    submit_detection(
        db,
        content_platform_id="post-1",
        account_platform_id="user-1",
        matches=[match],
        verdict="hold",
        catalogue=CATALOGUE,
    )
    hold = db.execute(
        sa.select(EnforcementAction).where(EnforcementAction.kind == "restrict_distribution")
    ).scalar_one()
    s = _statement(db, hold)
    assert (s.source, s.automated_detection, s.automated_decision) == ("own_initiative", True, "fully")
    assert "the content was detected by automated means" in s.rendered["en"]
    assert "the decision was taken by automated means" in s.rendered["en"]
    # A person then decides the case that detection opened: detected by automation, decided by a person.
    case = db.get_one(Case, hold.case_id)
    staff = _moderator()
    claim_case(db, actor=staff, case=case)
    result = decide_case(
        db,
        actor=staff,
        case=case,
        policy_ref="harassment@2",
        outcome="violates",
        facts="a person confirmed the match",
        actions=["remove"],
        catalogue=CATALOGUE,
    )
    s = _statement(db, result.actions[0])
    assert (s.automated_detection, s.automated_decision) == (True, "not_automated")


def test_dsa2_copies_found_by_a_sweep_are_own_initiative_and_fully_automated(db: Any) -> None:
    content = _content(db, 2)
    action = apply_action(
        db,
        actor=SYSTEM,
        kind="remove",
        content_id=content.id,
        policy_ref="csam@2",
        facts="a copy of an item confirmed in case 1",
        automated_detection=True,
        automated_decision=True,
        details={"copy_of_case": 1, "sweep_id": 1},
    )
    s = _statement(db, action)
    assert (s.source, s.automated_detection, s.automated_decision) == ("own_initiative", True, "fully")
    assert (
        s.decision_ground == "illegal_content"
        and s.legal_ground is not None
        and "18 U.S.C. 2251" in s.legal_ground
        and s.legal_explanation
    )


def test_dsa2_statement_never_discloses_the_reporter(db: Any) -> None:
    case = _notice(
        db,
        contact_name="Maria Reporterin",
        contact_email="maria.r@mail.example",
        reporter_id="reporter-account-77",
        explanation="he keeps threatening me",
    )
    staff = _moderator()
    claim_case(db, actor=staff, case=case)
    result = decide_case(
        db,
        actor=staff,
        case=case,
        policy_ref="harassment@2",
        outcome="violates",
        facts="reported by Maria Reporterin (maria.r@mail.example, reporter-account-77); the replies threaten her",
        actions=["remove"],
        catalogue=CATALOGUE,
    )
    s = _statement(db, result.actions[0])
    everything = json.dumps(
        {"facts": s.facts, "rendered": s.rendered, "redress": s.redress, "details": s.details, "public": public_view(s)}
    )
    for secret in ("Maria", "Reporterin", "maria.r@mail.example", "reporter-account-77"):
        assert secret not in everything, secret
    assert "[the notifier]" in s.facts and "the replies threaten her" in s.facts


def test_dsa2_rendered_per_measure_in_the_platform_languages(db: Any) -> None:
    """REQ DSA-2: the first sentence is the measure's, from the texts of each language; the policy
    (its title and rule, in the language where it has one) is the ground."""
    use_statement_settings(
        db,
        StatementSettings(
            public_base_url="https://safety.example",
            platform_name="Forum",
            languages=("de", "en", "fr"),
            appeal_window=timedelta(days=200),
        ),
    )
    content = _content(db)
    action = apply_action(db, actor=SYSTEM, kind="remove", content_id=content.id, policy_ref="csam@2", facts="f")
    s = _statement(db, action)
    assert s.language == "de" and set(s.rendered) == {"de", "en", "fr"}
    assert s.appeal_deadline == T0 + timedelta(days=200)
    assert s.redress["appeal_url"] == f"https://safety.example/appeal?statement={s.code}"
    assert s.rendered["de"].startswith("Wir haben von Ihnen auf Forum geteilte Inhalte entfernt.")
    assert "Darstellungen sexuellen Kindesmissbrauchs" in s.rendered["de"]  # the policy's German title
    assert "Was wir getan haben: Entfernung des Inhalts." in s.rendered["de"]
    assert "Artikel 21" in s.rendered["de"] and "2026-12-18" in s.rendered["de"]
    assert s.rendered["en"].startswith("We removed content you shared on Forum.")
    # Only content was removed: nothing says an account was closed.
    assert "account" not in s.rendered["en"].split("\n")[0]
    assert s.rendered["fr"].startswith("Nous avons supprimé un contenu")
    assert "Comment la contester" in s.rendered["fr"] and s.redress["appeal_url"] in s.rendered["fr"]


@pytest.mark.parametrize(
    "kind,first",
    [
        ("remove", "We removed content you shared on this platform."),
        ("disable", "We disabled access to content you shared on this platform."),
        ("age_restrict", "We made content you shared on this platform visible to adults only."),
        ("demote", "We reduced how widely content you shared on this platform is shown."),
        ("demonetise", "We stopped payments for content you shared on this platform."),
        ("label", "We added a label to content you shared on this platform."),
        ("suspend", "We suspended your account on this platform."),
        ("terminate", "We closed your account on this platform."),
    ],
)
def test_dsa2_each_measure_says_what_was_done_whatever_the_policy_notice(db: Any, kind: str, first: str) -> None:
    """REQ DSA-2: csam's catalogue notice says "We removed content ... and closed your account";
    a statement's first sentence is its own measure's, whatever the policy's notice says."""
    content = _content(db)
    target = {"account_id": content.account_id} if kind in ACCOUNT_MEASURES else {"content_id": content.id}
    action = apply_action(db, actor=SYSTEM, kind=kind, policy_ref="csam@2", facts="f", **target)
    s = _statement(db, action)
    assert s.rendered["en"].split("\n")[0] == first
    assert public_view(s)["headline"] == first and public_view(s)["state"] == "decided"
    assert "Child sexual abuse material" in s.rendered["en"]  # the ground


def test_dsa2_interim_restriction_says_pending_review_and_names_no_allegation(db: Any) -> None:
    """REQ DSA-2, X-4: the interim restriction's statement says what was done (kept out of
    recommendations, search and monetisation while it is reviewed), that nothing was removed and
    nothing decided; its ground is the terms that allow the precaution, and it does not tell the
    uploader what the report alleges or who made it (docs/decisions.md, 2026-12-07)."""
    case = _notice(
        db,
        policy_id="csam",
        minor_involved=True,
        reporter_kind="parent_or_representative",
        explanation="this is my son, he is 15",
        contact_email="mum@mail.example",
    )
    action = db.execute(
        sa.select(EnforcementAction).where(EnforcementAction.case_id == case.id, EnforcementAction.interim.is_(True))
    ).scalar_one()
    s = _statement(db, action)
    text = s.rendered["en"]
    first = text.split("\n")[0]
    assert first.startswith("We have limited content you shared on this platform while it is reviewed")
    assert "Nothing has been removed, and no one has decided that it breaks a rule." in first
    for word in ("child", "abuse", "minor", "son", "mum", "parent", "notice 1", "removed content"):
        assert not re.search(rf"\b{word}\b", text.lower().replace("nothing has been removed", "")), word
    assert s.contractual_ground is not None
    assert s.contractual_ground.startswith("Terms of service of this platform: restrictions while content is reviewed")
    assert s.legal_ground is None and s.decision_ground == "incompatible_content"
    assert s.category == "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"  # for the anonymous Database only
    view = public_view(s)
    assert view["state"] == "pending_review" and view["policy"] == {"ref": None, "title": None}
    assert view["facts"] == "" and "until a person has reviewed it" in view["measure_text"]
    assert (s.automated_detection, s.automated_decision) == (False, "fully")


def test_dsa2_missing_policy_gets_a_neutral_statement(db: Any) -> None:
    content = _content(db)
    action = apply_action(db, actor=SYSTEM, kind="label", content_id=content.id, facts="")
    s = _statement(db, action)
    assert s.policy_ref is None and s.decision_ground == "incompatible_content"
    assert s.contractual_ground == "Terms of service of this platform" and s.contractual_explanation
    assert "ask us for a review, free of charge, at " + s.redress["appeal_url"] in s.rendered["en"]
    assert s.rendered["en"].startswith("We added a label to content you shared on this platform.")
    assert s.facts.startswith("a label added to the content")


def test_dsa2_settings_reach_statements_issued_through_the_app(app: Any, database: Database) -> None:
    assert app.state.settings.platform_name == "this platform"

    with database.unit_of_work() as db:
        config = statement_settings(db)
    assert config.appeal_window == timedelta(days=app.state.settings.appeal_window_days)
    assert config.catalogue is app.state.catalogue


def test_dsa2_the_webhook_and_the_pull_feed_carry_the_statement(client: Any, database: Database) -> None:
    with database.unit_of_work() as db:
        content = _content(db)
        action = apply_action(
            db, actor=SYSTEM, kind="remove", content_id=content.id, policy_ref="harassment@2", facts="threats"
        )
        body = action_event(db, action, "action.applied")
        code = _statement(db, action).code
    assert body["statement"]["code"] == code
    assert body["statement"]["url"] == f"http://127.0.0.1:8000/statements/{code}"
    assert body["statement"]["appeal_url"].endswith(code) and "threats" in body["statement"]["rendered"]["en"]
    key = make_key(database, ["actions:read"])
    feed = client.get("/v1/actions", headers=auth(key)).json()["actions"]
    assert feed[0]["statement"]["code"] == code


def test_dsa2_public_statement_shows_nothing_personal_and_404s_unknown_codes(client: Any, database: Database) -> None:
    with database.unit_of_work() as db:
        content = ensure_content(
            db,
            actor=SYSTEM,
            ref=ContentRef(
                id="post-8812734",
                kind="image",
                url="https://forum.example/p/8812734",
                account=AccountRef(id="acct-99817", handle="alice_wonder"),
            ),
        )
        action = apply_action(
            db,
            actor=SYSTEM,
            kind="remove",
            content_id=content.id,
            policy_ref="harassment@2",
            facts="alice_wonder (alice@mail.example, 203.0.113.9) posted "
            "https://forum.example/p/8812734 aimed at @bob_target; call +44 20 7946 0958",
        )
        code = _statement(db, action).code
    r = client.get(f"/public/statements/{code.lower()}")
    assert r.status_code == 200, r.text
    body = r.json()
    for secret in ("alice", "8812734", "99817", "203.0.113.9", "forum.example", "bob_target", "7946"):
        assert secret not in r.text.lower(), secret
    assert body["code"] == code and body["measure"] == "remove" and body["redress"]["appeal_url"].endswith(code)
    assert "posted" in body["facts"] and "[redacted]" in body["facts"]
    for key in ("content_id", "account_id", "case_id", "action_id", "tdb"):
        assert key not in body
    assert client.get("/public/statements/S-00000-00000-00000-00000").status_code == 404
    r = client.get("/public/statements/not-a-code")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_statement_by_code_raises_not_found(db: Any) -> None:
    with pytest.raises(NotFound):
        statement_by_code(db, "S-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ")


def test_statements_list_needs_transparency_read_and_a_filter(client: Any, database: Database) -> None:
    with database.unit_of_work() as db:
        content = _content(db)
        apply_action(db, actor=SYSTEM, kind="remove", content_id=content.id, policy_ref="harassment@2", facts="f")
        apply_action(
            db, actor=SYSTEM, kind="suspend", account_id=content.account_id, policy_ref="harassment@2", facts="f"
        )
    assert client.get("/v1/statements?content_id=post-1").status_code == 401
    assert (
        client.get("/v1/statements?content_id=post-1", headers=auth(make_key(database, ["actions:read"]))).status_code
        == 403
    )
    reader = auth(make_key(database, ["transparency:read"]))
    r = client.get("/v1/statements?content_id=post-1", headers=reader)
    assert r.status_code == 200 and [s["measure"] for s in r.json()["statements"]] == ["remove"]
    # A transparency reader that is not a case reader (a platform key, an auditor) gets the
    # public view: no ids, no reviewer's own words, no Transparency Database bookkeeping.
    assert "tdb" not in r.json()["statements"][0] and "case_id" not in r.json()["statements"][0]

    make_staff(database, "lex", "legal")
    r = client.get("/v1/statements?content_id=post-1", headers=sign_in(client, "lex"))
    assert r.json()["statements"][0]["tdb"]["state"] == "pending" and r.json()["statements"][0]["facts"] == "f"
    r = client.get("/v1/statements?account_id=user-1", headers=reader)
    assert [s["measure"] for s in r.json()["statements"]] == ["suspend"]
    r = client.get("/v1/statements", headers=reader)
    assert r.status_code == 422 and "case_id" in r.json()["message"]
    assert client.get("/v1/statements?content_id=nope", headers=reader).status_code == 404
    assert client.get("/v1/statements?case_id=1&limit=501", headers=reader).status_code == 422


def test_a_sweep_sized_transaction_reads_the_case_notices_once(db: Any) -> None:
    """Cheap enough for a sweep: a thousand actions in one transaction, one query of the case."""

    case = _notice(db)
    for n in range(2, 42):
        _content(db, n)
    db.commit()
    case = db.get_one(Case, case.id)
    # As a sweep loads them: selected, each with its account.
    contents = db.execute(sa.select(PlatformContent).where(PlatformContent.platform_id != "post-1")).scalars().all()
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM jobs" not in statement:
            seen.append(statement)

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    after_first = None
    try:
        for content in contents:
            apply_action(
                db,
                actor=SYSTEM,
                kind="remove",
                content_id=content.id,
                case_id=case.id,
                policy_ref="harassment@2",
                facts="copy",
                details={"copy_of_case": case.id},
            )
            after_first = len(seen) if after_first is None else after_first
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # The case's notices (its source, and the identifiers the scrubber knows) are read with the
    # first action; nothing per action after it beyond its own INSERTs.
    assert len(contents) > 2 and len(seen) == after_first, seen
    assert sum("FROM notices" in q for q in seen) <= 2 and len(seen) <= 10, seen
    assert db.scalar(sa.select(sa.func.count()).select_from(StatementOfReasons)) == len(contents)


def test_settings_refuse_the_default_tdb_token_in_production() -> None:
    settings = Settings(env="production", tdb_url="https://tdb.example", secret_key="x" * 40, webhook_secret="y" * 40)
    problems = settings.production_problems()
    assert any("STAYDOWN_TDB_TOKEN" in p for p in problems)
    ok = Settings(env="production", tdb_url="https://tdb.example", tdb_token="t" * 40)
    assert not any("TDB" in p for p in ok.production_problems())
    assert any(
        "STAYDOWN_TDB_URL" in p
        for p in Settings(env="production", tdb_url="http://tdb.example", tdb_token="t" * 40).production_problems()
    )


def test_platform_languages_are_language_tags() -> None:
    assert Settings(platform_languages=["de", "pt-BR"]).platform_languages == ["de", "pt-BR"]
    for bad in ([], ["EN!"], ["english"]):
        with pytest.raises(ValidationError):
            Settings(platform_languages=bad)


def _moderator() -> Any:
    return Actor.staff(1, "mo", permissions_for_roles([Role.moderator.value]))


def test_audit_event_of_a_statement(db: Any) -> None:
    content = _content(db)
    action = apply_action(db, actor=SYSTEM, kind="remove", content_id=content.id, policy_ref="harassment@2", facts="f")
    s = _statement(db, action)
    db.commit()
    ev = db.execute(sa.select(AuditEvent).where(AuditEvent.tag == "transparency:statement:issue")).scalar_one()
    assert ev.subject_type == "statement" and ev.subject_id == str(s.id)
    assert ev.data["action_id"] == action.id and ev.data["source"] == "own_initiative"
    assert s.code not in json.dumps(ev.data)  # the code lets its holder appeal: not in the log


def test_dsa2_dsa8_automation_has_one_source_on_the_action_feed_statement_database_and_report(db: Any) -> None:
    """REQ DSA-2, DSA-8, DSA-9: a hold from a bank match and then a person's removal on that case:
    the action row, the feed and webhook body, the statement, the Transparency Database body and
    the report say the same about automated detection and decision (the feed used to say false
    where the statement said true, and the report "automated 0")."""

    _content(db)
    match = BankMatch(
        bank="known",
        bank_id=1,
        entry_id=7,
        signal_type="pdq",
        distance=4,
        threshold=31,
        action="hold",
        policy_id="harassment",
        confirmed_material=False,
    )
    submit_detection(
        db,
        content_platform_id="post-1",
        account_platform_id="user-1",
        matches=[match],
        verdict="hold",
        catalogue=CATALOGUE,
    )
    hold = db.execute(
        sa.select(EnforcementAction).where(EnforcementAction.kind == "restrict_distribution")
    ).scalar_one()
    staff = _moderator()
    case = db.get_one(Case, hold.case_id)
    claim_case(db, actor=staff, case=case)
    removal = decide_case(
        db,
        actor=staff,
        case=case,
        policy_ref="harassment@2",
        outcome="violates",
        facts="a person looked",
        actions=["remove"],
        catalogue=CATALOGUE,
    ).actions[0]
    for action, expected in ((hold, (True, True)), (removal, (True, False))):
        s = _statement(db, action)
        event = action_event(db, action, "action.applied")
        body = tdb_statement(s)
        assert (action.automated_detection, action.automated_decision) == expected
        assert (event["automated_detection"], event["automated_decision"]) == expected
        assert (s.automated_detection, s.automated_decision == "fully") == expected
        assert (
            body["automated_detection"] == "Yes",
            body["automated_decision"] == "AUTOMATED_DECISION_FULLY",
        ) == expected
    day = datetime(2026, 6, 1, tzinfo=UTC)
    report = build_report(db, start=day, end=day + timedelta(days=1), catalogue=CATALOGUE).figures
    # The report counts measures (not the interim hold): the removal, detected by automated means.
    assert report["automation"]["action_detection"] == {"automated": 1, "human": 0}
    assert report["automation"]["action_decision"] == {"automated": 0, "human": 1}
    assert action_event(db, hold, "action.applied")["facts"] == ""  # an interim note never leaves
