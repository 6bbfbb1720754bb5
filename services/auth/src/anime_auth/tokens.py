"""Refresh tokens: opaque random strings, known to the database only by their SHA-256."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# 32 random bytes: 256 bits, beyond guessing.
_TOKEN_BYTES = 32


def new_refresh_token() -> str:
    return secrets.token_urlsafe(_TOKEN_BYTES)


def hash_refresh_token(token: str) -> str:
    # A plain SHA-256 suffices: the token has 256 bits of entropy, nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def successor_token(token: str, *, key: str) -> str:
    """The token that replaces `token` at rotation: a keyed digest of it.

    Deriving the successor (instead of drawing it at random) is what lets a
    client that lost the answer to a refresh retry with the same token and get
    the same successor back, while only hashes are ever stored.
    """
    digest = hmac.new(key.encode(), b"refresh-successor:" + token.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def throttle_key(value: str) -> str:
    """How an account name or address is stored in the failure counters (never as typed)."""
    return hashlib.sha256(value.encode()).hexdigest()
