"""The code half of an artifact key: a hash of the package source a stage runs.

A stage declares ``VERSION = StageVersion("N", __name__)``. Its code hash covers the source of
that module and of every ``semcom_exp`` module it imports, transitively (imports inside
functions included; imports under ``if TYPE_CHECKING:`` left out, they never run). The closure
is taken rather than a hand-kept list of modules because a forgotten module is exactly the
silent stale reuse the hash exists to prevent; the price is that an edit to a shared helper
retrains every stage that imports it (``cache.reuse_stale=true`` reuses on purpose).

Each module counts as its ``ast`` with docstrings removed and positions dropped, so comments,
docstrings, blank lines and formatting do not change the hash; any edit to what the code does
does. The cache machinery itself (``semcom_exp.cache``, this module) is left out: it decides
where an artifact lives, not what it holds.
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PACKAGE = "semcom_exp"
#: the package's own source tree (a temp copy may be passed instead, e.g. in tests)
PACKAGE_ROOT = Path(__file__).resolve().parent
#: modules whose edits never change an artifact's content (the cache's own bookkeeping)
NOT_HASHED = frozenset({f"{PACKAGE}.cache", f"{PACKAGE}.code_hash"})
HASH_CHARS = 12


@dataclass(frozen=True)
class StageVersion:
    """A stage's version: a hand-bumped ``number`` (for changes the hash cannot see, e.g. a
    data file) and the ``module`` whose import closure the code hash covers."""

    number: str
    module: str
    root: Path | None = None  # the package tree to read; None: the installed package

    def __str__(self) -> str:
        return self.number

    def code_hash(self) -> str:
        return code_hash(self.module, self.root)


def _module_file(name: str, root: Path) -> Path | None:
    """The source file of ``semcom_exp.x.y`` under ``root`` (the package dir), or None."""
    parts = name.split(".")[1:]
    base = root.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    file = base.with_suffix(".py")
    return file if parts and file.is_file() else None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(tree: ast.Module, package: str) -> set[str]:
    """Dotted names a module imports (``from a import b`` gives ``a`` and ``a.b``), relative
    imports resolved against ``package``, type-checking-only imports skipped."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def _strip_docstrings(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:]
    return tree


@lru_cache(maxsize=1024)
def _parsed(file: Path, mtime_ns: int, size: int, name: str) -> tuple[str, frozenset[str]]:
    """(hash of the normalised source, imported dotted names) of one file; cached per file
    version (path, mtime, size), so a key costs a few stat calls once the files are read."""
    tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    imports = frozenset(_imported_names(tree, package))
    normalised = ast.dump(_strip_docstrings(tree), include_attributes=False)
    return hashlib.sha256(normalised.encode()).hexdigest(), imports


def _load(name: str, root: Path) -> tuple[str, frozenset[str]] | None:
    file = _module_file(name, root)
    if file is None:
        return None
    st = file.stat()
    return _parsed(file, st.st_mtime_ns, st.st_size, name)


def module_closure(module: str, root: Path | None = None) -> dict[str, str]:
    """The hash of the normalised source of ``module`` and of every package module it imports,
    transitively (parent packages included: importing ``a.b`` runs ``a/__init__.py``), by
    module name."""
    root = Path(root) if root is not None else PACKAGE_ROOT
    found: dict[str, str] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in found or name in NOT_HASHED or name.split(".")[0] != PACKAGE:
            continue
        loaded = _load(name, root)
        if loaded is None:  # ``from pkg import function``: the name is not a module
            continue
        found[name], imports = loaded
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        todo.extend(imports)
    if module not in found:
        raise ValueError(f"no source for module {module!r} under {root}")
    return found


def code_hash(module: str, root: Path | None = None) -> str:
    """The hash of ``module_closure(module, root)`` (hex, ``HASH_CHARS`` long)."""
    digest = hashlib.sha256()
    for name, source_hash in sorted(module_closure(module, root).items()):
        digest.update(f"{name}\0{source_hash}\0".encode())
    return digest.hexdigest()[:HASH_CHARS]
