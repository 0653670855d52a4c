"""The ELF audit: every shared object in the artifacts must load on the runtime.

A shared object lists the symbol versions it needs from each library in its `.gnu.version_r`
section (what `objdump -T` shows as GLIBC_2.28 and so on). The dynamic loader refuses a file
that needs a GLIBC_x.y newer than the system's glibc; the audit refuses it at build time,
and a file built for another machine (x86-64 vs AArch64) as well.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

from opsbook.errors import ConfigError

ELF_MAGIC = b"\x7fELF"
GLIBC = re.compile(r"^GLIBC_(\d+)\.(\d+)(?:\.(\d+))?$")
# pyelftools' e_machine names for the Lambda architectures.
MACHINES = {"x86_64": "EM_X86_64", "arm64": "EM_AARCH64"}


@dataclass(frozen=True)
class SharedObject:
    path: str  # the path inside the zip
    machine: str  # "EM_X86_64"
    glibc: tuple[int, int]  # the highest GLIBC_x.y it needs; (0, 0) for none


class ElfAuditError(ConfigError):
    """A shared object would not load on the runtime (exit 2, one line naming it)."""


def glibc_versions(data: bytes) -> tuple[str, set[tuple[int, int]]]:
    """The machine and the GLIBC_x.y versions an ELF file needs (from .gnu.version_r)."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.gnuversions import GNUVerNeedSection

    elf = ELFFile(io.BytesIO(data))
    needed: set[tuple[int, int]] = set()
    for section in elf.iter_sections():
        if not isinstance(section, GNUVerNeedSection):
            continue
        for _verneed, auxiliaries in section.iter_versions():
            for aux in auxiliaries:
                match = GLIBC.match(aux.name)
                if match:
                    needed.add((int(match.group(1)), int(match.group(2))))
    return elf["e_machine"], needed


def scan(files: Iterable[tuple[str, bytes]]) -> list[SharedObject]:
    """Every ELF file among (path, bytes), with what it needs."""
    found = []
    for path, data in files:
        if not data.startswith(ELF_MAGIC):
            continue
        machine, versions = glibc_versions(data)
        found.append(SharedObject(path, machine, max(versions, default=(0, 0))))
    return found


def audit(objects: Iterable[SharedObject], glibc: tuple[int, int], architecture: str) -> None:
    """Raise ElfAuditError on the first shared object the runtime cannot load."""
    want = MACHINES[architecture]
    for obj in sorted(objects, key=lambda o: (o.glibc, o.path), reverse=True):
        if obj.machine != want:
            raise ElfAuditError(
                f"{obj.path} is built for {obj.machine}, not the {architecture} Lambda architecture"
            )
        if obj.glibc > glibc:
            raise ElfAuditError(
                f"{obj.path} needs GLIBC_{obj.glibc[0]}.{obj.glibc[1]}, above the runtime's "
                f"glibc {glibc[0]}.{glibc[1]}"
            )


def max_glibc(objects: Iterable[SharedObject]) -> str | None:
    """The highest glibc version any shared object needs, "2.17", or None without any."""
    top = max((o.glibc for o in objects), default=(0, 0))
    return None if top == (0, 0) else f"{top[0]}.{top[1]}"
