"""Secrets masked by meaning, not by exact string: the one function every output path uses.

`mask(text, secrets, patterns)` hides
- each configured secret (e.g. the resolved Slack webhook URL) and, for a URL, every part of
  it that can carry a token: its path segments and query values (an error body that echoes
  the request path, or a URL logged with another scheme, holds those parts, not the URL);
- every match of the configured `secret_patterns` (Config.secret_patterns);
- the path of anything that looks like a webhook URL, whatever its scheme (an `htps://` typo
  is still a webhook): a `hooks.` host or a `/services/`, `/workflows/` or `/triggers/` path.

`masker(...)` applies it to every string inside a decoded JSON value (history events,
execution output and causes, report frames).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

MASK = "***"
REDACTED = "<redacted>"  # what stored records and history views show instead
# Path words that name the kind of hook, not the secret: left readable.
_PLAIN_SEGMENTS = frozenset(
    {"services", "hooks", "hook", "api", "webhook", "webhooks", "triggers", "workflows", "v1", "v2"}
)
_MIN_PART = 4  # shorter parts carry no secret worth the false matches
_WEBHOOK_URL = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]{0,15}:/+(?P<host>[^/\s\"'<>]+))"
    r"(?P<path>/[^\s\"'<>]*)"
)
# What separates the token parts of a URL's path and query as written (control characters
# and whitespace included: they cannot be part of a token).
_SEPARATORS = re.compile(r"[/?#&=;\s\x00-\x1f\x7f]+")
_WEBHOOK_PATH = re.compile(r"^/(services|workflows|triggers)/", re.IGNORECASE)


def secret_parts(secret: str) -> list[str]:
    """The secret itself and, for a URL, the parts of it that can carry a token; longest
    first, so a whole URL is masked before its pieces."""
    secret = secret.strip()
    if not secret:
        return []
    parts = {secret}
    try:
        split = urlsplit(secret)
    except ValueError:
        split = None
    if split is not None and split.scheme and split.netloc:
        if split.path.strip("/"):
            parts.add(split.path)
        for segment in split.path.split("/"):
            if len(segment) >= _MIN_PART and segment.lower() not in _PLAIN_SEGMENTS:
                parts.add(segment)
        for _key, value in parse_qsl(split.query, keep_blank_values=False):
            if len(value) >= _MIN_PART:
                parts.add(value)
        if split.password:
            parts.add(split.password)
        # The parts as written, too: urlsplit drops tabs and newlines inside the URL (so its
        # segments are not the text an error message echoes), and a server may echo a
        # percent-encoded segment decoded.
        after_host = secret.split("://", 1)[-1].partition("/")[2]
        for piece in _SEPARATORS.split(after_host):
            for form in {piece, unquote(piece)}:
                if len(form) >= _MIN_PART and form.lower() not in _PLAIN_SEGMENTS:
                    parts.add(form)
    return sorted(parts, key=len, reverse=True)


def _looks_like_webhook(host: str, path: str) -> bool:
    return host.lower().startswith("hooks.") or bool(_WEBHOOK_PATH.match(path))


def mask(
    text: str,
    secrets: Iterable[str | None] = (),
    patterns: Iterable[str | re.Pattern[str]] = (),
    *,
    marker: str = MASK,
) -> str:
    """`text` with every configured secret (and its token parts), every pattern match and
    the path of every webhook-looking URL replaced by `marker`."""
    if not isinstance(text, str) or not text:
        return text
    for secret in secrets:
        if isinstance(secret, str):
            for part in secret_parts(secret):
                text = text.replace(part, marker)
    for pattern in patterns:
        text = re.sub(pattern, marker, text)

    def hide_path(match: re.Match[str]) -> str:
        if _looks_like_webhook(match.group("host"), match.group("path")):
            return f"{match.group('head')}/{marker}"
        return match.group(0)

    return _WEBHOOK_URL.sub(hide_path, text)


def masker(
    secrets: Iterable[str | None] = (),
    patterns: Iterable[str] = (),
    *,
    marker: str = MASK,
) -> Callable[[Any], Any]:
    """A function masking every string inside a decoded JSON value (dict keys included)."""
    kept = [s for s in secrets if isinstance(s, str) and s.strip()]
    compiled = [re.compile(p) for p in patterns]

    def apply(value: Any) -> Any:
        if isinstance(value, str):
            return mask(value, kept, compiled, marker=marker)
        if isinstance(value, dict):
            return {apply(k): apply(v) for k, v in value.items()}
        if isinstance(value, list):
            return [apply(v) for v in value]
        if isinstance(value, tuple):
            return tuple(apply(v) for v in value)
        return value

    return apply


__all__ = ["MASK", "REDACTED", "mask", "masker", "secret_parts"]
