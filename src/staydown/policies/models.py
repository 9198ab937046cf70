"""Every version of every policy that was ever in force, so a decision's `id@version` stays citable."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from staydown.db import Base, BigIntPK, UTCDateTime


class PolicyVersion(Base):
    __tablename__ = "policy_versions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    policy_id: Mapped[str] = mapped_column(sa.String(80), nullable=False)
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    digest: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    document: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False)
    # The newest version of each policy is current; older ones stay for citation and appeal.
    is_current: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    added_by: Mapped[str] = mapped_column(sa.String(200), nullable=False)

    __table_args__ = (sa.UniqueConstraint("policy_id", "version", name="uq_policy_versions_policy_id_version"),)
