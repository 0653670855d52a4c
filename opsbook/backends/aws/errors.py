"""How AWS errors read in opsbook: a botocore error becomes the one-line opsbook error the CLI
prints (exit 2 for configuration, 1 for a failed operation). Kept apart from the backend so the
deploy steps and the backend import it without importing each other."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

from opsbook.errors import ConfigError, OperationFailed

NO_CREDENTIALS = (
    "no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
)
NO_REGION = (
    "no AWS region configured: set AWS_REGION (or AWS_DEFAULT_REGION) or region in the config"
)
AUTH_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "AuthFailure",
    }
)
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException"})


def error_code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "") or ""


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def translate(exc: Exception, what: str) -> Exception:
    """A botocore error as the opsbook error the CLI prints in one line."""
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return ConfigError(NO_CREDENTIALS)
    if isinstance(exc, ProfileNotFound):
        return ConfigError(
            f"AWS profile {exc.kwargs.get('profile')!r} not found: fix AWS_PROFILE or ~/.aws/config"
        )
    if isinstance(exc, NoRegionError):
        return ConfigError(NO_REGION)
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):
        url = os.environ.get("AWS_ENDPOINT_URL") or getattr(exc, "kwargs", {}).get("endpoint_url")
        return ConfigError(
            f"cannot reach the AWS endpoint {url or ''} while {what}: "
            "check AWS_ENDPOINT_URL, the region and the network".replace("  ", " ")
        )
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = one_line(exc.response.get("Error", {}).get("Message", ""))
        if code in AUTH_CODES:
            return ConfigError(
                f"AWS rejected the credentials ({code}): check AWS_ACCESS_KEY_ID/"
                "AWS_SECRET_ACCESS_KEY or AWS_PROFILE, and AWS_ENDPOINT_URL"
            )
        if code in DENIED_CODES:
            return ConfigError(
                f"AWS denied {what}: {message} (see docs/aws.md for the permissions)"
            )
        if code in ("ThrottlingException", "Throttling", "TooManyRequestsException"):
            return OperationFailed(
                f"AWS kept throttling {what}; retry later or lower max_concurrency"
            )
        return OperationFailed(
            f"{what} failed: {code}: {message}" if message else f"{what} failed: {code}"
        )
    return OperationFailed(f"{what} failed: {one_line(exc)}")


@contextlib.contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """Turn botocore errors raised inside into opsbook errors; opsbook errors pass through."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, what) from None
