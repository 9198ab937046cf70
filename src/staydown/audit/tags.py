"""The one vocabulary of audit event tags, `"subject:object:action"`."""

from __future__ import annotations

import enum


class AuditTag(str, enum.Enum):
    # staff and access
    STAFF_USER_CREATE = "staff:user:create"
    STAFF_USER_ROLES = "staff:user:roles"
    STAFF_USER_DEACTIVATE = "staff:user:deactivate"
    STAFF_USER_PASSWORD = "staff:user:password"
    API_CLIENT_CREATE = "staff:api_client:create"
    API_CLIENT_REVOKE = "staff:api_client:revoke"
    # subjects
    CONTENT_CREATE = "subject:content:create"
    CONTENT_UPDATE = "subject:content:update"
    ACCOUNT_CREATE = "subject:account:create"
    ACCOUNT_UPDATE = "subject:account:update"
    # policies
    POLICY_VERSION_ADD = "policy:version:add"
    POLICY_RETIRE = "policy:version:retire"
    # banks and matching
    BANK_CREATE = "matching:bank:create"
    BANK_UPDATE = "matching:bank:update"
    BANK_ENTRIES_ADD = "matching:bank:entries_add"
    BANK_IMPORT = "matching:bank:import"
    BANK_EXPORT = "matching:bank:export"
    BANK_ENTRY_DISABLE = "matching:entry:disable"
    BANK_ENTRY_ENABLE = "matching:entry:enable"
    SCAN_MATCH = "matching:scan:match"
    # outbox
    JOB_DEAD = "delivery:job:dead"
    JOB_REQUEUE = "delivery:job:requeue"
    # audit itself
    AUDIT_CHECKPOINT = "audit:log:checkpoint"


def tag_value(tag: "AuditTag | str") -> str:
    value = tag.value if isinstance(tag, AuditTag) else tag
    # Refuse free-form tags: the enum is the vocabulary, so reports can count by tag.
    AuditTag(value)
    return value
