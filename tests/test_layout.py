"""The source layout stays navigable: no import cycles between strided's modules (tools/import_cycles.py)
and no source file over 500 lines in python/strided or csrc."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "python" / "strided"
MAX_LINES = 500
SOURCE_SUFFIXES = {".py", ".pyi", ".h", ".cpp", ".cu", ".cuh"}



def _tool():
    spec = importlib.util.spec_from_file_location("import_cycles", ROOT / "tools" / "import_cycles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_cycles():
    tool = _tool()
    cycles = tool.cycles(tool.import_graph(PACKAGE))
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_cycle_tool_finds_relative_absolute_and_function_level_imports(tmp_path):
    """A package whose cycles hide in each kind of import: the tool names them all and exits 1; once they
    are broken it exits 0."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import a\n")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("def f():\n    import pkg.a\n")   # a -> b -> a, inside a function
    (pkg / "c.py").write_text("from .sub.d import g\n")
    (pkg / "sub" / "d.py").write_text("from .. import c\ng = 1\n")      # c -> d -> c, relative
    tool = _tool()
    assert tool.cycles(tool.import_graph(pkg)) == [["pkg.a", "pkg.sub.b", "pkg.a"], ["pkg.c", "pkg.sub.d", "pkg.c"]]
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "import_cycles.py"), str(pkg)],
                         capture_output=True, text=True)
    assert run.returncode == 1 and "pkg.a -> pkg.sub.b -> pkg.a" in run.stdout, run.stdout
    (pkg / "sub" / "b.py").write_text("")
    (pkg / "sub" / "d.py").write_text("g = 1\n")
    assert tool.cycles(tool.import_graph(pkg)) == []
    assert subprocess.run([sys.executable, str(ROOT / "tools" / "import_cycles.py"), str(pkg)],
                          capture_output=True).returncode == 0


@pytest.mark.parametrize("folder", ["python/strided", "csrc"])
def test_no_source_file_over_500_lines(folder):
    too_long = {}
    for path in sorted((ROOT / folder).rglob("*")):
        if path.suffix in SOURCE_SUFFIXES and path.is_file():
            rel = str(path.relative_to(ROOT))
            lines = len(path.read_text().splitlines())
            if lines > MAX_LINES:
                too_long[rel] = lines
    assert not too_long, f"files over {MAX_LINES} lines (split them by what lives there): {too_long}"
