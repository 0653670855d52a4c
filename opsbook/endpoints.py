"""Whether an AWS endpoint is a local emulator (moto): the one decision the backend and the
starter Lambda share before they use an emulator workaround. Standard library only, so the
function zip carries it without the rest of opsbook.backends."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlparse


def is_loopback(url: str | None) -> bool:
    """Whether an endpoint URL names this machine (127.0.0.0/8, ::1 or localhost)."""
    host = urlparse(url or "").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_local_emulator(flag: bool, endpoint_url: str | None) -> bool:
    """True when config says so (`local_emulator`) or the endpoint is a loopback address;
    against AWS every error surfaces as it is."""
    return bool(flag) or is_loopback(endpoint_url)
