"""The Python client for platforms: scan uploads, send notices, receive and acknowledge actions.

    from staydown.client import Client

    with Client("https://staydown.example", api_key) as staydown:
        result = staydown.scan(data, content_id="post-42", account_id="u-7", uploader_ip=ip)
        if result.blocked: ...            # refuse the upload
        elif result.held: ...             # keep it out of public view until reviewed

`AsyncClient` has the same methods, awaited. Results are pydantic models (`ScanResult`,
`NoticeReceipt`, `Action`, ...); errors are `StaydownAPIError` subclasses by status, and
`StaydownConnectionError` when no answer came. `verify_webhook` checks the webhooks staydown sends.
"""

from staydown.client._core import RetryPolicy
from staydown.client.clients import AsyncClient, Client
from staydown.client.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    StaydownAPIError,
    StaydownClientError,
    StaydownConnectionError,
)
from staydown.client.models import (
    Account,
    Action,
    ActionPage,
    Content,
    Deadline,
    EvidenceReceipt,
    Match,
    NoticeReceipt,
    ScanResult,
    WebhookEvent,
)
from staydown.client.webhooks import (
    InvalidWebhookSignature,
    MalformedWebhook,
    ReplayedWebhook,
    StaleWebhook,
    WebhookRejected,
    verify_webhook,
)

__all__ = [
    "Account",
    "Action",
    "ActionPage",
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "ConflictError",
    "Content",
    "Deadline",
    "EvidenceReceipt",
    "InvalidInputError",
    "InvalidWebhookSignature",
    "MalformedWebhook",
    "Match",
    "NotFoundError",
    "NoticeReceipt",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ReplayedWebhook",
    "RetryPolicy",
    "ScanResult",
    "ServerError",
    "StaleWebhook",
    "StaydownAPIError",
    "StaydownClientError",
    "StaydownConnectionError",
    "WebhookEvent",
    "WebhookRejected",
    "verify_webhook",
]
