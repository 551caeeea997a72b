"""The malloc tuning done at import (csrc/core/bind.cpp, keep_freed_memory): a freed large block is reused by
the next allocation of its size instead of being unmapped and page-faulted in again."""
import os
import subprocess
import sys

import pytest

import strided

# Minor page faults of allocating and touching a 64 MiB block after one of that size was freed.
_FAULTS = """
import resource, strided
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
b = bytearray(64 << 20); del b
f0 = faults(); b = bytearray(64 << 20)
print(faults() - f0)
"""


def _faults(**env):
    out = subprocess.run([sys.executable, "-c", _FAULTS], env={**os.environ, **env}, capture_output=True,
                         text=True, check=True)
    return int(out.stdout)


@pytest.mark.skipif(not strided._C.malloc_tuned, reason="no glibc malloc to tune, or tuning turned off here")
def test_freed_large_block_is_reused_without_page_faults():
    pages = (64 << 20) // os.sysconf("SC_PAGE_SIZE")
    assert _faults() < pages // 100
    assert _faults(STRIDED_MALLOC_TUNING="0") > pages // 2  # glibc's default: munmap, then fault every page


def test_user_malloc_settings_are_left_alone():
    out = subprocess.run([sys.executable, "-c", "import strided; print(strided._C.malloc_tuned)"],
                         env={**os.environ, "MALLOC_TRIM_THRESHOLD_": "131072"}, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
