"""Every CUDA source compiles with nvcc for sm_80 and sm_90, warnings as errors, no register spills.

Each source is compiled as the text strided.cuda hands to NVRTC (load_source: common.cuh inlined) plus a
line that takes the address of every instantiation CuPy asks for (name_expressions), so each template is
really compiled for both float and double. Skips without nvcc."""
import re
import shutil
import subprocess

import pytest

from strided import cuda

NVCC = shutil.which("nvcc")
pytestmark = pytest.mark.skipif(NVCC is None, reason="nvcc (the CUDA toolkit) is not installed")
ARCHS = ("80", "90")


def wrapper(source):
    names = cuda.name_expressions(source)
    return (cuda.load_source(source) + "\nvoid* strided_instantiated_kernels[] = {\n"
            + ",\n".join(f"    (void*)&{n}" for n in names) + "\n};\n")


@pytest.mark.parametrize("source", cuda.SOURCES)
def test_nvcc_compiles_without_warnings_or_spills(source, tmp_path):
    tu = tmp_path / source
    tu.write_text(wrapper(source))
    gencode = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in ARCHS]
    cmd = [NVCC, "-std=c++17", *gencode, "-Werror", "all-warnings", "-Xptxas", "-v,-warn-spills",
           "-c", str(tu), "-o", str(tmp_path / "out.o")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    entries = re.findall(r"Compiling entry function '(\w+)' for 'sm_(\d+)'", log)
    kernels = {name for name in cuda.KERNELS[source]}
    for arch in ARCHS:  # every kernel, float and double, for every arch
        compiled = [mangled for mangled, a in entries if a == arch]
        for kernel in kernels:
            assert sum(f"{len(kernel)}{kernel}I" in m for m in compiled) == 2, (kernel, arch, compiled)
    spills = re.findall(r"(\d+) bytes spill stores", log)
    assert spills and all(s == "0" for s in spills), log
    assert "warning" not in log.lower(), log


def test_sources_need_no_standard_headers():
    """NVRTC has no standard library headers: the kernels include nothing but common.cuh."""
    for source in cuda.SOURCES + (cuda.HEADER,):
        includes = re.findall(r'#\s*include\s*[<"]([^>"]+)[>"]', (cuda.source_dir() / source).read_text())
        assert set(includes) <= {cuda.HEADER}, (source, includes)
