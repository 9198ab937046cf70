"""Who did something: a staff user, an API client, the public, or the named system actor."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ActorKind(str, enum.Enum):
    staff = "staff"
    api_client = "api_client"
    public = "public"
    system = "system"


@dataclass(frozen=True, slots=True)
class Actor:
    kind: ActorKind
    id: str
    label: str
    permissions: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.id or not self.label:
            raise ValueError("an actor needs an id and a label; automation acts as SYSTEM")

    @classmethod
    def staff(cls, user_id: int, username: str, permissions: frozenset[str] = frozenset()) -> Actor:
        return cls(ActorKind.staff, str(user_id), username, permissions)

    @classmethod
    def api_client(cls, client_id: int, name: str, permissions: frozenset[str] = frozenset()) -> Actor:
        return cls(ActorKind.api_client, str(client_id), name, permissions)

    @classmethod
    def public(cls, reference: str = "anonymous") -> Actor:
        return cls(ActorKind.public, reference, "public")

    @property
    def ref(self) -> str:
        return f"{self.kind.value}:{self.id}"


SYSTEM = Actor(ActorKind.system, "staydown", "staydown system")
CLI_OPERATOR = Actor(ActorKind.system, "cli", "command line operator")
