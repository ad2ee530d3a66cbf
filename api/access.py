"""Who may call what, and how often: API keys with roles, and rate limits per key and per client address.

Every route depends on :func:`reader` or on ``require(role)``. Reading is public unless
``HOUSING_KB_REQUIRE_KEY=1``; writing always needs a key of a sufficient role. Rate limits use the
``limits`` library's moving window, in process memory by default or in a shared store
(``HOUSING_KB_RATE_LIMIT_STORAGE=redis://...``) when several servers must count together.

>>> _limit("10/second").amount
10
>>> _limit("off") is None
True
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request
from limits import RateLimitItem, parse, storage, strategies

from housing_kb.api.keys import ApiKey, KeyStore, Role, role_allows
from housing_kb.config import RATE_LIMIT_OFF, Settings


class AccessDenied(Exception):
    """401 (no usable key) or 403 (a key of too low a role), naming the role needed."""

    def __init__(self, status: int, needed: Role, message: str) -> None:
        self.status = status
        self.needed = needed
        super().__init__(message)


class RateLimited(Exception):
    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


def _limit(rate: str) -> RateLimitItem | None:
    """The limit a setting names (already validated by :class:`Settings`), or None when it is off."""
    return None if rate.strip().lower() in RATE_LIMIT_OFF else parse(rate)


@dataclass
class AccessPolicy:
    keys: KeyStore
    #: Whether reading needs a reader key too (HOUSING_KB_REQUIRE_KEY=1).
    require_key: bool = False
    #: Requests per client address (HOUSING_KB_RATE_LIMIT), and per key (HOUSING_KB_KEY_RATE_LIMIT);
    #: None: no limit.
    per_address: RateLimitItem | None = None
    per_key: RateLimitItem | None = None
    limiter: strategies.RateLimiter | None = None

    @classmethod
    def from_settings(cls, settings: Settings, keys: KeyStore) -> AccessPolicy:
        return cls(
            keys=keys,
            require_key=settings.require_key,
            per_address=_limit(settings.rate_limit),
            per_key=_limit(settings.key_rate_limit),
            limiter=strategies.MovingWindowRateLimiter(
                storage.storage_from_string(settings.rate_limit_storage)
            ),
        )

    def key_of(self, request: Request) -> ApiKey | None:
        """The key the request presents; a key that is presented but unknown or revoked is a 401 even
        where none is needed, so a client never mistakes a dead key for a working one."""
        header = request.headers.get("authorization", "")
        if not header:
            return None
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise AccessDenied(401, "reader", "send the key as 'Authorization: Bearer KEY'")
        key = self.keys.verify(secret.strip())
        if key is None:
            raise AccessDenied(401, "reader", "this API key is unknown or has been revoked")
        return key

    def count(self, request: Request, key: ApiKey | None) -> None:
        """Count the request against its key's limit when it has one, else its address's limit."""
        if self.limiter is None:
            return
        if key is not None:
            item, who, scope = self.per_key, key.key_id, "this key (HOUSING_KB_KEY_RATE_LIMIT)"
        else:
            address = request.client.host if request.client else "unknown"
            item, who, scope = self.per_address, address, "this address (HOUSING_KB_RATE_LIMIT)"
        if item is None or self.limiter.hit(item, "housing-kb", who):
            return
        reset_at = self.limiter.get_window_stats(item, "housing-kb", who).reset_time
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise RateLimited(f"more than {_rate(item)} from {scope}; try again in {retry_after} s", retry_after)


def _rate(item: RateLimitItem) -> str:
    """ "300 requests per minute", "10 requests per 5 seconds"."""
    unit = item.GRANULARITY.name
    per = unit if item.multiples == 1 else f"{item.multiples} {unit}s"
    return f"{item.amount} requests per {per}"


def _policy(request: Request) -> AccessPolicy:
    return request.app.state.access


def reader(request: Request) -> ApiKey | None:
    """The dependency of every reading route: counts the request, and wants a key when reading is not public."""
    policy = _policy(request)
    key = policy.key_of(request)
    policy.count(request, key)
    if key is None and policy.require_key:
        raise AccessDenied(
            401,
            "reader",
            "this server needs an API key to read (role reader or above): Authorization: Bearer KEY",
        )
    return key


def require(needed: Role) -> Callable[[Request], ApiKey]:
    """A dependency that lets through only keys of role ``needed`` or above, and returns the key."""

    def dependency(request: Request) -> ApiKey:
        policy = _policy(request)
        key = policy.key_of(request)
        policy.count(request, key)
        if key is None:
            raise AccessDenied(
                401, needed, f"this needs an API key of role {needed} or above: Authorization: Bearer KEY"
            )
        if not role_allows(key.role, needed):
            raise AccessDenied(
                403, needed, f"this needs role {needed} or above; the key {key.name!r} has role {key.role}"
            )
        return key

    dependency.__name__ = f"require_{needed}"
    return dependency
