"""Grouping: which case a notice's item belongs to, on plain data (a `Case` row or intake's batch view of one)."""

from __future__ import annotations

from typing import Protocol

from staydown.policies.schema import Policy
from staydown.policies.vocab import SEVERITY_RANK


class Raisable(Protocol):
    """The fields of a case a graver notice can change."""

    policy_id: str | None
    severity: str
    area: str
    child_safety: bool
    ncii: bool


def raise_case_to(case: Raisable, policy: Policy) -> None:
    """A later notice that alleges something graver moves the case to the graver policy's area."""
    if SEVERITY_RANK[policy.severity] > SEVERITY_RANK.get(case.severity, 0) or (
        policy.child_safety and not case.child_safety
    ):
        case.policy_id = policy.id
        case.severity = policy.severity
        case.area = policy.area or case.area
    case.child_safety = case.child_safety or policy.child_safety
    case.ncii = case.ncii or policy.ncii
