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
from staydown.cases.models import Case, Decision, LegalTrack, NoticeTrack, StaffAlert
from staydown.db import Base
from staydown.delivery.messages import OutboundMessage
from staydown.delivery.models import Job, JobAttempt
from staydown.enforcement.models import AccountStrike, EnforcementAction, Sweep
from staydown.evidence.models import DestructionRequest, EvidenceItem, LegalHold
from staydown.exchanges.models import Exchange, ExchangeRecord, ExchangeSignal, ExchangeSubmission
from staydown.hma.models import HmaBank, HmaContent
from staydown.intake.models import HashSubmission, Notice, NoticeItem, Notifier, TrustedFlagger
from staydown.matching.models import Bank, BankEntry, ContentSignal, Scan
from staydown.policies.models import PolicyVersion
from staydown.sequences import SequenceHead
from staydown.staff.models import ApiClient, StaffUser
from staydown.staff.sessions import StaffSession
from staydown.subjects.models import PlatformAccount, PlatformContent
from staydown.transparency.consistency import ConsistencyCheck, DecisionException
from staydown.transparency.models import StatementOfReasons
from staydown.web.console.models import MediaReveal, TotpState

metadata = Base.metadata

__all__ = [
    "AccountStrike",
    "ApiClient",
    "Appeal",
    "AuditEvent",
    "AuditHead",
    "AuthorityNotification",
    "Bank",
    "BankEntry",
    "Case",
    "ConsistencyCheck",
    "ContentSignal",
    "Decision",
    "DecisionException",
    "DestructionRequest",
    "EnforcementAction",
    "EvidenceItem",
    "Exchange",
    "ExchangeRecord",
    "ExchangeSignal",
    "ExchangeSubmission",
    "FileRequest",
    "HashSubmission",
    "HmaBank",
    "HmaContent",
    "Job",
    "JobAttempt",
    "LawEnforcementRequest",
    "LegalHold",
    "LegalTrack",
    "MediaReveal",
    "NcaReport",
    "NcaReportFile",
    "NcmecReport",
    "NcmecReportFile",
    "Notice",
    "NoticeItem",
    "NoticeTrack",
    "Notifier",
    "OutOfCourtDispute",
    "OutboundMessage",
    "PlatformAccount",
    "PlatformContent",
    "PolicyVersion",
    "Scan",
    "SequenceHead",
    "StaffAlert",
    "StaffSession",
    "StaffUser",
    "StatementOfReasons",
    "Sweep",
    "TotpState",
    "TrustedFlagger",
    "metadata",
]
