"""Every CUDA source compiles with nvcc for sm_80 and sm_90, warnings as errors, no register spills, and
with NVRTC itself when libnvrtc is around; and the launch plans (strided/ops/*/cuda.py) respect CUDA's limits.

Each source is compiled as the text strided.cuda hands to NVRTC (load_source: common.cuh inlined) plus a
line that takes the address of every instantiation CuPy asks for (name_expressions), so each template is
really compiled for both float and double. The compiler tests skip without nvcc / libnvrtc; the plan tests
need neither."""
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from strided import cuda
from strided.ops.conv2d import cuda as conv_cuda
from strided.ops.conv2d.args import conv_args
from strided.ops.interp import cuda as interp_cuda
from strided.ops.interp.args import interp_args
from strided.ops.pool2d import cuda as pool_cuda
from strided.ops.pool2d.args import pool_args
from strided.bench import LAYERS as BENCH_LAYERS

NVCC = shutil.which("nvcc")
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc (the CUDA toolkit) is not installed")
ARCHS = ("80", "90")


def wrapper(source):
    names = cuda.name_expressions(source)
    return (cuda.load_source(source) + "\nvoid* strided_instantiated_kernels[] = {\n"
            + ",\n".join(f"    (void*)&{n}" for n in names) + "\n};\n")


@needs_nvcc
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


def _find_nvrtc():
    """libnvrtc from the CUDA toolkit or from the nvidia-cuda-nvrtc wheel (what CuPy uses), else None."""
    import ctypes.util
    import glob
    import os
    candidates = []
    try:
        import nvidia
        for root in nvidia.__path__:
            candidates += sorted(glob.glob(os.path.join(root, "*", "lib", "libnvrtc.so*")), reverse=True)
    except ImportError:
        pass
    for home in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if home:
            candidates += sorted(glob.glob(os.path.join(home, "lib64", "libnvrtc.so*")), reverse=True)
    found = ctypes.util.find_library("nvrtc")
    if found:
        candidates.append(found)
    for path in candidates:
        if "alt" in os.path.basename(path) or "builtins" in os.path.basename(path):
            continue
        try:  # NVRTC dlopens its builtins library by name: load the one next to it first
            for builtins in sorted(glob.glob(os.path.join(os.path.dirname(path), "libnvrtc-builtins.so*"))):
                if ".alt." not in builtins:
                    ctypes.CDLL(builtins, mode=ctypes.RTLD_GLOBAL)
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


@pytest.mark.parametrize("source", cuda.SOURCES)
def test_nvrtc_compiles_with_the_name_expressions(source):
    """The run-time path itself: NVRTC compiles load_source() with strided.cuda's options and resolves every
    name expression CuPy will ask for (libnvrtc from the toolkit or the nvidia-cuda-nvrtc wheel)."""
    import ctypes
    lib = _find_nvrtc()
    if lib is None:
        pytest.skip("libnvrtc not found (CUDA toolkit lib64 or the nvidia-cuda-nvrtc wheel)")
    prog = ctypes.c_void_p()
    text = cuda.load_source(source).encode()
    assert lib.nvrtcCreateProgram(ctypes.byref(prog), text, source.encode(), 0, None, None) == 0
    names = cuda.name_expressions(source)
    for n in names:
        assert lib.nvrtcAddNameExpression(prog, n.encode()) == 0
    for arch in ARCHS:
        opts = [o.encode() for o in cuda.NVRTC_OPTIONS + (f"--gpu-architecture=sm_{arch}",)]
        rc = lib.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetProgramLog(prog, log)
        assert rc == 0, log.value.decode()
        assert "warning" not in log.value.decode().lower(), log.value.decode()
        for n in names:
            lowered = ctypes.c_char_p()
            assert lib.nvrtcGetLoweredName(prog, n.encode(), ctypes.byref(lowered)) == 0, n
            assert lowered.value.startswith(b"_Z"), n
    lib.nvrtcDestroyProgram(ctypes.byref(prog))


# ------------------------------------------------------------------------------------------- launch plans

LAYERS = {  # name: (N, C, H=W, K, k, s, p, g) - the benchmark set, and batch-256 variants below
    **BENCH_LAYERS,
    "huge_64bit": (256, 256, 256, 256, 3, 1, 1, 1),  # 4.3e9-element input: beyond 32-bit indexing
    "wide_groups": (2, 70000, 3, 70000, 1, 1, 0, 70000),  # more groups than a grid's y/z extent
}


class _Shape:
    def __init__(self, shape):
        self.shape, self.dtype = shape, np.dtype(np.float32)


