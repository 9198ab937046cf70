"""Hash-chained audit log: record events in the caller's transaction, verify the chain."""

from staydown.audit.log import Checkpoint, VerifyResult, checkpoint, events_for, flush, pending, record, verify
from staydown.audit.tags import AuditTag

__all__ = ["AuditTag", "Checkpoint", "VerifyResult", "checkpoint", "events_for", "flush", "pending", "record", "verify"]
