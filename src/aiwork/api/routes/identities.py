"""Identities, roles and credits."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from aiwork.api.deps import Admin, AnySigner, Expert, StateDep, body
from aiwork.api.openapi import operation
from aiwork.api.state import State
from aiwork.contract import requests as rq
from aiwork.crypto import public_key_from_did

__all__ = ["router"]

router = APIRouter()


def welcome(state: State, did: str, role: str, status: str) -> None:
    """A new requester's starting credits (``aiwork serve --starting-credits``)."""
    credits = state.settings.starting_credits
    if role == "requester" and status == "granted" and credits > 0:
        state.coordinator().grant_credits(did, credits, "starting credits for a new requester")


@operation(router, "request_role")
async def request_role(signed: AnySigner, state: StateDep) -> dict[str, Any]:
    role = body(rq.RoleRequest, signed).role
    with state.lock:
        before = state.identities().status(signed.did).get(role)
        status = state.identities().request(signed.did, role,
                                            open_registration=state.settings.open_registration)
        if before != "granted":
            welcome(state, signed.did, role, status)
    return {"did": signed.did, "role": role, "status": status}


@operation(router, "approve_role")
async def approve_role(signed: Admin, state: StateDep) -> dict[str, Any]:
    grant = body(rq.RoleGrantRequest, signed)
    with state.lock:
        before = state.identities().status(grant.did).get(grant.role)
        state.identities().approve(signed.did, grant.did, grant.role)
        if before != "granted":
            welcome(state, grant.did, grant.role, "granted")
    return {"did": grant.did, "role": grant.role, "status": "granted"}


@operation(router, "grant_credits")
async def grant_credits(signed: Admin, state: StateDep) -> dict[str, Any]:
    grant = body(rq.CreditGrantRequest, signed)
    reason = grant.reason or f"granted by {signed.did}"
    with state.lock:
        index = state.coordinator().grant_credits(grant.to, grant.amount, reason)
        account = state.coordinator().accounts.account(grant.to)
    return {"entry": index, **account.to_json()}


@operation(router, "get_credits")
async def get_credits(did: str, state: StateDep) -> dict[str, Any]:
    return state.coordinator().accounts.account(did).to_json()


@operation(router, "get_identity")
async def get_identity(did: str, state: StateDep) -> dict[str, Any]:
    return {"did": did, "roles": state.identities().status(did)}


@operation(router, "declare_owned_keys")
async def declare_owned_keys(signed: Expert, state: StateDep) -> dict[str, Any]:
    keys = body(rq.OwnedKeysRequest, signed).keys
    for key in keys:
        public_key_from_did(key)
    with state.lock:
        for key in keys:
            # Only the caller can say what it owns: a worker cannot name an expert as its
            # owner to keep that expert away from its items.
            state.coordinator().review.set_owner(key, signed.did)
    return {"did": signed.did, "owns": keys}