def _conv(layer, batch=None):
    N, C, H, K, k, s, p, g = LAYERS[layer]
    return conv_args(_Shape((batch or N, C, H, H)), _Shape((K, C // g, k, k)), None, None, s, p, 1, g)[0]


def _check_launches(plan):
    for launch in plan.launches:
        assert cuda.SOURCE_OF[launch.kernel]
        assert 1 <= launch.grid[0] <= 2**31 - 1 and all(1 <= d <= 65535 for d in launch.grid[1:]), launch
        assert launch.block[0] * launch.block[1] * launch.block[2] <= 1024 and launch.block[0] % 32 == 0, launch
        assert 0 <= launch.shared <= 48 * 1024, launch
        for p in launch.params:
            assert p is None or isinstance(p, (str, np.int64, np.int32, np.float64)), launch


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
@pytest.mark.parametrize("batch", (None, 256))
@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_conv_plans_respect_cuda_limits(layer, batch, dtype):
    a = _conv(layer, batch)
    for algo in ("auto", "tiled", "direct"):
        _check_launches(conv_cuda.plan_conv2d_forward(a, dtype, True, algo))
        _check_launches(conv_cuda.plan_conv2d_backward_weight(a, dtype, algo))
    _check_launches(conv_cuda.plan_conv2d_im2col(a, dtype))
    _check_launches(conv_cuda.plan_conv2d_backward_input(a, dtype))
    _check_launches(conv_cuda.plan_conv2d_backward_bias(a, dtype))


def test_auto_picks_tiles_for_channels_and_direct_for_depthwise():
    assert conv_cuda.forward_algorithm(_conv("res_3x3_128")) == "tiled"
    assert conv_cuda.forward_algorithm(_conv("dw_3x3_128")) == "direct"
    assert conv_cuda.forward_algorithm(_conv("lenet_c1")) == "direct"
    assert conv_cuda.weight_algorithm(_conv("vgg_3x3_64")) == "tiled"
    assert conv_cuda.forward_algorithm(_conv("wide_groups"), "tiled") == "direct"  # grid.z would exceed 65535


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_weight_splits_cover_the_pixels_once(layer):
    a = _conv(layer)
    NP = a.N * a.OH * a.OW
    splits, chunk = conv_cuda.weight_splits(a)
    assert chunk % cuda.tile_constants()["kTileK"] == 0
    assert (splits - 1) * chunk < NP <= splits * chunk
    assert a.groups * splits <= 65535 or (a.groups > 65535 and conv_cuda.weight_algorithm(a, "tiled") == "direct")
    assert conv_cuda.weight_splits(a) == (splits, chunk)  # a function of the shape alone


@pytest.mark.parametrize("geo", [((32, 64, 56, 56), 2, 2, 0), ((8, 64, 112, 112), 3, 2, 1),
                                 ((256, 256, 256, 256), 3, 1, 1), ((1, 1, 1, 1), 1, 1, 0)])
def test_pool_plans_respect_cuda_limits(geo):
    shape, k, s, p = geo
    a = pool_args(_Shape(shape), None, k, s, p, False)[0]
    for dtype in (np.float32, np.float64):
        _check_launches(pool_cuda.plan_max_pool2d_forward(a, dtype))
        _check_launches(pool_cuda.plan_max_pool2d_backward(a, dtype))
        _check_launches(pool_cuda.plan_avg_pool2d_forward(a, dtype, True))
        _check_launches(pool_cuda.plan_avg_pool2d_backward(a, dtype, False))



@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("shape,geo", [((256, 256, 256, 256), dict(size=512)), ((1, 1, 1, 1), dict(size=1)),
                                       ((8, 64, 112, 112), dict(scale_factor=0.3))])
def test_interp_plans_respect_cuda_limits(shape, geo, mode):
    (a,) = interp_args(_Shape(shape), None, **geo, mode=mode)[0].passes()
    _check_launches(interp_cuda.plan_interpolate(a, mode))
    _check_launches(interp_cuda.plan_interpolate(a, mode, backward=True))

def test_sources_and_constants():
    assert set(cuda.KERNELS) == set(cuda.SOURCES)
    for source in cuda.SOURCES:
        text = cuda.load_source(source)
        assert "#include" not in text and "pragma once" not in text
        for kernel in cuda.KERNELS[source]:
            assert re.search(rf"__global__ void (__launch_bounds__\([^)]*\)\s+)?{kernel}\(", text), kernel
    t = cuda.tile_constants()
    assert t["kThreads"] == (t["kTileM"] // t["kMicro"]) * (t["kTileN"] // t["kMicro"])


def test_wheel_installs_sources_beside_not_over_the_module():
    """strided/cuda.py and a package-data directory strided/cuda/ would clash: the sources go to cuda_src."""
    cmake = (Path(__file__).resolve().parents[1] / "CMakeLists.txt").read_text()
    assert re.search(r"install\(DIRECTORY csrc/cuda/ DESTINATION strided/cuda_src\b", cmake)
    assert cuda.source_dir().name in ("cuda_src", "cuda")


@pytest.mark.parametrize("args", [(256, 256, 65536, 1, True), (256, 256, 65536, 32, False), (1, 1, 1, 1, True),
                                  (2 ** 20, 4096, 1, 1, False), (8, 70000, 9, 70000, False)], ids=str)
def test_norm_plans_respect_cuda_limits(args):
    from strided.ops.norm import cuda as norm_cuda
    from strided.ops.norm.args import NormArgs
    a = NormArgs(*args)
    _check_launches(norm_cuda.plan_norm_stats(a))
    for weight in (True, False):
        _check_launches(norm_cuda.plan_norm_apply(a, weight, weight))
        for input_stats in (True, False):
            _check_launches(norm_cuda.plan_norm_backward(a, weight, input_stats, True, True, True))
