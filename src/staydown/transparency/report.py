"""The transparency report (DSA Art. 15/24, EUI-1) and the consistency figures, for one period.

`build_report(db, start=, end=, catalogue=)` reads the rows of record (notices, cases, legal
tracks, decisions, enforcement actions, appeals, disputes, audit events, consistency checks) and
returns a `TransparencyReport`, whose `figures` is a plain JSON tree with stable keys (the sections
below). Counts are SQL aggregates; durations and percentiles are computed in Python from the
timestamps (see figures.py for why and for the definitions).

The period is [start, end): start inclusive, end exclusive, both UTC. Each row belongs to the
period by one timestamp, named per section. Statuses that can still change (a legal track met
late, an appeal decided later) are read as of `generated_at`, which the report carries.

Sections (keys of `figures`):
- notices: received_at in the period. by_kind, by_source (notice = any person's Art. 16 notice,
  TAKE IT DOWN request or platform user report; trusted_flagger; authority = law enforcement,
  orders; own_initiative = a bank match at scan), by_category (DSA statement category),
  by_reporter_kind; trusted_flaggers by name; not_processed (notifier suspended, Art. 23).
- actions: enforcement actions created in the period, not interim (interim restrictions pending
  review are counted apart) and not restorations. by_ground (illegal_content or
  terms_of_service: the statement of reasons' decision ground, else the policy's first ground), by_kind,
  by_target, by_source (of the case: authority > trusted_flagger > notice > own_initiative), by_ground_kind.
- automation: the same actions by automated detection and automated decision; decisions taken in
  the period (final outcome, see consistency) by automated or human.
- time_to_action: per case whose first (non-interim) action falls in the period, hours from the
  first notice's receipt to that action. time_to_decision: per case decided in the period, hours
  from the first receipt to the decision.
- legal_tracks: per kind, tracks received in the period: met_on_time, met_late, overdue (open
  and past due), open (not yet due), waiting (clock not started), not_applicable; met and missed
  (met_late + overdue).
- appeals: received in the period by basis, appellant_kind, expedited; decided in the period by
  outcome, with time_to_decide, reversal_rate (reversed / decided) and modification_rate; out-of-
  court disputes opened in the period, their outcomes and implementation (decided in the period).
- suspensions (Art. 23): account measures created in the period (warn, suspend, terminate; a
  suspension only ever follows a prior warning, see enforcement/strikes.py) by policy; notifier
  suspensions (audit events in the period) and notices not processed.
- automated_means: detections (bank matches at scan that opened a notice, received in the
  period) per bank and per signal type of the best match: decided, confirmed, rejected_on_review
  (a person found no violation), reversed_on_appeal, review_reversal_rate, appeal_reversal_rate;
  and automated decisions with their reversals.
- consistency (item 5): decisions taken in the period (violates / does not violate, not pending,
  not escalations) per policy and per reviewer: decided, reversed_on_appeal, overturned_at_second
  _review, reversal_rate; agreement on sampled second opinions; high_reach vs other_accounts;
  exceptions with their recorded reasons, and decisions that departed from the policy's default
  measures with no exception recorded (unrecorded_deviations).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown.appeals.models import Appeal, AppealOutcome, OutOfCourtDispute
from staydown.audit.models import AuditEvent
from staydown.audit.tags import AuditTag
from staydown.cases.models import Case, Decision, DecisionState, LegalTrack, Outcome, TrackState
from staydown.db import now
from staydown.enforcement.models import EnforcementAction
from staydown.errors import InvalidInput
from staydown.intake.models import Notice, NoticeItem, NoticeKind, NoticeState, TrustedFlagger
from staydown.policies.catalogue import Catalogue
from staydown.staff.models import StaffUser
from staydown.subjects.models import PlatformAccount, PlatformContent
from staydown.transparency import figures as fx
from staydown.transparency.consistency import CheckState, ConsistencyCheck, DecisionException
from staydown.transparency.models import StatementOfReasons

SCHEMA = "staydown.transparency_report/1"
MAX_PERIOD_DAYS = 366 * 5
RESTORE_KINDS = ("restore", "restore_account")
# Actions that are requests to the platform (enforcement.actions.REQUEST_KINDS), not measures.
NOT_MEASURES = (*RESTORE_KINDS, "provide_file")
ACCOUNT_MEASURES = ("warn", "suspend", "terminate")
FINAL_DECISION_STATES = (DecisionState.effective.value, DecisionState.upheld.value, DecisionState.overturned.value)
FINAL_OUTCOMES = (Outcome.violates.value, Outcome.does_not_violate.value)
SOURCE_OF_KIND = {
    NoticeKind.user_report.value: "notice",
    NoticeKind.public_report.value: "notice",
    NoticeKind.dsa_notice.value: "notice",
    NoticeKind.take_it_down.value: "notice",
    NoticeKind.trusted_flagger.value: "trusted_flagger",
    NoticeKind.law_enforcement.value: "authority",
    NoticeKind.authority_order.value: "authority",
    NoticeKind.terrorist_order.value: "authority",
    NoticeKind.detection.value: "own_initiative",
}
# A case reported by several kinds of source is counted under the first of these it has.
SOURCE_PRECEDENCE = ("authority", "trusted_flagger", "notice", "own_initiative")
GROUND_OF_STATEMENT = {"illegal_content": "illegal_content", "incompatible_content": "terms_of_service"}
TRACK_STATUSES = ("met_on_time", "met_late", "overdue", "open", "waiting", "not_applicable")


@dataclass(frozen=True)
class ReportParameters:
    """What the figures depend on besides the rows: documented in the report itself."""

    high_reach_threshold: int = 100_000
    consistency_sample_rate: float = 0.05
    public_min_count: int = 5

    @classmethod
    def from_settings(cls, settings: Any) -> ReportParameters:
        if settings is None:
            return cls()
        return cls(
            high_reach_threshold=settings.high_reach_threshold,
            consistency_sample_rate=settings.consistency_sample_rate,
            public_min_count=settings.public_report_min_count,
        )


@dataclass
class TransparencyReport:
    start: datetime
    end: datetime
    generated_at: datetime
    parameters: ReportParameters
    figures: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "period": {"start": fx.iso(self.start), "end": fx.iso(self.end)},
            "generated_at": fx.iso(self.generated_at),
            "parameters": {
                "high_reach_threshold": self.parameters.high_reach_threshold,
                "consistency_sample_rate": self.parameters.consistency_sample_rate,
            },
            **self.figures,
        }

    def public(self) -> dict[str, Any]:
        """Aggregate figures only, small counts suppressed (see figures.suppress)."""
        k = self.parameters.public_min_count
        # Small counts read "< k"; then whatever sum would give one back is withheld as well.
        body = fx.protect(self.figures, fx.suppress(self.figures, k), k)
        return {
            "schema": SCHEMA + "+public",
            "period": {"start": fx.iso(self.start), "end": fx.iso(self.end)},
            "generated_at": fx.iso(self.generated_at),
            "parameters": {
                "min_count": k,
                "high_reach_threshold": self.parameters.high_reach_threshold,
                "consistency_sample_rate": self.parameters.consistency_sample_rate,
            },
            **body,
        }


def period_of_days(start: date, end: date) -> tuple[datetime, datetime]:
    """Whole UTC days: from 00:00 of `start` to 00:00 of `end` (exclusive)."""
    return (datetime.combine(start, time(), tzinfo=UTC), datetime.combine(end, time(), tzinfo=UTC))


def check_period(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("the period's start and end must be UTC times")
    if end <= start:
        raise InvalidInput("the period's end must be after its start (the end is exclusive)")
    if end - start > timedelta(days=MAX_PERIOD_DAYS):
        raise InvalidInput(f"a report covers at most {MAX_PERIOD_DAYS} days")


def _in(column: Any, start: datetime, end: datetime) -> Any:
    return sa.and_(column >= start, column < end)


def _ground_of(catalogue: Catalogue, policy_ref: str | None) -> str:
    if not policy_ref:
        return "unspecified"
    policy_id = policy_ref.split("@")[0]
    if policy_id not in catalogue:
        return "unspecified"
    return catalogue.get(policy_id).ground[0].type


def build_report(
    db: Session,
    *,
    start: datetime,
    end: datetime,
    catalogue: Catalogue,
    settings: Any = None,
    parameters: ReportParameters | None = None,
) -> TransparencyReport:
    check_period(start, end)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    params = parameters or ReportParameters.from_settings(settings)
    generated_at = now(db)
    ctx = _Context(db, start, end, catalogue, params, generated_at)
    figures = {
        "notices": ctx.notices(),
        "actions": ctx.actions(),
        "automation": ctx.automation(),
        "time_to_action": ctx.time_to_action(),
        "time_to_decision": ctx.time_to_decision(),
        "legal_tracks": ctx.legal_tracks(),
        "appeals": ctx.appeals(),
        "suspensions": ctx.suspensions(),
        "automated_means": ctx.automated_means(),
        "consistency": ctx.consistency(),
    }
    return TransparencyReport(start=start, end=end, generated_at=generated_at, parameters=params, figures=figures)


class _Context:
    def __init__(
        self,
        db: Session,
        start: datetime,
        end: datetime,
        catalogue: Catalogue,
        params: ReportParameters,
        generated_at: datetime,
    ) -> None:
        self.db, self.start, self.end, self.catalogue, self.params = db, start, end, catalogue, params
        self.generated_at = generated_at
        self._case_sources: dict[int, str] | None = None
        self._final: list[Decision] | None = None

    # -- shared reads ---------------------------------------------------------------------------

    def _count_by(self, column: Any, *where: Any) -> dict[str, int]:
        return fx.counts(self.db.execute(sa.select(column, sa.func.count()).where(*where).group_by(column)).all())

    def _first_receipts(self, case_ids: set[int]) -> dict[int, datetime]:
        if not case_ids:
            return {}
        rows = self.db.execute(
            sa.select(NoticeItem.case_id, sa.func.min(Notice.received_at))
            .join(Notice, Notice.id == NoticeItem.notice_id)
            .where(NoticeItem.case_id.in_(sorted(case_ids)))
            .group_by(NoticeItem.case_id)
        ).all()
        return {case_id: received for case_id, received in rows if case_id is not None}

    def case_sources(self) -> dict[int, str]:
        """Every case's source: the first in SOURCE_PRECEDENCE among the kinds of its notices."""
        if self._case_sources is None:
            kinds: dict[int, set[str]] = defaultdict(set)
            rows = self.db.execute(
                sa.select(NoticeItem.case_id, Notice.kind)
                .join(Notice, Notice.id == NoticeItem.notice_id)
                .where(NoticeItem.case_id.is_not(None))
                .distinct()
            ).all()
            for case_id, kind in rows:
                assert case_id is not None  # the query's condition
                kinds[case_id].add(SOURCE_OF_KIND.get(kind, "notice"))
            self._case_sources = {
                case_id: next(s for s in SOURCE_PRECEDENCE if s in found) for case_id, found in kinds.items()
            }
        return self._case_sources

    def _actions_filter(self) -> tuple[Any, ...]:
        return (
            _in(EnforcementAction.created_at, self.start, self.end),
            EnforcementAction.interim.is_(False),
            EnforcementAction.kind.not_in(NOT_MEASURES),
        )

    def final_decisions(self) -> list[Decision]:
        """Decisions taken in the period that decided something (not escalations, not pending)."""
        if self._final is None:
            self._final = list(
                self.db.execute(
                    sa.select(Decision)
                    .where(
                        _in(Decision.decided_at, self.start, self.end),
                        Decision.state.in_(FINAL_DECISION_STATES),
                        Decision.outcome.in_(FINAL_OUTCOMES),
                    )
                    .order_by(Decision.id)
                ).scalars()
            )
        return self._final

    # -- sections -------------------------------------------------------------------------------

    def notices(self) -> dict[str, Any]:
        period = _in(Notice.received_at, self.start, self.end)
        by_kind = self._count_by(Notice.kind, period)
        by_source: dict[str, int] = defaultdict(int)
        for kind, n in by_kind.items():
            by_source[SOURCE_OF_KIND.get(kind, "notice")] += n
        flaggers = self.db.execute(
            sa.select(TrustedFlagger.name, sa.func.count(Notice.id))
            .join(Notice, Notice.trusted_flagger_id == TrustedFlagger.id)
            .where(period)
            .group_by(TrustedFlagger.name)
        ).all()
        return {
            "total": sum(by_kind.values()),
            "by_kind": by_kind,
            "by_source": dict(sorted(by_source.items())),
            "by_category": self._count_by(Notice.dsa_category, period),
            "by_reporter_kind": self._count_by(Notice.reporter_kind, period),
            "trusted_flaggers": fx.counts(flaggers),
            "not_processed": self._count_by(Notice.state, period).get(NoticeState.not_processed.value, 0),
        }

    def actions(self) -> dict[str, Any]:
        rows = self.db.execute(
            sa.select(
                EnforcementAction.kind,
                EnforcementAction.target,
                EnforcementAction.policy_ref,
                EnforcementAction.case_id,
                StatementOfReasons.decision_ground,
                sa.func.count(),
            )
            .outerjoin(StatementOfReasons, StatementOfReasons.action_id == EnforcementAction.id)
            .where(*self._actions_filter())
            .group_by(
                EnforcementAction.kind,
                EnforcementAction.target,
                EnforcementAction.policy_ref,
                EnforcementAction.case_id,
                StatementOfReasons.decision_ground,
            )
        ).all()
        sources = self.case_sources()
        by_ground: dict[str, int] = defaultdict(int)
        by_kind: dict[str, int] = defaultdict(int)
        by_target: dict[str, int] = defaultdict(int)
        by_source: dict[str, int] = defaultdict(int)
        by_ground_kind: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for kind, target, policy_ref, case_id, stated_ground, n in rows:
            # The statement of reasons says which ground the decision relied on (a policy may cite
            # both law and terms); without one, the policy's first ground.
            ground = GROUND_OF_STATEMENT.get(stated_ground) or _ground_of(self.catalogue, policy_ref)
            by_ground[ground] += n
            by_kind[kind] += n
            by_target[target] += n
            by_source[sources.get(case_id, "own_initiative") if case_id else "own_initiative"] += n
            by_ground_kind[ground][kind] += n
        interim = (
            self.db.scalar(
                sa.select(sa.func.count())
                .select_from(EnforcementAction)
                .where(_in(EnforcementAction.created_at, self.start, self.end), EnforcementAction.interim.is_(True))
            )
            or 0
        )
        restorations = (
            self.db.scalar(
                sa.select(sa.func.count())
                .select_from(EnforcementAction)
                .where(
                    _in(EnforcementAction.created_at, self.start, self.end), EnforcementAction.kind.in_(RESTORE_KINDS)
                )
            )
            or 0
        )
        return {
            "total": sum(by_kind.values()),
            "by_ground": dict(sorted(by_ground.items())),
            "by_kind": dict(sorted(by_kind.items())),
            "by_target": dict(sorted(by_target.items())),
            "by_source": dict(sorted(by_source.items())),
            "by_ground_kind": {g: dict(sorted(k.items())) for g, k in sorted(by_ground_kind.items())},
            "interim": interim,
            "restorations": restorations,
        }

    def automation(self) -> dict[str, Any]:
        def yes_no(column: Any) -> dict[str, int]:
            rows = self.db.execute(
                sa.select(column, sa.func.count()).where(*self._actions_filter()).group_by(column)
            ).all()
            return {"automated": sum(n for flag, n in rows if flag), "human": sum(n for flag, n in rows if not flag)}

        decided: dict[str, int] = defaultdict(int)
        for d in self.final_decisions():
            decided["automated" if d.automated else "human"] += 1
        return {
            "action_detection": yes_no(EnforcementAction.automated_detection),
            "action_decision": yes_no(EnforcementAction.automated_decision),
            "decisions": {"automated": decided["automated"], "human": decided["human"]},
        }

    def time_to_action(self) -> dict[str, Any]:
        firsts = self.db.execute(
            sa.select(EnforcementAction.case_id, sa.func.min(EnforcementAction.created_at))
            .where(
                EnforcementAction.case_id.is_not(None),
                EnforcementAction.interim.is_(False),
                EnforcementAction.kind.not_in(NOT_MEASURES),
            )
            .group_by(EnforcementAction.case_id)
        ).all()
        in_period = {c: t for c, t in firsts if c is not None and self.start <= t < self.end}
        receipts = self._first_receipts(set(in_period))
        values = [fx.hours(in_period[c] - receipts[c]) for c in sorted(in_period) if c in receipts]
        sources = self.case_sources()
        by_source: dict[str, list[float]] = defaultdict(list)
        for c in sorted(in_period):
            if c in receipts:
                by_source[sources.get(c, "own_initiative")].append(fx.hours(in_period[c] - receipts[c]))
        return {**fx.durations(values), "by_source": {s: fx.durations(v) for s, v in sorted(by_source.items())}}

    def time_to_decision(self) -> dict[str, Any]:
        rows = self.db.execute(
            sa.select(Case.id, Case.decided_at).where(_in(Case.decided_at, self.start, self.end))
        ).all()
        decided = {case_id: at for case_id, at in rows if at is not None}  # none is: decided in the period
        receipts = self._first_receipts(set(decided))
        return fx.durations(fx.hours(decided[c] - receipts[c]) for c in sorted(decided) if c in receipts)

    def legal_tracks(self) -> dict[str, Any]:
        rows = self.db.execute(
            sa.select(LegalTrack.kind, LegalTrack.state, LegalTrack.due_at, LegalTrack.met_at).where(
                _in(LegalTrack.received_at, self.start, self.end)
            )
        ).all()
        out: dict[str, dict[str, int]] = {}
        for kind, state, due_at, met_at in rows:
            figures = out.setdefault(kind, {"opened": 0, **dict.fromkeys(TRACK_STATUSES, 0)})
            figures["opened"] += 1
            figures[track_status(state, due_at, met_at, self.generated_at)] += 1
        for figures in out.values():
            figures["met"] = figures["met_on_time"] + figures["met_late"]
            figures["missed"] = figures["met_late"] + figures["overdue"]
        return dict(sorted(out.items()))

    def appeals(self) -> dict[str, Any]:
        received = _in(Appeal.received_at, self.start, self.end)
        decided_rows = self.db.execute(
            sa.select(Appeal.outcome, Appeal.received_at, Appeal.decided_at).where(
                _in(Appeal.decided_at, self.start, self.end), Appeal.outcome.is_not(None)
            )
        ).all()
        by_outcome = fx.counts((o, 1) for o, _, _ in decided_rows)
        decided = len(decided_rows)
        expedited = (
            self.db.scalar(sa.select(sa.func.count()).select_from(Appeal).where(received, Appeal.expedited.is_(True)))
            or 0
        )
        disputes_opened = (
            self.db.scalar(
                sa.select(sa.func.count())
                .select_from(OutOfCourtDispute)
                .where(_in(OutOfCourtDispute.opened_at, self.start, self.end))
            )
            or 0
        )
        disputes = self.db.execute(
            sa.select(OutOfCourtDispute.outcome, OutOfCourtDispute.implemented).where(
                _in(OutOfCourtDispute.decided_at, self.start, self.end), OutOfCourtDispute.outcome.is_not(None)
            )
        ).all()
        implemented = sum(1 for _, i in disputes if i is True)
        return {
            "received": sum(self._count_by(Appeal.basis, received).values()),
            "by_basis": self._count_by(Appeal.basis, received),
            "by_appellant_kind": self._count_by(Appeal.appellant_kind, received),
            "expedited": expedited,
            "decided": decided,
            "by_outcome": by_outcome,
            "time_to_decide": fx.durations(fx.hours(d - r) for _, r, d in decided_rows if d is not None),
            "reversal_rate": fx.rate(by_outcome.get(AppealOutcome.reversed.value, 0), decided),
            "modification_rate": fx.rate(by_outcome.get(AppealOutcome.modified.value, 0), decided),
            "out_of_court": {
                "opened": disputes_opened,
                "decided": len(disputes),
                "by_outcome": fx.counts((o, 1) for o, _ in disputes),
                "implemented": implemented,
                "implementation_rate": fx.rate(implemented, len(disputes)),
            },
        }

    def suspensions(self) -> dict[str, Any]:
        rows = self.db.execute(
            sa.select(EnforcementAction.kind, EnforcementAction.policy_ref, sa.func.count())
            .where(*self._actions_filter(), EnforcementAction.kind.in_(ACCOUNT_MEASURES))
            .group_by(EnforcementAction.kind, EnforcementAction.policy_ref)
        ).all()
        accounts: dict[str, Any] = dict.fromkeys(ACCOUNT_MEASURES, 0)
        by_policy: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(ACCOUNT_MEASURES, 0))
        for kind, policy_ref, n in rows:
            accounts[kind] += n
            by_policy[(policy_ref or "unspecified").split("@")[0]][kind] += n
        notifier_suspensions = (
            self.db.scalar(
                sa.select(sa.func.count())
                .select_from(AuditEvent)
                .where(
                    AuditEvent.tag == AuditTag.NOTIFIER_SUSPEND.value, _in(AuditEvent.created_at, self.start, self.end)
                )
            )
            or 0
        )
        notifier_warnings = (
            self.db.scalar(
                sa.select(sa.func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.tag == AuditTag.NOTIFIER_WARN.value, _in(AuditEvent.created_at, self.start, self.end))
            )
            or 0
        )
        not_processed = (
            self.db.scalar(
                sa.select(sa.func.count())
                .select_from(Notice)
                .where(_in(Notice.received_at, self.start, self.end), Notice.state == NoticeState.not_processed.value)
            )
            or 0
        )
        return {
            "accounts": {**accounts, "by_policy": dict(sorted(by_policy.items()))},
            "notifiers": {
                "warned": notifier_warnings,
                "suspended": notifier_suspensions,
                "notices_not_processed": not_processed,
            },
        }

    def _reversed_on_appeal(self) -> tuple[set[int], set[int]]:
        """(decision ids, case ids) reversed on appeal, whenever the appeal was decided."""
        rows = self.db.execute(
            sa.select(Appeal.decision_id, Appeal.case_id).where(Appeal.outcome == AppealOutcome.reversed.value)
        ).all()
        return {d for d, _ in rows if d is not None}, {c for _, c in rows}

    def automated_means(self) -> dict[str, Any]:
        rows = self.db.execute(
            sa.select(Notice.id, Notice.case_id, Notice.details)
            .where(Notice.kind == NoticeKind.detection.value, _in(Notice.received_at, self.start, self.end))
            .order_by(Notice.id)
        ).all()
        _, reversed_cases = self._reversed_on_appeal()
        # The review of a detection is the first decision on its case that took effect (a "no
        # violation" overturned at second review never did); later appeals are counted apart.
        reviews: dict[int, str] = {}
        case_ids = sorted({c for _, c, _ in rows if c is not None})
        for case_id, decided_outcome in self.db.execute(
            sa.select(Decision.case_id, Decision.outcome)
            .where(
                Decision.case_id.in_(case_ids or [-1]),
                Decision.outcome.in_(FINAL_OUTCOMES),
                Decision.state.in_((DecisionState.effective.value, DecisionState.upheld.value)),
            )
            .order_by(Decision.id)
        ).all():
            reviews.setdefault(case_id, decided_outcome)
        by_bank: dict[str, dict[str, int]] = {}
        by_signal: dict[str, dict[str, int]] = {}
        for _, case_id, details in rows:
            outcome = reviews.get(case_id)
            matches = (details or {}).get("matches") or [{}]
            best = matches[0]
            for table, key in (
                (by_bank, best.get("bank") or "unspecified"),
                (by_signal, best.get("signal_type") or "unspecified"),
            ):
                f = table.setdefault(
                    key,
                    {"detections": 0, "decided": 0, "confirmed": 0, "rejected_on_review": 0, "reversed_on_appeal": 0},
                )
                f["detections"] += 1
                if outcome is not None:
                    f["decided"] += 1
                    if outcome == Outcome.violates.value:
                        f["confirmed"] += 1
                        if case_id in reversed_cases:
                            f["reversed_on_appeal"] += 1
                    else:
                        f["rejected_on_review"] += 1

        def rates(f: dict[str, int]) -> dict[str, Any]:
            return {
                **f,
                "review_reversal_rate": fx.rate(f["rejected_on_review"], f["decided"]),
                "appeal_reversal_rate": fx.rate(f["reversed_on_appeal"], f["confirmed"]),
            }

        reversed_decisions, _ = self._reversed_on_appeal()
        automated = [d for d in self.final_decisions() if d.automated]
        overturned = sum(1 for d in automated if d.state == DecisionState.overturned.value)
        on_appeal = sum(1 for d in automated if d.id in reversed_decisions)
        return {
            "by_bank": {k: rates(v) for k, v in sorted(by_bank.items())},
            "by_signal_type": {k: rates(v) for k, v in sorted(by_signal.items())},
            "automated_decisions": {
                "decided": len(automated),
                "reversed_on_appeal": on_appeal,
                "overturned_at_second_review": overturned,
                "reversal_rate": fx.rate(on_appeal + overturned, len(automated)),
            },
        }

    def consistency(self) -> dict[str, Any]:
        decisions = self.final_decisions()
        reversed_decisions, _ = self._reversed_on_appeal()
        # Appeals recorded without the decision they contest count against the case's last final
        # decision taken before the appeal (appeals filed through appeals.filing always name it).
        loose = self.db.execute(
            sa.select(Appeal.case_id, Appeal.received_at).where(
                Appeal.outcome == AppealOutcome.reversed.value, Appeal.decision_id.is_(None)
            )
        ).all()
        for case_id, received_at in loose:
            prior = self.db.scalar(
                sa.select(sa.func.max(Decision.id)).where(
                    Decision.case_id == case_id,
                    Decision.state.in_(FINAL_DECISION_STATES),
                    Decision.outcome.in_(FINAL_OUTCOMES),
                    Decision.decided_at <= received_at,
                )
            )
            if prior is not None:
                reversed_decisions.add(prior)
        names = {f"staff:{i}": u for i, u in self.db.execute(sa.select(StaffUser.id, StaffUser.username)).all()}

        def tally(group: list[Decision]) -> dict[str, Any]:
            on_appeal = sum(1 for d in group if d.id in reversed_decisions)
            overturned = sum(1 for d in group if d.state == DecisionState.overturned.value)
            violates = sum(1 for d in group if d.outcome == Outcome.violates.value)
            return {
                "decided": len(group),
                "violates": violates,
                "reversed_on_appeal": on_appeal,
                "overturned_at_second_review": overturned,
                "reversal_rate": fx.rate(on_appeal + overturned, len(group)),
            }

        per_policy: dict[str, list[Decision]] = defaultdict(list)
        per_reviewer: dict[str, list[Decision]] = defaultdict(list)
        for d in decisions:
            per_policy[d.policy_ref.split("@")[0]].append(d)
            per_reviewer[names.get(d.reviewer, d.reviewer)].append(d)

        high = self._high_reach_cases({d.case_id for d in decisions})
        exceptions = self.db.execute(
            sa.select(DecisionException, Decision.policy_ref)
            .join(Decision, Decision.id == DecisionException.decision_id)
            .where(_in(DecisionException.recorded_at, self.start, self.end))
            .order_by(DecisionException.id)
        ).all()
        excepted = set(
            self.db.execute(
                sa.select(DecisionException.decision_id).where(
                    DecisionException.decision_id.in_([d.id for d in decisions] or [-1])
                )
            ).scalars()
        )
        deviations = [d.id for d in decisions if d.id not in excepted and self._departs_from_default(d)]
        return {
            "total": tally(decisions),
            "per_policy": {k: tally(v) for k, v in sorted(per_policy.items())},
            "per_reviewer": {k: tally(v) for k, v in sorted(per_reviewer.items())},
            "agreement": self._agreement(),
            "high_reach": tally([d for d in decisions if d.case_id in high]),
            "other_accounts": tally([d for d in decisions if d.case_id not in high]),
            "exceptions_by_kind": fx.counts((e.kind, 1) for e, _ in exceptions),
            "exceptions": [
                {
                    "decision_id": e.decision_id,
                    "case_id": e.case_id,
                    "kind": e.kind,
                    "policy": (ref or "").split("@")[0],
                    "reasons": e.reasons,
                    "recorded_at": fx.iso(e.recorded_at),
                }
                for e, ref in exceptions
            ],
            "unrecorded_deviation_count": len(deviations),
            "unrecorded_deviations": deviations,
        }

    def _departs_from_default(self, decision: Decision) -> bool:
        if decision.outcome != Outcome.violates.value:
            return False
        policy_id = decision.policy_ref.split("@")[0]
        if policy_id not in self.catalogue:
            return False
        return set(decision.actions) != set(self.catalogue.get(policy_id).default_actions)

    def _high_reach_cases(self, case_ids: set[int]) -> set[int]:
        """Cases whose content reached, or whose account has, at least `high_reach_threshold`
        views or followers (account metadata `followers`)."""
        if not case_ids:
            return set()
        threshold = self.params.high_reach_threshold
        rows = self.db.execute(
            sa.select(Case.id, Case.reach, PlatformAccount.meta)
            .outerjoin(PlatformContent, PlatformContent.id == Case.content_id)
            .outerjoin(PlatformAccount, PlatformAccount.id == PlatformContent.account_id)
            .where(Case.id.in_(sorted(case_ids)))
        ).all()
        return {case_id for case_id, reach, meta in rows if (reach or 0) >= threshold or followers(meta) >= threshold}

    def _agreement(self) -> dict[str, Any]:
        rows = self.db.execute(
            sa.select(ConsistencyCheck.state, ConsistencyCheck.agree, Decision.policy_ref)
            .join(Decision, Decision.id == ConsistencyCheck.decision_id)
            .where(_in(Decision.decided_at, self.start, self.end))
        ).all()

        def tally(group: Sequence[Any]) -> dict[str, Any]:
            completed = [r for r in group if r[0] == CheckState.done.value]
            agreed = sum(1 for r in completed if r[1])
            return {
                "sampled": len(group),
                "pending": len(group) - len(completed),
                "completed": len(completed),
                "agreed": agreed,
                "agreement_rate": fx.rate(agreed, len(completed)),
            }

        per_policy: dict[str, list[Any]] = defaultdict(list)
        for row in rows:
            per_policy[row[2].split("@")[0]].append(row)
        return {
            **tally(rows),
            "sample_rate": self.params.consistency_sample_rate,
            "per_policy": {k: tally(v) for k, v in sorted(per_policy.items())},
        }


def followers(meta: Any) -> int:
    value = (meta or {}).get("followers") if isinstance(meta, dict) else None
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0


def track_status(state: str, due_at: datetime | None, met_at: datetime | None, as_of: datetime) -> str:
    if state == TrackState.not_applicable.value:
        return "not_applicable"
    if state == TrackState.waiting.value:
        return "waiting"
    if state == TrackState.met.value:
        return "met_late" if due_at is not None and met_at is not None and met_at > due_at else "met_on_time"
    if due_at is not None and due_at <= as_of:
        return "overdue"
    return "open"
