"""Deterministic zips: sorted entries, fixed timestamps and modes, so an unchanged build has
the same SHA-256 and a second deploy compares equal to what Lambda holds."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from collections.abc import Mapping

ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def deterministic_zip(
    files: Mapping[str, bytes], executable: frozenset[str] = frozenset()
) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for arcname in sorted(files):
            info = zipfile.ZipInfo(arcname, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if arcname in executable else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.create_system = 3  # unix, so the mode bits are honoured
            zf.writestr(info, files[arcname])
    return buf.getvalue()


def lambda_sha256(data: bytes) -> str:
    """Base64 SHA-256, as Lambda's CodeSha256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()
