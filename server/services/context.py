"""Who is acting: a small immutable value the API hands to services (never the ORM user itself)."""

from __future__ import annotations

from dataclasses import dataclass

from server.models import Role


@dataclass(frozen=True)
class Actor:
    id: int
    username: str
    full_name: str
    role: Role
    unit_id: int
    unit_code: str
    unit_name: str
    ip: str = ""

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN
