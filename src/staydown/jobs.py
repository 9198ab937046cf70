"""The job kinds this build of staydown runs, gathered in one registry."""

from __future__ import annotations

from staydown.delivery.outbox import JobRegistry


def build_registry() -> JobRegistry:
    registry = JobRegistry()
    # Domains register their job kinds here as they are built (webhooks, NCMEC, DSA database).
    return registry
