"""Report import cycles between the modules of a Python package (stdlib only; nothing is imported).

    python tools/import_cycles.py [PACKAGE_DIR]      # default: python/strided beside this tools/ folder

Every .py file under PACKAGE_DIR is parsed with ast; each `import a.b` and `from .x import y` anywhere in
it (module level, functions, conditionals) that names a module of the package becomes an edge of the
module graph. `from pkg import name` points at the submodule pkg.name when one exists (a .py file, a
sub-package, or a compiled extension such as strided._C, built or not), else at pkg itself. Importing a.b.c also runs
a/__init__.py and a/b/__init__.py, but those implicit parent edges are left out: every module would then
sit in a cycle with its package's __init__, and it is the explicit imports one can rearrange.

Prints every elementary cycle, one line each (`a -> b -> a`), and exits 1 if there is any, else 0.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

_EXTENSION_SUFFIXES = (".so", ".pyd", ".pyi")


def _modules(package_dir: Path):
    """{dotted module name: file} for every .py file of the package (a package by its __init__.py)."""
    root = package_dir.parent
    found = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _extensions(package_dir: Path, modules: dict):
    """Dotted names of compiled extension modules inside the package: a built one by its file
    (_C.cpython-311-....so), an unbuilt one because its package's __init__ imports it as `from . import _C`
    (a name an __init__ imports from itself can only be a submodule)."""
    root = package_dir.parent
    names = set()
    for path in package_dir.rglob("*"):
        if path.suffix in _EXTENSION_SUFFIXES and path.is_file():
            stem = path.name.split(".")[0]
            names.add(".".join(path.parent.relative_to(root).parts + (stem,)))
    for name, path in modules.items():
        if path.name == "__init__.py":
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module is None:
                    names.update(f"{name}.{alias.name}" for alias in node.names)
    return names


def _imports(name: str, path: Path):
    """The dotted names one module imports: (target, imported names or None for `import target`)."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            yield target, [alias.name for alias in node.names]


def import_graph(package_dir) -> dict:
    """{module: sorted modules of the same package it imports}."""
    package_dir = Path(package_dir).resolve()
    modules = _modules(package_dir)
    known = set(modules) | _extensions(package_dir, modules)
    graph = {}
    for name, path in modules.items():
        edges = set()
        for target, names in _imports(name, path):
            if names is None:  # import a.b.c: the module a.b.c (or its nearest known ancestor)
                while target and target not in known:
                    target = target.rpartition(".")[0]
                if target:
                    edges.add(target)
                continue
            for item in names:
                sub = f"{target}.{item}"
                if sub in known:
                    edges.add(sub)
                elif target in known:
                    edges.add(target)
        graph[name] = sorted(e for e in edges if e in modules)
    return graph


def cycles(graph: dict) -> list:
    """Every elementary cycle, each as [m0, m1, ..., m0] starting at its smallest module (a node only
    reaches back to the start through nodes larger than it, so each cycle is found once)."""
    found = []
    for start in sorted(graph):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    found.append(path + [start])
                elif nxt > start and nxt not in path:
                    stack.append((nxt, path + [nxt]))
    return sorted(found)


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    package_dir = Path(args[0]) if args else Path(__file__).resolve().parent.parent / "python" / "strided"
    found = cycles(import_graph(package_dir))
    for cycle in found:
        print(" -> ".join(cycle))
    print(f"{len(found)} import cycle(s) in {package_dir}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
