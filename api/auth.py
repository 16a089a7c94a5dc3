"""Bearer-token authentication and roles.

Tokens are random strings shown once by ``outage-dispatch token create``; the store keeps only
their HMAC-SHA256 under the server's secret, so a copy of the database grants nothing.

Roles: ``call_taker`` files calls; ``dispatcher`` plans, assigns and manages everything;
``crew`` updates its own crew and the orders it works on; ``viewer`` reads. Every role reads.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from api.store import Store

ROLES = ("call_taker", "dispatcher", "crew", "viewer")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a role, and for the crew role the crew it speaks for."""

    role: str
    crew_id: str | None = None
    anonymous: bool = False


def token_hash(secret: str, token: str) -> str:
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def create_token(store: Store, secret: str, role: str, crew_id: str | None = None) -> str:
    """A new token for ``role`` (a crew token names its crew); only its hash is stored."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose from {', '.join(ROLES)}")
    if (role == "crew") != bool(crew_id):
        raise ValueError("a crew token needs --crew ID, and only a crew token takes one")
    token = "odk_" + secrets.token_urlsafe(32)
    store.add_key(secrets.token_hex(8), token_hash(secret, token), role, crew_id)
    return token


def revoke_token(store: Store, secret: str, token: str) -> bool:
    """Revoke a token; a running server refuses it within ``TokenCache.ttl_s``."""
    return store.revoke_key(token_hash(secret, token))


class TokenCache:
    """Resolves tokens to principals, remembering each answer for ``ttl_s`` seconds, so a
    request costs no store read and a revoked token stops working within that time."""

    def __init__(self, store: Store, secret: str, *, ttl_s: float = 30.0) -> None:
        self.store = store
        self.secret = secret
        self.ttl_s = ttl_s
        self._known: dict[str, tuple[float, Principal]] = {}

    def cached(self, token: str) -> Principal | None:
        """The principal of a token checked within ``ttl_s``, without asking the store."""
        hit = self._known.get(token)
        return hit[1] if hit is not None and time.monotonic() - hit[0] < self.ttl_s else None

    def principal(self, token: str) -> Principal | None:
        """The principal of a live token, asking the store; None for an unknown or revoked one."""
        row = self.store.key(token_hash(self.secret, token))
        if row is None:
            self._known.pop(token, None)
            return None
        found = Principal(row[0], row[1])
        self._known[token] = (time.monotonic(), found)
        return found
