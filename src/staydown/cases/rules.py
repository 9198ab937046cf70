"""The clocks and thresholds that case handling runs on, built from the catalogue and settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from staydown.cases.models import TrackKind

# Settings that override the catalogue's hours for one kind, when set.
HOURS_SETTINGS = {
    TrackKind.take_it_down.value: "take_it_down_hours",
    TrackKind.ncmec.value: "ncmec_report_hours",
    TrackKind.dsa_notice.value: "dsa_notice_hours",
    TrackKind.uk_intimate_image.value: "uk_intimate_image_hours",
    TrackKind.terrorist_order.value: "terrorist_order_hours",
    TrackKind.dsa_art18.value: "dsa_art18_hours",
}


# Hours when neither the catalogue nor a setting gives a kind its own (the default catalogue
# states these same figures in its `legal_tracks` section).
BUILT_IN_HOURS: dict[str, float] = {
    TrackKind.take_it_down.value: 48.0,
    TrackKind.ncmec.value: 24.0,
    TrackKind.dsa_notice.value: 72.0,
    TrackKind.uk_intimate_image.value: 48.0,
    TrackKind.priority_takedown.value: 24.0,
    TrackKind.uk_nca.value: 24.0,
    TrackKind.terrorist_order.value: 1.0,
    TrackKind.authority_order.value: 24.0,
    TrackKind.dsa_art18.value: 1.0,
}


def _built_in() -> dict[str, float]:
    return dict(BUILT_IN_HOURS)


@dataclass(frozen=True)
class CaseRules:
    # Each kind's hours from its clock's start to its deadline, and where that figure comes from.
    hours: dict[str, float] = field(default_factory=_built_in)
    hours_source: dict[str, str] = field(default_factory=dict)
    uk_nca_enabled: bool = False
    escalate_at_remaining_fraction: float = 0.25
    escalation_roles: tuple[str, ...] = ("senior_moderator", "child_safety")
    claim_lease: timedelta = timedelta(minutes=30)
    notifier_suspension: timedelta = timedelta(days=90)
    max_items: int = 20
    public_base_url: str = "http://127.0.0.1:8000"
    platform_name: str = "this platform"
    appeal_window: timedelta = timedelta(days=183)

    def hours_of(self, kind: str) -> float:
        return float(self.hours[kind])

    def source_of(self, kind: str) -> str:
        return self.hours_source.get(kind, "built-in default")

    def duration(self, kind: str) -> timedelta:
        return timedelta(hours=self.hours_of(kind))

    @classmethod
    def from_settings(cls, settings: Any, catalogue: Any = None) -> CaseRules:
        hours = _built_in()
        source: dict[str, str] = {}
        for kind, value in (getattr(catalogue, "track_hours", None) or {}).items():
            hours[kind] = float(value)
            source[kind] = "catalogue"
        for kind, name in HOURS_SETTINGS.items():
            value = getattr(settings, name, None)
            if value is not None:
                hours[kind] = float(value)
                source[kind] = f"setting STAYDOWN_{name.upper()}"
        return cls(
            hours=hours,
            hours_source=source,
            uk_nca_enabled=bool(getattr(settings, "uk_nca_reporting", False)),
            escalate_at_remaining_fraction=settings.escalate_at_remaining_fraction,
            escalation_roles=tuple(settings.escalation_roles),
            claim_lease=timedelta(minutes=settings.claim_lease_minutes),
            notifier_suspension=timedelta(days=settings.notifier_suspension_days),
            max_items=settings.public_notice_max_items,
            public_base_url=settings.base_url,
            platform_name=settings.platform_name,
        )


DEFAULT_RULES = CaseRules()
