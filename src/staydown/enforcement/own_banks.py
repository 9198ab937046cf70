"""The platform's own banks, one per policy: where items confirmed by review are banked for stay-down."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown.actors import Actor
from staydown.matching import banks
from staydown.matching.models import Bank
from staydown.policies.schema import Policy


def own_bank(db: Session, *, actor: Actor, policy: Policy) -> Bank:
    """The platform's own bank for a policy, created on first use."""
    name = f"own-{policy.id}"
    found = db.execute(sa.select(Bank).where(Bank.name == name)).scalar_one_or_none()
    if found is not None:
        return found
    return banks.create_bank(
        db,
        actor=actor,
        name=name,
        source="own",
        policy_id=policy.id,
        action_on_match="block",
        confirmed_material=True,
        permitted_purpose=f"stay-down of items confirmed by review under {policy.title}: "
        "block re-uploads and find stored copies",
        description="filled by staydown from confirmed cases",
    )
