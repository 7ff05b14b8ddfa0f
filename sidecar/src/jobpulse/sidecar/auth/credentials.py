"""Token and ticket secrets: how they are made, how they look, and how a token's secret is stored.

A token reads ``jp_<id>_<secret>``: the id (16 hex digits) finds its row, the secret (256 random bits)
proves it. Only a salted scrypt hash of the secret is stored, compared in constant time. A 256-bit
random secret cannot be guessed from its hash however fast the hash is; scrypt is there so that a
copy of the database is worth nothing even to someone who could try secrets at scale, and costs the
sidecar one hash per token per process, since verified tokens are cached (see authenticator).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import msgspec

PREFIX = "jp"

# scrypt's recommended interactive parameters: about 16 MiB and a few tens of milliseconds a hash.
_N, _R, _P = 2**14, 8, 1
_SCHEME = "scrypt"


class TokenParts(msgspec.Struct, frozen=True):
    """A presented token split into its id and its secret."""

    id: str
    secret: str


def new_token() -> tuple[TokenParts, str]:
    """A fresh token: its parts, and the text handed to its owner once."""
    parts = TokenParts(id=secrets.token_hex(8), secret=secrets.token_urlsafe(32))
    return parts, f"{PREFIX}_{parts.id}_{parts.secret}"


def split_token(token: str) -> TokenParts | None:
    """The id and secret of ``token``, or None when it is not shaped like a jobpulse token."""
    prefix, _, rest = token.partition("_")
    token_id, _, secret = rest.partition("_")
    if prefix != PREFIX or len(token_id) != 16 or not secret or len(secret) > 100:
        return None
    return TokenParts(id=token_id, secret=secret)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=64 * 1024 * 1024)


def hash_secret(secret: str) -> str:
    """The stored form of ``secret``: scheme, parameters, salt and hash, so parameters can change later."""
    salt = secrets.token_bytes(16)
    return f"{_SCHEME}${_N}${_R}${_P}${_b64(salt)}${_b64(_scrypt(secret, salt, _N, _R, _P))}"


def secret_matches(secret: str, stored: str) -> bool:
    """Whether ``secret`` is the one ``stored`` was made from (constant time in the hash compared)."""
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != _SCHEME:
            return False
        actual = _scrypt(secret, _unb64(salt), int(n), int(r), int(p))
        return hmac.compare_digest(actual, _unb64(expected))
    except ValueError:
        return False


def fingerprint(text: str) -> str:
    """SHA-256 of ``text`` in hex: the key a verified token is cached under, and how a ticket is stored."""
    return hashlib.sha256(text.encode()).hexdigest()


def new_ticket() -> str:
    """A WebSocket ticket: 192 random bits, URL-safe."""
    return secrets.token_urlsafe(24)
