"""Lambda runtimes and architectures: their Python version, glibc, and the wheel tags they load.

AWS: "Lambda runtimes" (docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html): python3.9
to python3.11 run on Amazon Linux 2 (glibc 2.26), python3.12 and later on Amazon Linux 2023
(glibc 2.34). A shared object that needs a newer GLIBC_x.y symbol version fails to load there.
"""

from __future__ import annotations

from dataclasses import dataclass

from opsbook.errors import ConfigError


@dataclass(frozen=True)
class Runtime:
    name: str  # "python3.11"
    python: str  # "3.11"
    os: str  # "Amazon Linux 2"
    glibc: tuple[int, int]  # (2, 26)

    @property
    def abi(self) -> str:
        return "cp" + self.python.replace(".", "")


RUNTIMES = {
    r.name: r
    for r in (
        Runtime("python3.10", "3.10", "Amazon Linux 2", (2, 26)),
        Runtime("python3.11", "3.11", "Amazon Linux 2", (2, 26)),
        Runtime("python3.12", "3.12", "Amazon Linux 2023", (2, 34)),
        Runtime("python3.13", "3.13", "Amazon Linux 2023", (2, 34)),
    )
}
# What this machine can import-test (its Python is 3.11), so the default.
DEFAULT_RUNTIME = "python3.11"
# Lambda's architecture name -> the machine name in wheel tags.
ARCHITECTURES = {"x86_64": "x86_64", "arm64": "aarch64"}
DEFAULT_ARCHITECTURE = "x86_64"


def runtime(name: str) -> Runtime:
    """The Runtime of a config value; a ConfigError (exit 2) names the known ones."""
    try:
        return RUNTIMES[name]
    except KeyError:
        known = ", ".join(sorted(RUNTIMES))
        raise ConfigError(f"config key lambda_runtime={name!r} is not one of {known}") from None


def architecture(name: str) -> str:
    """The wheel machine name ("x86_64", "aarch64") of a Lambda architecture."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ConfigError(
            f"config key lambda_architecture={name!r} is not one of {', '.join(ARCHITECTURES)}"
        ) from None


def platform_tags(rt: Runtime, arch: str) -> list[str]:
    """Every manylinux tag the runtime's glibc loads, newest first, for `pip --platform`.

    manylinux_2_17 is manylinux2014's PEP 600 name; aarch64 wheels start at 2.17."""
    machine = architecture(arch)
    major, minor = rt.glibc
    tags = [f"manylinux_{major}_{m}_{machine}" for m in range(minor, 16, -1)]
    tags.append(f"manylinux2014_{machine}")
    if machine == "x86_64":
        tags += ["manylinux_2_12_x86_64", "manylinux2010_x86_64", "manylinux_2_5_x86_64"]
        tags.append("manylinux1_x86_64")
    return tags
