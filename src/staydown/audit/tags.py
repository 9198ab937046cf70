"""The one vocabulary of audit event tags, `"subject:object:action"`."""

from __future__ import annotations

import enum


class AuditTag(str, enum.Enum):
    # staff and access
    STAFF_USER_CREATE = "staff:user:create"
    STAFF_USER_ROLES = "staff:user:roles"
    STAFF_USER_DEACTIVATE = "staff:user:deactivate"
    STAFF_USER_PASSWORD = "staff:user:password"
    STAFF_SIGN_IN = "staff:session:sign_in"
    STAFF_LOCKOUT = "staff:session:lockout"
    STAFF_TOTP_RESET = "staff:totp:reset"
    STAFF_SIGN_OUT = "staff:session:sign_out"
    STAFF_TOTP_ENROL = "staff:totp:enrol"
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
    BANK_DELETE = "matching:bank:delete"
    BANK_ENTRIES_ADD = "matching:bank:entries_add"
    BANK_IMPORT = "matching:bank:import"
    BANK_EXPORT = "matching:bank:export"
    BANK_ENTRY_DISABLE = "matching:entry:disable"
    BANK_ENTRY_ENABLE = "matching:entry:enable"
    SCAN_MATCH = "matching:scan:match"
    # intake
    NOTICE_RECEIVE = "intake:notice:receive"
    NOTICE_COMPLETE = "intake:notice:complete"
    NOTICE_NOT_PROCESSED = "intake:notice:not_processed"
    # pictures fingerprinted on the person's own device (intake.hash_submissions)
    HASH_SUBMISSION_RECEIVE = "intake:hash_submission:receive"
    HASH_SUBMISSION_SWEEP = "intake:hash_submission:sweep"
    HASH_SUBMISSION_VERIFY = "intake:hash_submission:verify"
    HASH_SUBMISSION_WITHDRAW = "intake:hash_submission:withdraw"
    TRUSTED_FLAGGER_ADD = "intake:trusted_flagger:add"
    NOTIFIER_WARN = "intake:notifier:warn"
    NOTIFIER_SUSPEND = "intake:notifier:suspend"
    # cases
    CASE_OPEN = "case:case:open"
    CASE_JOIN = "case:notice:join"
    CASE_URL_RESOLVED = "case:url:resolved"
    CASE_CLAIM = "case:claim:take"
    CASE_MEDIA_REVEAL = "case:media:reveal"  # a reviewer unblurred one item (counts against the budget)
    CASE_RELEASE = "case:claim:release"
    CASE_DECIDE_VIOLATES = "case:decision:violates"
    CASE_DECIDE_NO_VIOLATION = "case:decision:no_violation"
    CASE_DECIDE_ESCALATE = "case:decision:escalate"
    CASE_SECOND_REVIEW = "case:decision:second_review"
    CASE_ACTUAL_KNOWLEDGE = "case:knowledge:csam"
    CASE_AUTO_DECISION_SKIPPED = "case:decision:auto_skipped"
    CASE_COMMENT = "case:comment:add"  # an internal comment for colleagues
    CASE_ASSIGN = "case:assignment:assign"  # given to a person or a role (or taken back)
    CASE_ESCALATE_TO = "case:assignment:escalate"  # handed up to a person or a role, with the reason
    TRACK_OPEN = "case:track:open"
    TRACK_START = "case:track:start"
    TRACK_MET = "case:track:met"
    TRACK_NOT_APPLICABLE = "case:track:not_applicable"
    TRACK_REOPEN = "case:track:reopen"
    TRACK_ESCALATE = "case:track:escalate"
    TRACK_BREACH = "case:track:breach"
    # enforcement
    ACTION_APPLY = "enforcement:action:apply"
    ACTION_LIFT = "enforcement:action:lift"
    ACTION_ACK = "enforcement:action:ack"
    STRIKE_ADD = "enforcement:strike:add"
    STRIKE_REMOVE = "enforcement:strike:remove"
    SUSPENSION_WEIGH = "enforcement:suspension:weigh"  # DSA Art. 23(3): the weighing behind a suspension
    SWEEP_RUN = "enforcement:sweep:run"
    STAY_DOWN_BANK = "enforcement:stay_down:bank"
    DECISION_REVERSE = "enforcement:decision:reverse"
    # evidence
    EVIDENCE_STORE = "evidence:item:store"
    EVIDENCE_VIEW = "evidence:item:view"
    EVIDENCE_EXPORT = "evidence:item:export"
    EVIDENCE_PURGE = "evidence:item:purge"
    EVIDENCE_HOLD = "evidence:hold:place"
    EVIDENCE_HOLD_RELEASE = "evidence:hold:release"
    EVIDENCE_DESTROY_REQUEST = "evidence:destruction:request"
    EVIDENCE_DESTROY = "evidence:destruction:execute"
    # A hold ended by a law-enforcement request to destroy (18 U.S.C. 2258B(c)(2)).
    EVIDENCE_HOLD_OVERRIDE = "evidence:hold:override"
    EVIDENCE_REWRAP = "evidence:key:rotate"
    SCAN_PURGE = "matching:scan:purge"
    # authorities
    NCMEC_DRAFT = "authority:ncmec:draft"
    NCMEC_CONFIRM = "authority:ncmec:confirm"
    NCMEC_SUBMIT = "authority:ncmec:submit"
    NCMEC_UPLOAD = "authority:ncmec:upload"
    NCMEC_FINISH = "authority:ncmec:finish"
    NCMEC_RETRACT = "authority:ncmec:retract"
    NCA_DRAFT = "authority:nca:draft"
    NCA_CONFIRM = "authority:nca:confirm"
    NCA_OPEN = "authority:nca:open"  # the report exists at the NCA (its id is known)
    NCA_UPLOAD = "authority:nca:upload"
    NCA_SUBMIT = "authority:nca:submit"  # the NCA acknowledged the finished report
    NCA_RESTART = "authority:nca:restart"  # the NCA lost an unfinished report: it is made again
    # A reported file staydown never held: asked of the platform, received, refused, overdue,
    # no longer needed, or a report filed without it on a specialist's reasoned decision.
    NCMEC_FILE_REQUEST = "authority:ncmec:file_request"
    NCMEC_FILE_RECEIVED = "authority:ncmec:file_received"
    NCMEC_FILE_UNAVAILABLE = "authority:ncmec:file_unavailable"
    NCMEC_FILE_OVERDUE = "authority:ncmec:file_overdue"
    NCMEC_FILE_WITHDRAWN = "authority:ncmec:file_withdrawn"
    NCMEC_FILE_WAIVE = "authority:ncmec:file_waive"
    DSA18_NOTIFY = "authority:dsa18:notify"
    DSA18_SENT = "authority:dsa18:sent"
    LE_REQUEST = "authority:law_enforcement:request"
    # appeals and out-of-court disputes
    APPEAL_FILE = "appeal:appeal:file"
    APPEAL_CLAIM = "appeal:appeal:claim"
    APPEAL_RELEASE = "appeal:appeal:release"
    APPEAL_DECIDE = "appeal:appeal:decide"
    APPEAL_WITHDRAW = "appeal:appeal:withdraw"
    APPEAL_ESCALATE = "appeal:appeal:escalate"
    APPEAL_BREACH = "appeal:appeal:breach"
    DISPUTE_OPEN = "appeal:dispute:open"
    DISPUTE_OUTCOME = "appeal:dispute:outcome"
    DISPUTE_IMPLEMENTED = "appeal:dispute:implemented"
    # transparency: statements of reasons and the EU Transparency Database
    STATEMENT_ISSUE = "transparency:statement:issue"
    TDB_SUBMIT = "transparency:tdb:submit"
    TDB_FAIL = "transparency:tdb:fail"
    TDB_REQUEUE = "transparency:tdb:requeue"
    # transparency: consistency checks and decision exceptions (issue #8 item 5)
    CONSISTENCY_SAMPLE = "transparency:consistency:sample"
    CONSISTENCY_OPINION = "transparency:consistency:opinion"
    DECISION_EXCEPTION = "transparency:consistency:exception"
    # hash exchanges (python-threatexchange): configuration, fetches, feedback, sharing out
    EXCHANGE_ADD = "exchanges:exchange:add"
    EXCHANGE_UPDATE = "exchanges:exchange:update"
    EXCHANGE_DELETE = "exchanges:exchange:delete"
    EXCHANGE_FETCH = "exchanges:fetch:finish"
    EXCHANGE_FETCH_FAIL = "exchanges:fetch:fail"
    EXCHANGE_FEEDBACK = "exchanges:feedback:send"
    EXCHANGE_SHARE_PROPOSE = "exchanges:share:propose"
    EXCHANGE_SHARE_APPROVE = "exchanges:share:approve"
    EXCHANGE_SHARE_SEND = "exchanges:share:send"
    # outbox
    JOB_DEAD = "delivery:job:dead"
    JOB_REQUEUE = "delivery:job:requeue"
    # audit itself
    AUDIT_CHECKPOINT = "audit:log:checkpoint"


def tag_value(tag: AuditTag | str) -> str:
    value = tag.value if isinstance(tag, AuditTag) else tag
    # Refuse free-form tags: the enum is the vocabulary, so reports can count by tag.
    AuditTag(value)
    return value
