"""The transparency report (REQ DSA-8, EUI-1): every figure recomputed from the raw rows, in plain
Python, matches the report; the formats; the CLI and API; period boundaries; the public set."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from staydown.appeals.models import Appeal, OutOfCourtDispute
from staydown.audit.models import AuditEvent
from staydown.cases.models import Case, Decision, LegalTrack
from staydown.cli import app
from staydown.clock import FrozenClock
from staydown.db import Database
from staydown.enforcement.models import EnforcementAction
from staydown.intake.models import Notice, NoticeItem, TrustedFlagger
from staydown.policies import default_catalogue
from staydown.staff.models import StaffUser
from staydown.subjects.models import PlatformAccount, PlatformContent
from staydown.transparency import figures as fx
from staydown.transparency.consistency import ConsistencyCheck, DecisionException
from staydown.transparency.export import to_csv, to_html, to_json
from staydown.transparency.models import StatementOfReasons
from staydown.transparency.report import build_report
from tests.helpers import auth, make_key
from tests.imagegen import jpeg
from tests.transparency.scenario import END, START, Week, build_week, notice
from tests.transparency.test_suppression import _subtractions

CATALOGUE = default_catalogue()


@pytest.fixture
def week(database: Database, clock: FrozenClock) -> Week:
    with database.unit_of_work() as db:
        return build_week(db, clock, CATALOGUE)


def _report(database: Database, start: datetime = START, end: datetime = END, **kw: Any):
    with database.unit_of_work(write=False) as db:
        return build_report(db, start=start, end=end, catalogue=CATALOGUE, **kw)


# -- the independent recomputation ----------------------------------------------------------------

SOURCE = {
    "user_report": "notice",
    "public_report": "notice",
    "dsa_notice": "notice",
    "take_it_down": "notice",
    "trusted_flagger": "trusted_flagger",
    "law_enforcement": "authority",
    "authority_order": "authority",
    "terrorist_order": "authority",
    "detection": "own_initiative",
}
ORDER = ["authority", "trusted_flagger", "notice", "own_initiative"]


def _in(t: datetime | None, start: datetime = START, end: datetime = END) -> bool:
    return t is not None and start <= t < end


def _all(db: Any, model: Any) -> list[Any]:
    return list(db.execute(sa.select(model)).scalars())


def _sorted(counter: dict[str, Any]) -> dict[str, Any]:
    return dict(sorted(counter.items()))


def _hours_stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "median_hours": None, "p90_hours": None}
    ordered = sorted(values)
    return {
        "count": len(values),
        "median_hours": round(statistics.median(values), 2),
        "p90_hours": round(ordered[math.ceil(len(ordered) * 9 / 10) - 1], 2),
    }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def recompute(db: Any, as_of: datetime, threshold: int = 100_000) -> dict[str, Any]:
    notices, items, actions = _all(db, Notice), _all(db, NoticeItem), _all(db, EnforcementAction)
    decisions, appeals, tracks = _all(db, Decision), _all(db, Appeal), _all(db, LegalTrack)
    flaggers = {f.id: f.name for f in _all(db, TrustedFlagger)}
    by_id = {n.id: n for n in notices}
    out: dict[str, Any] = {}

    period_notices = [n for n in notices if _in(n.received_at)]
    out["notices"] = {
        "total": len(period_notices),
        "by_kind": _sorted(Counter(n.kind for n in period_notices)),
        "by_source": _sorted(Counter(SOURCE[n.kind] for n in period_notices)),
        "by_category": _sorted(Counter(n.dsa_category or "unspecified" for n in period_notices)),
        "by_reporter_kind": _sorted(Counter(n.reporter_kind for n in period_notices)),
        "trusted_flaggers": _sorted(
            Counter(flaggers[n.trusted_flagger_id] for n in period_notices if n.trusted_flagger_id)
        ),
        "not_processed": sum(1 for n in period_notices if n.state == "not_processed"),
    }

    case_kinds: dict[int, set[str]] = defaultdict(set)
    receipts: dict[int, datetime] = {}
    for item in items:
        if item.case_id is None:
            continue
        n = by_id[item.notice_id]
        case_kinds[item.case_id].add(SOURCE[n.kind])
        receipts[item.case_id] = min(receipts.get(item.case_id, n.received_at), n.received_at)
    source = {c: next(s for s in ORDER if s in kinds) for c, kinds in case_kinds.items()}

    stated = {st.action_id: st.decision_ground for st in _all(db, StatementOfReasons)}

    def ground_of(a: EnforcementAction) -> str:
        if a.id in stated:
            return {"illegal_content": "illegal_content", "incompatible_content": "terms_of_service"}[stated[a.id]]
        return CATALOGUE.get(a.policy_ref.split("@")[0]).ground[0].type if a.policy_ref else "unspecified"

    restrictive = [a for a in actions if not a.interim and a.kind not in ("restore", "restore_account")]
    acted = [a for a in restrictive if _in(a.created_at)]
    by_ground_kind: dict[str, Counter] = defaultdict(Counter)
    for a in acted:
        by_ground_kind[ground_of(a)][a.kind] += 1
    out["actions"] = {
        "total": len(acted),
        "by_ground": _sorted(Counter(ground_of(a) for a in acted)),
        "by_kind": _sorted(Counter(a.kind for a in acted)),
        "by_target": _sorted(Counter(a.target for a in acted)),
        "by_source": _sorted(Counter(source.get(a.case_id, "own_initiative") for a in acted)),
        "by_ground_kind": {g: _sorted(c) for g, c in sorted(by_ground_kind.items())},
        "interim": sum(1 for a in actions if a.interim and _in(a.created_at)),
        "restorations": sum(1 for a in actions if a.kind in ("restore", "restore_account") and _in(a.created_at)),
    }

    final = [
        d
        for d in decisions
        if _in(d.decided_at)
        and d.state in ("effective", "upheld", "overturned")
        and d.outcome in ("violates", "does_not_violate")
    ]
    out["automation"] = {
        "action_detection": {
            "automated": sum(a.automated_detection for a in acted),
            "human": sum(not a.automated_detection for a in acted),
        },
        "action_decision": {
            "automated": sum(a.automated_decision for a in acted),
            "human": sum(not a.automated_decision for a in acted),
        },
        "decisions": {"automated": sum(d.automated for d in final), "human": sum(not d.automated for d in final)},
    }

    first_action: dict[int, datetime] = {}
    for a in restrictive:
        if a.case_id is not None:
            first_action[a.case_id] = min(first_action.get(a.case_id, a.created_at), a.created_at)
    waits = {c: (t - receipts[c]).total_seconds() / 3600 for c, t in first_action.items() if _in(t) and c in receipts}
    per_source: dict[str, list[float]] = defaultdict(list)
    for c, h in sorted(waits.items()):
        per_source[source.get(c, "own_initiative")].append(h)
    out["time_to_action"] = {
        **_hours_stats(list(waits.values())),
        "by_source": {s: _hours_stats(v) for s, v in sorted(per_source.items())},
    }
    out["time_to_decision"] = _hours_stats(
        [
            (c.decided_at - receipts[c.id]).total_seconds() / 3600
            for c in _all(db, Case)
            if _in(c.decided_at) and c.id in receipts
        ]
    )

    track_figures: dict[str, Counter] = defaultdict(Counter)
    for t in tracks:
        if not _in(t.received_at):
            continue
        if t.state == "met":
            status = "met_late" if t.met_at > t.due_at else "met_on_time"
        elif t.state in ("waiting", "not_applicable"):
            status = t.state
        else:
            status = "overdue" if t.due_at <= as_of else "open"
        track_figures[t.kind][status] += 1
        track_figures[t.kind]["opened"] += 1
    statuses = ["met_on_time", "met_late", "overdue", "open", "waiting", "not_applicable"]
    out["legal_tracks"] = {
        k: {
            "opened": f["opened"],
            **{s: f[s] for s in statuses},
            "met": f["met_on_time"] + f["met_late"],
            "missed": f["met_late"] + f["overdue"],
        }
        for k, f in sorted(track_figures.items())
    }

    received = [a for a in appeals if _in(a.received_at)]
    decided = [a for a in appeals if _in(a.decided_at) and a.outcome]
    disputes = _all(db, OutOfCourtDispute)
    disputes_decided = [d for d in disputes if _in(d.decided_at) and d.outcome]
    outcomes = Counter(a.outcome for a in decided)
    out["appeals"] = {
        "received": len(received),
        "by_basis": _sorted(Counter(a.basis for a in received)),
        "by_appellant_kind": _sorted(Counter(a.appellant_kind for a in received)),
        "expedited": sum(a.expedited for a in received),
        "decided": len(decided),
        "by_outcome": _sorted(outcomes),
        "time_to_decide": _hours_stats([(a.decided_at - a.received_at).total_seconds() / 3600 for a in decided]),
        "reversal_rate": _ratio(outcomes["reversed"], len(decided)),
        "modification_rate": _ratio(outcomes["modified"], len(decided)),
        "out_of_court": {
            "opened": sum(1 for d in disputes if _in(d.opened_at)),
            "decided": len(disputes_decided),
            "by_outcome": _sorted(Counter(d.outcome for d in disputes_decided)),
            "implemented": sum(1 for d in disputes_decided if d.implemented),
            "implementation_rate": _ratio(sum(1 for d in disputes_decided if d.implemented), len(disputes_decided)),
        },
    }

    measures = [a for a in acted if a.kind in ("warn", "suspend", "terminate")]
    by_policy: dict[str, dict[str, int]] = {}
    for a in measures:
        row = by_policy.setdefault(a.policy_ref.split("@")[0], {"warn": 0, "suspend": 0, "terminate": 0})
        row[a.kind] += 1
    events = [e for e in _all(db, AuditEvent) if _in(e.created_at)]
    out["suspensions"] = {
        "accounts": {k: sum(1 for a in measures if a.kind == k) for k in ("warn", "suspend", "terminate")}
        | {"by_policy": _sorted(by_policy)},
        "notifiers": {
            "warned": sum(1 for e in events if e.tag == "intake:notifier:warn"),
            "suspended": sum(1 for e in events if e.tag == "intake:notifier:suspend"),
            "notices_not_processed": out["notices"]["not_processed"],
        },
    }

    reversed_decisions = {a.decision_id for a in appeals if a.outcome == "reversed"}
    reversed_cases = {a.case_id for a in appeals if a.outcome == "reversed"}
    took_effect = sorted(
        (d for d in decisions if d.state in ("effective", "upheld") and d.outcome in ("violates", "does_not_violate")),
        key=lambda d: d.id,
    )
    review: dict[int, str] = {}
    for d in took_effect:
        review.setdefault(d.case_id, d.outcome)
    per_bank: dict[str, Counter] = defaultdict(Counter)
    per_signal: dict[str, Counter] = defaultdict(Counter)
    for n in period_notices:
        if n.kind != "detection":
            continue
        best = n.details["matches"][0]
        for table, key in ((per_bank, best["bank"]), (per_signal, best["signal_type"])):
            f = table[key]
            f["detections"] += 1
            outcome = review.get(n.case_id)
            if outcome:
                f["decided"] += 1
                f["confirmed" if outcome == "violates" else "rejected_on_review"] += 1
                f["reversed_on_appeal"] += outcome == "violates" and n.case_id in reversed_cases

    def accuracy(f: Counter) -> dict[str, Any]:
        keys = ["detections", "decided", "confirmed", "rejected_on_review", "reversed_on_appeal"]
        return {
            **{k: int(f[k]) for k in keys},
            "review_reversal_rate": _ratio(f["rejected_on_review"], f["decided"]),
            "appeal_reversal_rate": _ratio(f["reversed_on_appeal"], f["confirmed"]),
        }

    automated = [d for d in final if d.automated]
    auto_rev = sum(d.id in reversed_decisions for d in automated)
    auto_over = sum(d.state == "overturned" for d in automated)
    out["automated_means"] = {
        "by_bank": {k: accuracy(v) for k, v in sorted(per_bank.items())},
        "by_signal_type": {k: accuracy(v) for k, v in sorted(per_signal.items())},
        "automated_decisions": {
            "decided": len(automated),
            "reversed_on_appeal": auto_rev,
            "overturned_at_second_review": auto_over,
            "reversal_rate": _ratio(auto_rev + auto_over, len(automated)),
        },
    }

    names = {f"staff:{u.id}": u.username for u in _all(db, StaffUser)}

    def tally(group: list[Decision]) -> dict[str, Any]:
        rev = sum(d.id in reversed_decisions for d in group)
        over = sum(d.state == "overturned" for d in group)
        return {
            "decided": len(group),
            "violates": sum(d.outcome == "violates" for d in group),
            "reversed_on_appeal": rev,
            "overturned_at_second_review": over,
            "reversal_rate": _ratio(rev + over, len(group)),
        }

    def grouped(key: Any) -> dict[str, Any]:
        groups: dict[str, list[Decision]] = defaultdict(list)
        for d in final:
            groups[key(d)].append(d)
        return {k: tally(v) for k, v in sorted(groups.items())}

    cases = {c.id: c for c in _all(db, Case)}
    contents = {c.id: c for c in _all(db, PlatformContent)}
    accounts = {a.id: a for a in _all(db, PlatformAccount)}

    def high(case_id: int) -> bool:
        case = cases[case_id]
        content = contents.get(case.content_id)
        account = accounts.get(content.account_id) if content and content.account_id else None
        followers = int((account.meta or {}).get("followers", 0)) if account else 0
        return (case.reach or 0) >= threshold or followers >= threshold

    final_ids = {d.id: d for d in decisions}
    checks = [c for c in _all(db, ConsistencyCheck) if _in(final_ids[c.decision_id].decided_at)]

    def agreement(group: list[ConsistencyCheck]) -> dict[str, Any]:
        done = [c for c in group if c.state == "done"]
        agreed = sum(bool(c.agree) for c in done)
        return {
            "sampled": len(group),
            "pending": len(group) - len(done),
            "completed": len(done),
            "agreed": agreed,
            "agreement_rate": _ratio(agreed, len(done)),
        }

    per_policy_checks: dict[str, list[ConsistencyCheck]] = defaultdict(list)
    for c in checks:
        per_policy_checks[final_ids[c.decision_id].policy_ref.split("@")[0]].append(c)
    exceptions = sorted((e for e in _all(db, DecisionException) if _in(e.recorded_at)), key=lambda e: e.id)
    excepted = {e.decision_id for e in _all(db, DecisionException)}
    deviations = [
        d.id
        for d in final
        if d.outcome == "violates"
        and d.id not in excepted
        and set(d.actions) != set(CATALOGUE.get(d.policy_ref.split("@")[0]).default_actions)
    ]
    out["consistency"] = {
        "total": tally(final),
        "per_policy": grouped(lambda d: d.policy_ref.split("@")[0]),
        "per_reviewer": grouped(lambda d: names.get(d.reviewer, d.reviewer)),
        "agreement": {
            **agreement(checks),
            "sample_rate": 0.05,
            "per_policy": {k: agreement(v) for k, v in sorted(per_policy_checks.items())},
        },
        "high_reach": tally([d for d in final if high(d.case_id)]),
        "other_accounts": tally([d for d in final if not high(d.case_id)]),
        "exceptions_by_kind": _sorted(Counter(e.kind for e in exceptions)),
        "exceptions": [
            {
                "decision_id": e.decision_id,
                "case_id": e.case_id,
                "kind": e.kind,
                "policy": final_ids[e.decision_id].policy_ref.split("@")[0],
                "reasons": e.reasons,
                "recorded_at": e.recorded_at.isoformat().replace("+00:00", "Z"),
            }
            for e in exceptions
        ],
        "unrecorded_deviation_count": len(deviations),
        "unrecorded_deviations": deviations,
    }
    return out


# -- tests ----------------------------------------------------------------------------------------


def test_dsa8_every_figure_recomputed_from_raw_rows_matches(database: Database, week: Week) -> None:
    """REQ DSA-8, EUI-1: each section of the report equals the same figure computed independently,
    in plain Python, from the raw rows of notices, actions, decisions, tracks, appeals and events."""
    report = _report(database)
    with database.unit_of_work(write=False) as db:
        expected = recompute(db, report.generated_at)
    assert set(report.figures) == set(expected)
    for section, figures in expected.items():
        assert report.figures[section] == figures, section


def test_dsa8_the_week_reads_as_it_happened(database: Database, week: Week) -> None:
    """REQ DSA-8, DSA-7: figures a person can check against the story of the week: notices by
    source with the trusted flagger apart, the Art. 23 measures, deadlines met late and missed,
    appeals reversed and upheld, accuracy per bank and signal type, and the consistency figures."""
    f = _report(database).figures
    n = f["notices"]
    assert n["by_source"]["trusted_flagger"] == 2 and n["trusted_flaggers"] == {"Hotline e.V.": 2}
    assert n["by_source"]["own_initiative"] == 4 and n["not_processed"] == 1
    assert n["total"] == sum(n["by_kind"].values())  # nothing from before or after the period
    assert f["actions"]["by_ground"]["illegal_content"] >= 2 and f["actions"]["by_ground"]["terms_of_service"] >= 3
    assert f["suspensions"]["accounts"]["by_policy"]["harassment"]["suspend"] == 1
    assert f["suspensions"]["notifiers"] == {"warned": 1, "suspended": 1, "notices_not_processed": 1}
    tid = f["legal_tracks"]["take_it_down"]
    assert tid["met_late"] == 1 and tid["overdue"] >= 1 and tid["met_on_time"] == 0
    appeals = f["appeals"]
    assert appeals["by_outcome"] == {"reversed": 2, "upheld": 1} and appeals["reversal_rate"] == 0.6667
    assert appeals["time_to_decide"] == {"count": 3, "median_hours": 20.0, "p90_hours": 30.0}
    assert appeals["out_of_court"]["implemented"] == 1
    banks = f["automated_means"]["by_bank"]
    assert banks["extremism-hashes"] == {
        "detections": 2,
        "decided": 2,
        "confirmed": 1,
        "rejected_on_review": 1,
        "reversed_on_appeal": 1,
        "review_reversal_rate": 0.5,
        "appeal_reversal_rate": 1.0,
    }
    assert banks["partner-list"]["detections"] == 2 and banks["partner-list"]["decided"] == 1
    assert f["automated_means"]["by_signal_type"]["md5"]["rejected_on_review"] == 1
    c = f["consistency"]
    assert c["high_reach"]["decided"] == 3 and c["high_reach"]["violates"] == 3
    assert c["per_policy"]["ncii"]["overturned_at_second_review"] == 1
    assert c["per_reviewer"]["system:staydown"]["reversed_on_appeal"] == 1
    assert c["agreement"]["completed"] == 2 and c["agreement"]["agreed"] == 1
    assert c["exceptions_by_kind"] == {"measures_differ": 1}
    assert c["exceptions"][0]["reasons"].startswith("first offence") and c["exceptions"][0]["policy"] == "hate"
    assert c["unrecorded_deviations"] == [week.decisions["hate-2"]]


def test_dsa8_period_start_inclusive_end_exclusive_utc(database: Database, clock: FrozenClock) -> None:
    """REQ DSA-8: a row at the start instant is in the period; a row at the end instant is not."""
    t0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    with database.unit_of_work() as db:
        for at, content in ((t0 - timedelta(microseconds=1), "a"), (t0, "b"), (t0 + timedelta(hours=1), "c")):
            clock.set(at)
            notice(
                db, CATALOGUE, kind="user_report", policy_id="spam", explanation="spam", items=[{"content_id": content}]
            )
    report = _report(database, t0, t0 + timedelta(hours=1))
    assert report.figures["notices"]["total"] == 1
    assert _report(database, t0, t0 + timedelta(hours=1, microseconds=1)).figures["notices"]["total"] == 2
    cest = timezone(timedelta(hours=2))  # the same instants written in another zone read as UTC
    shifted = _report(database, t0.astimezone(cest), (t0 + timedelta(hours=1)).astimezone(cest))
    assert shifted.figures["notices"]["total"] == 1
    assert shifted.to_dict()["period"] == {"start": "2026-06-01T12:00:00Z", "end": "2026-06-01T13:00:00Z"}
    with pytest.raises(Exception, match="UTC"):
        _report(database, t0.replace(tzinfo=None), t0 + timedelta(hours=1))
    with pytest.raises(Exception, match="after its start"):
        _report(database, t0, t0)


def test_dsa8_empty_period_has_every_section_with_zeros(database: Database) -> None:
    """REQ DSA-8: a period with nothing in it still gives the full, machine-readable structure."""
    report = _report(database)
    body = json.loads(to_json(report))
    assert body["schema"] == "staydown.transparency_report/1"
    assert body["period"] == {"start": "2026-06-01T00:00:00Z", "end": "2026-06-08T00:00:00Z"}
    assert body["notices"]["total"] == 0 and body["actions"]["total"] == 0
    assert body["time_to_action"]["median_hours"] is None and body["appeals"]["reversal_rate"] is None
    assert body["consistency"]["total"]["decided"] == 0 and body["consistency"]["exceptions"] == []
    html = to_html(report)
    assert "0 notices received" in html
    assert set(re.findall(r'class="chart-bar"[^>]* width="(\d+)"', html)) <= {"0"}  # no bar drawn for nothing


def test_dsa8_json_csv_and_html_carry_the_same_figures(database: Database, week: Week) -> None:
    """REQ DSA-8 (machine-readable): JSON keys are stable, CSV is long format with one row per
    figure, HTML draws server-rendered SVG bars with no inline style."""
    report = _report(database)
    body = json.loads(to_json(report))
    assert list(body)[:4] == ["schema", "period", "generated_at", "parameters"]
    rows = list(csv.reader(io.StringIO(to_csv(report))))
    assert rows[0] == ["section", "dimension", "value"]
    table = {(s, d): v for s, d, v in rows[1:]}
    assert table[("notices", "by_source/trusted_flagger")] == "2"
    assert table[("appeals", "reversal_rate")] == "0.6667"
    assert table[("consistency", "exceptions/0/kind")] == "measures_differ"
    assert table[("appeals", "modification_rate")] == "0.0"
    html = to_html(report)
    assert "<svg" in html and 'class="chart-bar"' in html and "style=" not in html and "<script" not in html
    assert "Hotline e.V." in html and "first offence of a satirical account" in html
    served = to_html(report, standalone=False)
    assert "<style" not in served and 'href="/static/staydown.css"' in served


def test_dsa8_public_figures_suppress_small_counts(database: Database, week: Week) -> None:
    """REQ DSA-8: the public set has aggregates only: counts below the threshold read "< 5",
    rates resting on fewer than 5 are withheld, nothing per reviewer, no exception reasons."""
    public = _report(database).public()
    assert public["parameters"]["min_count"] == 5
    assert public["notices"]["trusted_flaggers"] == {"Hotline e.V.": "< 5"}
    assert public["notices"]["total"] >= 5 and isinstance(public["notices"]["total"], int)
    assert public["appeals"]["decided"] == "< 5" and public["appeals"]["reversal_rate"] is None
    assert public["appeals"]["time_to_decide"]["median_hours"] is None
    assert "per_reviewer" not in public["consistency"] and "exceptions" not in public["consistency"]
    assert "unrecorded_deviations" not in public["consistency"]
    # 19 decisions, but fewer than 5 reversed: the rate would give the hidden count back (19 x rate).
    assert public["consistency"]["total"]["reversed_on_appeal"] == "< 5"
    assert public["consistency"]["total"]["reversal_rate"] is None
    assert public["legal_tracks"]["take_it_down"]["opened"] == "< 5"
    assert public["suspensions"]["accounts"]["terminate"] == 0  # zero identifies nobody
    assert "first offence" not in json.dumps(public) and "mo2" not in json.dumps(public)
    html = to_html(public, standalone=False)
    assert "&lt; 5" in html and "Per reviewer" not in html and "first offence" not in html
    assert 'Counts below 5 are shown as "&lt; 5"' in html


def test_dsa8_the_published_week_survives_every_subtraction(database: Database, week: Week) -> None:
    """REQ DSA-8: in the public set of a real week, no sum gives back a count shown as "< 5"
    (tests/transparency/test_suppression.py tries the same on small tables exhaustively)."""

    report = _report(database)
    public = report.public()
    assert _subtractions(public, report.figures) == []
    hidden = [p for t, ps in fx.relations(report.figures) for p in (t, *ps) if isinstance(fx._get(public, p), str)]
    assert hidden  # the week has small counts: the check checked something


def test_dsa8_cli_report_end_to_end(
    database_url: str,
    database: Database,
    week: Week,
    tmp_path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """REQ DSA-8: `staydown transparency report --from --to --format` in each format."""

    monkeypatch.setenv("STAYDOWN_DATABASE_URL", database_url)
    monkeypatch.setenv("STAYDOWN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("STAYDOWN_ENV", "test")
    runner = CliRunner()
    r = runner.invoke(app, ["transparency", "report", "--from", "2026-06-01", "--to", "2026-06-08"])
    assert r.exit_code == 0, r.output
    body = json.loads(r.stdout)
    assert body["notices"]["trusted_flaggers"] == {"Hotline e.V.": 2}
    target = tmp_path / "report.html"
    r = runner.invoke(
        app,
        [
            "transparency",
            "report",
            "--from",
            "2026-06-01",
            "--to",
            "2026-06-08",
            "--format",
            "html",
            "--output",
            str(target),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "<svg" in target.read_text() and "<style>" in target.read_text()
    r = runner.invoke(app, ["transparency", "report", "--from", "2026-06-01", "--to", "2026-06-08", "--format", "csv"])
    assert r.exit_code == 0 and r.stdout.startswith("section,dimension,value")
    r = runner.invoke(app, ["transparency", "report", "--from", "2026-06-08", "--to", "2026-06-01"])
    assert r.exit_code == 1 and "after its start" in r.output
    r = runner.invoke(app, ["transparency", "report", "--from", "June", "--to", "2026-06-01"])
    assert r.exit_code == 2 and "YYYY-MM-DD" in r.output
    r = runner.invoke(app, ["transparency", "report", "--from", "2026-06-01", "--to", "2026-06-08", "--format", "pdf"])
    assert r.exit_code == 2 and "json, csv, html" in r.output


def test_eui1_accuracy_per_bank_and_signal_type_from_real_scans(client, staff, database: Database) -> None:
    """REQ EUI-1, DSA-8: bank matches at scan (POST /v1/match) open detection notices; a person
    confirms one and rejects the other; the report gives each bank and signal type its figures."""

    key = make_key(database, ["banks:read", "banks:write", "scan", "match"])
    r = client.post(
        "/v1/banks",
        headers=auth(key),
        json={
            "name": "gifct-like",
            "source": "tech_coalition",
            "permitted_purpose": "hashes shared for upload screening",
            "policy_id": "violence-glorification",
            "action_on_match": "hold",
        },
    )
    assert r.status_code == 201, r.text
    scan = client.post("/v1/scan", headers=auth(key), files={"file": ("a.jpg", jpeg(7), "image/jpeg")}).json()
    r = client.post(
        "/v1/banks/gifct-like/entries",
        headers=auth(key),
        json={
            "entries": [
                {"signal_type": "pdq", "signal": scan["signals"]["pdq"], "note": "benign stand-in"},
                {"signal_type": "md5", "signal": scan["signals"]["md5"], "note": "benign stand-in"},
            ]
        },
    )
    assert r.json()["added"] == 2
    client.app.state.match_engine.catch_up()
    for content, body in (
        ("up-a", {"pdq": [{"hash": scan["signals"]["pdq"], "quality": 90}]}),
        ("up-b", {"md5": scan["signals"]["md5"]}),
    ):
        r = client.post("/v1/match", headers=auth(key), json={**body, "content": {"id": content}})
        assert r.status_code == 200 and r.json()["verdict"] == "hold", r.text
    with database.unit_of_work(write=False) as db:
        cases = list(db.execute(sa.select(Case.id).order_by(Case.id)).scalars())
    assert len(cases) == 2
    for case_id, outcome in zip(cases, ("violates", "does_not_violate"), strict=True):
        client.post(f"/v1/cases/{case_id}/claim", headers=staff["mo"])
        r = client.post(
            f"/v1/cases/{case_id}/decision",
            headers=staff["mo"],
            json={
                "policy": CATALOGUE.ref("violence-glorification"),
                "outcome": outcome,
                "facts": "looked at the upload",
            },
        )
        assert r.status_code == 200, r.text
    day = datetime(2026, 6, 1, tzinfo=UTC)
    means = _report(database, day, day + timedelta(days=1)).figures["automated_means"]
    assert means["by_bank"] == {
        "gifct-like": {
            "detections": 2,
            "decided": 2,
            "confirmed": 1,
            "rejected_on_review": 1,
            "reversed_on_appeal": 0,
            "review_reversal_rate": 0.5,
            "appeal_reversal_rate": 0.0,
        }
    }
    assert (
        means["by_signal_type"]["pdq"]["confirmed"] == 1 and means["by_signal_type"]["md5"]["rejected_on_review"] == 1
    )


def test_dsa8_the_html_report_reads_in_words(database: Database, week: Week) -> None:
    """The HTML report names every key in words, never an enum (its fit on a phone is checked in
    the browser: tests/web/test_transparency_report_browser.py)."""
    report = to_html(_report(database))
    text = re.sub(r"<[^>]+>", " ", report.split("<body", 1)[1])
    for raw in (
        "STATEMENT_CATEGORY_",
        "trusted_flagger",
        "dsa_notice",
        "take_it_down",
        "met_on_time",
        "own_initiative",
        "illegal_content",
    ):
        assert raw not in text, raw
    assert "Trusted flaggers" in text and "Met on time" in text
