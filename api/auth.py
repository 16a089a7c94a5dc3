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


class TokenCache:
    """Resolves tokens to principals, remembering the answers (keys are only ever added)."""

    def __init__(self, store: Store, secret: str) -> None:
        self.store = store
        self.secret = secret
        self._known: dict[str, Principal] = {}

    def cached(self, token: str) -> Principal | None:
        """The principal of a token seen before, without asking the store."""
        return self._known.get(token)

    def principal(self, token: str) -> Principal | None:
        found = self._known.get(token)
        if found is None:
            row = self.store.key(token_hash(self.secret, token))
            if row is None:
                return None
            found = Principal(row[0], row[1])
            self._known[token] = found
        return found
