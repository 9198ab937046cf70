"""The clocks appeals run on (window, due dates, claim lease), built from settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any


@dataclass(frozen=True)
class AppealRules:
    window: timedelta = timedelta(days=183)  # DSA-4: at least six months after the decision
    due: timedelta = timedelta(days=14)
    expedited_due: timedelta = timedelta(hours=48)  # UK-3: intimate-image cases
    claim_lease: timedelta = timedelta(minutes=30)
    # As legal tracks do: alert when a quarter of the time is left (12 h of an expedited 48 h).
    escalate_at_remaining_fraction: float = 0.25
    public_base_url: str = "http://127.0.0.1:8000"
    platform_name: str = "this platform"

    @classmethod
    def from_settings(cls, settings: Any) -> AppealRules:
        return cls(
            window=timedelta(days=settings.appeal_window_days),
            due=timedelta(days=settings.appeal_due_days),
            expedited_due=timedelta(hours=settings.appeal_expedited_hours),
            claim_lease=timedelta(minutes=settings.claim_lease_minutes),
            escalate_at_remaining_fraction=settings.escalate_at_remaining_fraction,
            public_base_url=settings.base_url,
            platform_name=settings.platform_name,
        )


DEFAULT_APPEAL_RULES = AppealRules()
