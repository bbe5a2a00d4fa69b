"""The roles an identity holds on a coordinator: the one list of them."""

from __future__ import annotations

__all__ = ["REQUESTABLE_ROLES", "ROLES"]

#: Every role, in the order they are listed to users.
ROLES = ("requester", "worker", "expert", "auditor", "admin")
#: The roles an identity may ask for itself; ``admin`` is only granted by an admin.
REQUESTABLE_ROLES = tuple(role for role in ROLES if role != "admin")
