"""Secrets in settings: masked wherever settings are shown, stored or logged, and recognised on the
way back in so that a document read from the API can be sent back unchanged.

Secret are: notification channel URLs (their tokens and passwords, as Apprise's privacy URL shows
them), passwords in any URL (the database's, the rate-limit storage's), in its user part or its query,
and any key whose name says token, password or secret.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import apprise

from jobpulse.sidecar.alerting.delivery import MASK, masked_url

_CHANNEL_URL = re.compile(r"alerting\.channels\[\d+\]\.url")
_SECRET_NAMES = ("token", "password", "secret")


def mask_value(path: str, value: Any) -> Any:
    """``value`` as it may be shown, given its key path."""
    if not isinstance(value, str) or not value:
        return value
    if _CHANNEL_URL.fullmatch(path):
        service = apprise.Apprise.instantiate(value, suppress_exceptions=True)
        scheme = value.split("://", 1)[0] if "://" in value else "?"
        return masked_url(service) if service is not None else f"{scheme}://{MASK}"
    name = path.rsplit(".", 1)[-1].lower()
    if any(word in name for word in _SECRET_NAMES):
        return MASK
    return _without_password(value)


def _without_password(value: str) -> str:
    """A URL with the password of its user part and the values of secret-named query parameters
    (``?password=``, as Redis and PostgreSQL drivers take them) masked; anything else as it is."""
    if "://" not in value:
        return value
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:
        return value
    netloc = parts.netloc
    if password:
        user = parts.username or ""
        netloc = netloc.replace(f"{user}:{password}@", f"{user}:{MASK}@", 1)
    query = "&".join(_masked_parameter(parameter) for parameter in parts.query.split("&")) if parts.query else ""
    if (netloc, query) == (parts.netloc, parts.query):
        return value
    return parts._replace(netloc=netloc, query=query).geturl()


def _masked_parameter(parameter: str) -> str:
    name, equals, _ = parameter.partition("=")
    return f"{name}={MASK}" if equals and any(word in name.lower() for word in _SECRET_NAMES) else parameter


def masked(document: Any, path: str = "") -> Any:
    """A copy of ``document`` with every secret masked."""
    if isinstance(document, dict):
        return {key: masked(value, f"{path}.{key}" if path else key) for key, value in document.items()}
    if isinstance(document, list):
        return [masked(value, f"{path}[{index}]") for index, value in enumerate(document)]
    return mask_value(path, document)


def unmasked(incoming: Any, current: Any, path: str = "") -> Any:
    """``incoming`` with every masked secret that matches one of ``current`` put back.

    A client that reads the configuration, changes a threshold and sends the document back sends
    masked channel URLs: they mean "keep this one", found by their masked form (channels may have
    moved in the list).
    """
    if isinstance(incoming, dict):
        here = current if isinstance(current, dict) else {}
        return {
            key: unmasked(value, here.get(key), f"{path}.{key}" if path else key) for key, value in incoming.items()
        }
    if isinstance(incoming, list):
        known = current if isinstance(current, list) else []
        return [
            _unmasked_entry(value, known, f"{path}[{index}]") if isinstance(value, dict) else value
            for index, value in enumerate(incoming)
        ]
    if isinstance(incoming, str) and current != incoming and mask_value(path, current) == incoming:
        return current
    return incoming


def _unmasked_entry(entry: dict[str, Any], known: list[Any], path: str) -> dict[str, Any]:
    restored = dict(entry)
    for key, value in entry.items():
        for candidate in known:
            original = candidate.get(key) if isinstance(candidate, dict) else None
            if isinstance(value, str) and original != value and mask_value(f"{path}.{key}", original) == value:
                restored[key] = original
                break
    return restored
