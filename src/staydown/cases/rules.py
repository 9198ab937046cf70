"""The clocks and thresholds that case handling runs on, built from settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from staydown.cases.models import TrackKind


@dataclass(frozen=True)
class CaseRules:
    hours: dict[str, float] = field(default_factory=lambda: {
        TrackKind.take_it_down.value: 48.0,
        TrackKind.ncmec.value: 24.0,
        TrackKind.dsa_notice.value: 72.0,
        TrackKind.uk_intimate_image.value: 48.0,
        TrackKind.terrorist_order.value: 1.0,
        TrackKind.dsa_art18.value: 1.0,
    })
    escalate_at_remaining_fraction: float = 0.25
    escalation_roles: tuple[str, ...] = ("senior_moderator", "child_safety")
    claim_lease: timedelta = timedelta(minutes=30)
    notifier_suspension: timedelta = timedelta(days=90)
    max_items: int = 20
    public_base_url: str = "http://127.0.0.1:8000"
    platform_name: str = "this platform"
    appeal_window: timedelta = timedelta(days=183)

    def duration(self, kind: str) -> timedelta:
        return timedelta(hours=self.hours[kind])

    @classmethod
    def from_settings(cls, settings: Any) -> "CaseRules":
        return cls(
            hours={
                TrackKind.take_it_down.value: settings.take_it_down_hours,
                TrackKind.ncmec.value: settings.ncmec_report_hours,
                TrackKind.dsa_notice.value: settings.dsa_notice_hours,
                TrackKind.uk_intimate_image.value: settings.uk_intimate_image_hours,
                TrackKind.terrorist_order.value: settings.terrorist_order_hours,
                TrackKind.dsa_art18.value: settings.dsa_art18_hours,
            },
            escalate_at_remaining_fraction=settings.escalate_at_remaining_fraction,
            escalation_roles=tuple(settings.escalation_roles),
            claim_lease=timedelta(minutes=settings.claim_lease_minutes),
            notifier_suspension=timedelta(days=settings.notifier_suspension_days),
            max_items=settings.public_notice_max_items,
            public_base_url=settings.public_base_url.rstrip("/"),
            platform_name=settings.platform_name,
        )


DEFAULT_RULES = CaseRules()
