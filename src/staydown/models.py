"""Every table: importing this module registers all models on `Base.metadata`."""

from staydown.appeals.models import Appeal, OutOfCourtDispute
from staydown.audit.models import AuditEvent, AuditHead
from staydown.authorities.models import (
    AuthorityNotification,
    FileRequest,
    LawEnforcementRequest,
    NcaReport,
    NcaReportFile,
    NcmecReport,
    NcmecReportFile,
)
from staydown.db import Base
from staydown.cases.models import Case, Decision, LegalTrack, NoticeTrack, StaffAlert
from staydown.delivery.messages import OutboundMessage
from staydown.delivery.models import Job, JobAttempt
from staydown.enforcement.models import AccountStrike, EnforcementAction, Sweep
from staydown.hma.models import HmaBank, HmaContent
from staydown.evidence.models import DestructionRequest, EvidenceItem, LegalHold
from staydown.exchanges.models import Exchange, ExchangeRecord, ExchangeSignal, ExchangeSubmission
from staydown.intake.models import HashSubmission, Notice, NoticeItem, Notifier, TrustedFlagger
from staydown.matching.models import Bank, BankEntry, ContentSignal, Scan
from staydown.policies.models import PolicyVersion
from staydown.sequences import SequenceHead
from staydown.staff.models import ApiClient, StaffUser
from staydown.staff.sessions import StaffSession
from staydown.subjects.models import PlatformAccount, PlatformContent
from staydown.transparency.models import StatementOfReasons
from staydown.transparency.consistency import ConsistencyCheck, DecisionException
from staydown.web.console.models import MediaReveal, TotpState

metadata = Base.metadata

__all__ = [
    "Appeal",
    "OutOfCourtDispute",
    "StatementOfReasons",
    "ConsistencyCheck",
    "DecisionException",
    "MediaReveal",
    "TotpState",
    "AuthorityNotification",
    "DestructionRequest",
    "EvidenceItem",
    "Exchange",
    "ExchangeRecord",
    "ExchangeSignal",
    "ExchangeSubmission",
    "FileRequest",
    "LawEnforcementRequest",
    "LegalHold",
    "NcmecReport",
    "NcmecReportFile",
    "NcaReport",
    "NcaReportFile",
    "Case",
    "NoticeTrack",
    "Decision",
    "AccountStrike",
    "EnforcementAction",
    "Sweep",
    "LegalTrack",
    "HashSubmission",
    "Notice",
    "OutboundMessage",
    "NoticeItem",
    "Notifier",
    "StaffAlert",
    "StaffSession",
    "TrustedFlagger",
    "ApiClient",
    "Bank",
    "HmaBank",
    "HmaContent",
    "BankEntry",
    "ContentSignal",
    "Scan",
    "SequenceHead",
    "AuditEvent",
    "AuditHead",
    "Job",
    "JobAttempt",
    "PlatformAccount",
    "PlatformContent",
    "PolicyVersion",
    "StaffUser",
    "metadata",
]
