"""Identities and their roles on a coordinator; every grant is a ``role.granted`` entry."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from aiwork.config import home
from aiwork.crypto import SigningKey, public_key_from_did, read_key_file, write_key_file
from aiwork.errors import InputError, RoleError
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log
from aiwork.model.roles import ROLES
from aiwork.store import Migration

__all__ = ["ROLES", "Identities", "coordinator_key"]


def _tables(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE identity_roles (did TEXT NOT NULL, role TEXT NOT NULL,"
        " status TEXT NOT NULL, requested_at TEXT NOT NULL, granted_by TEXT,"
        " entry INTEGER, PRIMARY KEY (did, role))"
    )


MIGRATIONS = [Migration("identities-0001-roles", _tables)]


class Identities:
    def __init__(self, log: Log, key: SigningKey) -> None:
        self.log = log
        self.key = key
        log.db.migrate(MIGRATIONS)

    def roles(self, did: str) -> set[str]:
        rows = self.log.db.conn.execute(
            "SELECT role FROM identity_roles WHERE did = ? AND status = 'granted'", (did,)
        ).fetchall()
        return {row[0] for row in rows}

    def holders(self, role: str) -> list[str]:
        """Every identity granted ``role``."""
        rows = self.log.db.conn.execute(
            "SELECT did FROM identity_roles WHERE role = ? AND status = 'granted'", (role,)
        ).fetchall()
        return [str(row[0]) for row in rows]

    def status(self, did: str) -> dict[str, str]:
        rows = self.log.db.conn.execute(
            "SELECT role, status FROM identity_roles WHERE did = ?", (did,)
        ).fetchall()
        return {role: status for role, status in rows}

    def require(self, did: str, *roles: str) -> None:
        if not self.roles(did) & set(roles):
            raise RoleError(f"{did} does not hold the role {' or '.join(roles)}",
                            hint="ask for it with `aiwork register --role ROLE`")

    def request(self, did: str, role: str, *, open_registration: bool) -> str:
        """Ask for ``role``; granted at once on an open coordinator, else pending."""
        if role not in ROLES:
            raise InputError(f"unknown role {role!r}", hint=f"one of: {', '.join(ROLES)}")
        public_key_from_did(did)
        if role == "admin":
            raise RoleError("the admin role is granted only by an admin")
        current = self.status(did).get(role)
        if current == "granted":
            return current
        if open_registration:
            self._grant(did, role, granted_by=None)
            return "granted"
        with self.log.db.atomic() as conn:
            conn.execute(
                "INSERT INTO identity_roles (did, role, status, requested_at)"
                " VALUES (?, ?, 'pending', ?) ON CONFLICT (did, role) DO NOTHING",
                (did, role, datetime.now(UTC).isoformat()))
        return "pending"

    def approve(self, admin: str, did: str, role: str) -> None:
        self.require(admin, "admin")
        if role not in ROLES:
            raise InputError(f"unknown role {role!r}", hint=f"one of: {', '.join(ROLES)}")
        public_key_from_did(did)
        self._grant(did, role, granted_by=admin)

    def bootstrap_admin(self, did: str) -> None:
        if "admin" not in self.roles(did):
            self._grant(did, "admin", granted_by=self.key.did)

    def _grant(self, did: str, role: str, *, granted_by: str | None) -> None:
        entry = sign_entry(self.key, "role.granted",
                           {"subject": did, "role": role, "granted_by": granted_by})
        with self.log.db.atomic() as conn:
            index = self.log.append([entry])[0].index
            conn.execute(
                "INSERT INTO identity_roles (did, role, status, requested_at, granted_by, entry)"
                " VALUES (?, ?, 'granted', ?, ?, ?) ON CONFLICT (did, role) DO UPDATE SET"
                " status = 'granted', granted_by = excluded.granted_by, entry = excluded.entry",
                (did, role, datetime.now(UTC).isoformat(), granted_by, index),
            )


def coordinator_key() -> SigningKey:
    """The coordinator's own identity, ``$AIWORK_HOME/coordinator.key`` (made on first use)."""
    path = home() / "coordinator.key"
    if path.exists():
        return read_key_file(path)
    key = SigningKey.generate()
    write_key_file(path, key)
    return key
