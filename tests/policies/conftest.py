"""Fixtures for the policy catalogue tests: a small valid catalogue and helpers to break it."""

from __future__ import annotations

import pytest

# Two policies: a plain terms-of-service one and a child-safety one, each with every field the
# rules look at. Tests edit single lines and compute expected line numbers from the text itself.
MINIMAL = """\
catalogue_version: 1
policies:
  - id: spam
    version: 1
    title: Spam
    rule: Do not post spam.
    dsa_category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC
    ground:
      type: terms_of_service
      reference: "Terms: Spam"
      explanation: Our terms forbid spam.
    severity: low
    child_safety: false
    ncii: false
    bank_confirmed: false
    default_actions: [remove, strike]
    strike: {weight: 1, window_days: 90, warn_at: 1, suspend_at: 3, suspend_days: 3, terminate_at: 5}
    notice: "We removed your post under {policy_title}: {measure}. Appeal at {appeal_url} by {appeal_deadline}."
    translations:
      de:
        title: Spam (de)
  - id: csam
    version: 2
    title: Child sexual abuse material
    rule: Never share sexual content involving children.
    dsa_category: STATEMENT_CATEGORY_PROTECTION_OF_MINORS
    dsa_keywords: [KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL]
    ground:
      - type: illegal_content
        legal_reference: 18 U.S.C. 2252A
        explanation: Possessing and distributing it is a crime.
    ncmec_incident_type: Child Pornography (possession, manufacture, and distribution)
    severity: critical
    child_safety: true
    ncii: false
    bank_confirmed: true
    default_actions: [remove, terminate]
    strike:
      weight: 1
      window_days: 3650
      warn_at: 1
      suspend_at: 2
      suspend_days: 365
      terminate_at: 3
      terminate_immediately: true
    legal_tracks: [ncmec]
    notice: "We removed your content ({measure}). Appeal at {appeal_url}."
"""


def edit(text: str, old: str, new: str, *, count: int = 1) -> str:
    """Replace `old` exactly `count` times, so a test never edits what it did not mean to."""
    assert text.count(old) == count, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def position(text: str, needle: str, *, nth: int = 1) -> tuple[int, int]:
    """1-based (line, column) of the nth occurrence of needle."""
    at = -1
    for _ in range(nth):
        at = text.index(needle, at + 1)
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    return line, column


@pytest.fixture
def minimal() -> str:
    return MINIMAL


@pytest.fixture(name="edit")
def edit_fixture():
    return edit


@pytest.fixture(name="position")
def position_fixture():
    return position
