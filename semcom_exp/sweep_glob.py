"""``glob()`` sweeps that see nested config options (``experiment=glob(*)`` finds
``lam_msc/cge`` and ``m2gsc/fig5`` too).

Why: Hydra 1.3's ``glob`` filters the options it lists for a group, and it lists only the files
directly in the group's folder (``experiment/lam_msc/`` is a separate group to it), so
``experiment=glob(*)`` found 2 of the 11 experiments. Before Hydra parses the command line, a
``KEY=glob(...)`` whose group folder has sub-folders is rewritten into the explicit list of the
options it matches, found recursively (in the packaged config tree and in any
``--config-dir``), with Hydra's own ``glob`` semantics (fnmatch, ``exclude=``); ``*`` matches
across ``/``, so ``glob(*)`` is everything and ``glob(lam_msc/*)`` one paper's experiments.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

GLOB_ARG = re.compile(r"(?P<prefix>\+{0,2})(?P<key>[\w/]+)=(?P<value>glob\(.*\))", re.DOTALL)


def _config_dirs(args: list[str], conf_dir: Path) -> list[Path]:
    """The packaged tree, then any ``--config-dir DIR`` / ``-cd DIR`` / ``--config-dir=DIR``."""
    dirs = [conf_dir]
    for i, arg in enumerate(args):
        if arg in ("--config-dir", "-cd") and i + 1 < len(args):
            dirs.append(Path(args[i + 1]))
        elif arg.startswith("--config-dir="):
            dirs.append(Path(arg.split("=", 1)[1]))
    return dirs


def nested_options(group_dirs: list[Path]) -> list[str]:
    """Every option of a group, nested ones as ``sub/name``, sorted."""
    names = {
        str(p.relative_to(d).with_suffix(""))
        for d in group_dirs
        if d.is_dir()
        for p in d.rglob("*.yaml")
    }
    return sorted(names)


def expand_nested_globs(args: list[str], conf_dir: str | Path) -> list[str]:
    """``args`` with each ``GROUP=glob(...)`` over a nested group replaced by the comma list
    of the options it matches; other arguments unchanged. Exits with status 2 and one line
    when such a glob matches nothing."""
    dirs = _config_dirs(args, Path(conf_dir))
    out = []
    for arg in args:
        m = GLOB_ARG.fullmatch(arg)
        group_dirs = [d / m["key"] for d in dirs] if m else []
        if not m or not any(sub.is_dir() for d in group_dirs if d.is_dir() for sub in d.iterdir()):
            out.append(arg)  # not a glob, or a flat group: Hydra's own glob is right
            continue
        from hydra.core.override_parser.overrides_parser import OverridesParser
        from hydra.core.override_parser.types import Glob

        glob = OverridesParser.create().parse_override(arg).value()
        assert isinstance(glob, Glob)
        chosen = glob.filter(nested_options(group_dirs))
        if not chosen:
            print(
                f"error: {arg} matches no option of '{m['key']}'; "
                f"the options are: {', '.join(nested_options(group_dirs))}",
                file=sys.stderr,
            )
            sys.exit(2)
        out.append(f"{m['prefix']}{m['key']}={','.join(chosen)}")
    return out
