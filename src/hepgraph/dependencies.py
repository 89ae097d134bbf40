"""Which of the package's source files a module runs: its own and every hepgraph module it imports, transitively.

The workflow gives these files to each rule as inputs (an edit of any of them reruns exactly the rules that run
it), and training stages hash them into their resume key (edited code starts over instead of resuming). Imports
are read with :mod:`ast`, not executed: every ``import hepgraph...`` / ``from hepgraph... import`` (relative ones
too) anywhere in a file counts, including those inside functions.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
NAME = PACKAGE.name


def module_file(module: str) -> Path | None:
    """The file of ``module`` ("hepgraph.data.tables" -> .../data/tables.py, a package -> its __init__.py);
    None if it is not a module of this package."""
    parts = module.split(".")
    if parts[0] != NAME:
        return None
    base = PACKAGE.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(module: str, path: Path) -> set[str]:
    """Names of the modules that the import statements of ``path`` (the file of ``module``) may load."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return names


@functools.cache
def imported_files(module: str) -> tuple[Path, ...]:
    """``module`` ("hepgraph.stages.train_gan"), every hepgraph module it imports transitively and the
    ``__init__.py`` of their packages (run on import), as sorted absolute paths."""
    if module_file(module) is None:
        raise ValueError(f"{module!r} is not a module of {NAME} (no such file below {PACKAGE})")
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        path = module_file(name)
        if path is None or name in seen:
            continue
        seen[name] = path
        todo.extend(_imported_modules(name, path))
        todo.extend(name.rsplit(".", i)[0] for i in range(1, name.count(".") + 1))  # parent packages
    return tuple(sorted(set(seen.values())))
