"""A scan that holds or blocks identified content: it opens (or joins) a case for a person to confirm
(`flows.decisions.submit_detection`), the upload goes into the vault with what it carried (evidence,
CSAM-3), and then knowledge and any automated decision follow (`flows.decisions.act_on_detection`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from staydown.actors import SYSTEM
from staydown.cases.rules import CaseRules
from staydown.evidence.vault import Vault, store_item
from staydown.flows.decisions import act_on_detection, submit_detection
from staydown.matching.scanning import ScanOutcome
from staydown.policies.catalogue import Catalogue
from staydown.subjects.queries import content_by_platform_id
from staydown.subjects.schemas import ContentRef


def on_detection(
    db: Session,
    *,
    outcome: ScanOutcome,
    content: ContentRef,
    data: bytes | None,
    uploader_ip: str | None,
    uploader_port: int | None,
    uploaded_at: datetime | None,
    original_filename: str | None,
    catalogue: Catalogue,
    rules: CaseRules,
    engine: Any,
    vault: Vault,
) -> None:
    """Held or blocked material may be reported, and the platform may never have stored a blocked
    upload: the case first, then the upload into the vault, then what the detection decides."""
    receipt = submit_detection(
        db,
        content_platform_id=content.id,
        account_platform_id=content.account.id if content.account else None,
        matches=outcome.matches,
        verdict=outcome.verdict,
        catalogue=catalogue,
        rules=rules,
        engine=engine,
        act=False,
    )
    outcome.extra["case_ids"] = [c.id for c in receipt.cases]
    if data is not None:
        stored = content_by_platform_id(db, content.id)
        at = uploaded_at.isoformat() if uploaded_at else None
        store_item(
            db,
            actor=SYSTEM,
            vault=vault,
            data=data,
            content_id=stored.id,
            case_id=receipt.cases[0].id if receipt.cases else None,
            context={
                "account_id": content.account.id if content.account else None,
                "ip_capture": [{"ip": uploader_ip, "port": uploader_port, "event": "Upload", "at": at}]
                if uploader_ip
                else [],
                "uploaded_at": at,
                "scan_id": outcome.scan_id,
                "matches": [m.to_dict() for m in outcome.matches[:5]],
            },
            media_type=outcome.media.get("format", "application/octet-stream"),
            original_filename=original_filename,
        )
    # Knowledge and any automated decision come once the upload is in the vault, so that what the
    # decision banks and a report carries can be taken from the file itself.
    act_on_detection(
        db,
        receipt=receipt,
        matches=outcome.matches,
        verdict=outcome.verdict,
        catalogue=catalogue,
        rules=rules,
    )
