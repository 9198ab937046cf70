"""Permissions, the roles that grant them, and the scopes an API client may hold."""

from __future__ import annotations

import enum

from staydown.actors import Actor, ActorKind
from staydown.errors import PermissionDenied


class Permission(str, enum.Enum):
    # Declared on routes that anyone may call (health, public report forms). Explicit, so that a
    # test can tell a public route from one someone forgot to protect.
    PUBLIC = "public"

    # platform integration (API clients)
    SCAN = "scan"
    MATCH = "match"
    NOTICES_SUBMIT = "notices:submit"
    ACTIONS_READ = "actions:read"
    ACTIONS_ACK = "actions:ack"
    EVIDENCE_SUBMIT = "evidence:submit"
    SUBJECTS_READ = "subjects:read"
    SUBJECTS_WRITE = "subjects:write"
    APPEALS_SUBMIT = "appeals:submit"  # forward a user's appeal (DSA Art. 20)

    # review
    CASES_READ = "cases:read"
    CASES_REVIEW = "cases:review"
    CASES_SECOND_REVIEW = "cases:second_review"
    MEDIA_REVEAL = "media:reveal"
    APPEALS_DECIDE = "appeals:decide"
    APPEALS_DISPUTES = "appeals:disputes"  # record out-of-court disputes and their outcome (DSA Art. 21)

    # child safety and legal
    CHILD_SAFETY_CASES = "cases:child_safety"
    NCMEC_REPORTS = "ncmec:reports"
    NCA_REPORTS = "nca:reports"  # UK National Crime Agency reports (UK-6)
    EVIDENCE_ACCESS = "evidence:access"
    EVIDENCE_HOLDS = "evidence:holds"
    LAW_ENFORCEMENT = "law_enforcement:requests"

    # banks and policies
    BANKS_READ = "banks:read"
    BANKS_WRITE = "banks:write"
    POLICIES_READ = "policies:read"
    POLICIES_WRITE = "policies:write"
    # Hash exchanges: configure and fetch (admins); approve sharing our hashes out (legal).
    EXCHANGES_ADMIN = "exchanges:admin"
    EXCHANGES_SHARE = "exchanges:share"

    # oversight
    AUDIT_READ = "audit:read"
    TRANSPARENCY_READ = "transparency:read"
    DASHBOARD_READ = "dashboard:read"  # the console's live figures: counts only, no case content

    # administration
    STAFF_ADMIN = "staff:admin"
    API_KEYS_ADMIN = "api_keys:admin"
    JOBS_ADMIN = "jobs:admin"
    METRICS_READ = "metrics:read"  # the operational figures (GET /metrics): counts, never content


class Role(str, enum.Enum):
    admin = "admin"
    moderator = "moderator"
    senior_moderator = "senior_moderator"
    child_safety = "child_safety"
    legal = "legal"
    auditor = "auditor"


P = Permission

_MODERATOR = {
    P.CASES_READ,
    P.CASES_REVIEW,
    P.MEDIA_REVEAL,
    P.BANKS_READ,
    P.POLICIES_READ,
    P.SUBJECTS_READ,
    P.DASHBOARD_READ,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.moderator: frozenset(_MODERATOR),
    Role.senior_moderator: frozenset(
        _MODERATOR | {P.CASES_SECOND_REVIEW, P.APPEALS_DECIDE, P.APPEALS_DISPUTES, P.BANKS_WRITE}
    ),
    # Child-safety specialists handle CSAM cases end to end, including the NCMEC and NCA reports
    # and the vault; report contents go only to those who need them (CSAM-5).
    Role.child_safety: frozenset(
        _MODERATOR
        | {
            P.CASES_SECOND_REVIEW,
            P.CHILD_SAFETY_CASES,
            P.NCMEC_REPORTS,
            P.NCA_REPORTS,
            P.EVIDENCE_ACCESS,
            P.BANKS_WRITE,
            P.APPEALS_DECIDE,
        }  # appeals on child-safety cases are theirs too
    ),
    Role.legal: frozenset(
        {
            P.CASES_READ,
            P.POLICIES_READ,
            P.EVIDENCE_ACCESS,
            P.EVIDENCE_HOLDS,
            P.LAW_ENFORCEMENT,
            P.NCMEC_REPORTS,
            P.NCA_REPORTS,
            P.AUDIT_READ,
            P.TRANSPARENCY_READ,
            P.CHILD_SAFETY_CASES,
            P.APPEALS_DISPUTES,
            P.DASHBOARD_READ,
            P.EXCHANGES_SHARE,
        }
    ),
    Role.auditor: frozenset({P.AUDIT_READ, P.TRANSPARENCY_READ, P.POLICIES_READ, P.BANKS_READ, P.DASHBOARD_READ}),
    # Administrators run the system; they do not get the evidence vault or child-safety cases
    # by virtue of being admins: access to report contents stays minimal (CSAM-6).
    Role.admin: frozenset(
        {
            P.STAFF_ADMIN,
            P.API_KEYS_ADMIN,
            P.JOBS_ADMIN,
            P.METRICS_READ,
            P.POLICIES_READ,
            P.POLICIES_WRITE,
            P.BANKS_READ,
            P.BANKS_WRITE,
            P.AUDIT_READ,
            P.TRANSPARENCY_READ,
            P.CASES_READ,
            P.DASHBOARD_READ,
            P.EXCHANGES_ADMIN,
        }
    ),
}

# What an API client may be granted, and what a platform integration gets by default.
API_SCOPES: frozenset[Permission] = frozenset(
    {
        P.SCAN,
        P.MATCH,
        P.NOTICES_SUBMIT,
        P.ACTIONS_READ,
        P.ACTIONS_ACK,
        P.SUBJECTS_READ,
        P.SUBJECTS_WRITE,
        P.EVIDENCE_SUBMIT,
        P.BANKS_READ,
        P.BANKS_WRITE,
        P.TRANSPARENCY_READ,
        P.AUDIT_READ,
        P.APPEALS_SUBMIT,
        P.METRICS_READ,
        P.EXCHANGES_ADMIN,
    }  # exchanges: HMA clients configure them with a key
)
DEFAULT_API_SCOPES: frozenset[Permission] = frozenset(
    {
        P.SCAN,
        P.MATCH,
        P.NOTICES_SUBMIT,
        P.ACTIONS_READ,
        P.ACTIONS_ACK,
        P.SUBJECTS_READ,
        P.SUBJECTS_WRITE,
        P.EVIDENCE_SUBMIT,
        P.APPEALS_SUBMIT,
    }
)


def permissions_for_roles(roles: list[str] | tuple[str, ...]) -> frozenset[str]:
    granted: set[str] = set()
    for role in roles:
        granted |= {p.value for p in ROLE_PERMISSIONS[Role(role)]}
    return frozenset(granted)


def require_staff_permission(actor: Actor, permission: Permission, message: str = "") -> None:
    """Staff need `permission` for what follows; the system, and API clients (whose scopes the API's
    routes check), pass. `message` says who does this work; by default, which permission it needs."""
    if actor.kind is ActorKind.staff and permission.value not in actor.permissions:
        raise PermissionDenied(message or f"this needs the '{permission.value}' permission")
