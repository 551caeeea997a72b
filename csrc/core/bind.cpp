// Bindings of the runtime (threads, SIMD level, malloc tuning, the output-size rule, the machine probes
// the benchmark divides by) and the helpers every family's bindings share (core/bind.h).
#include "core/bind.h"

#include <omp.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>

#include "core/common.h"
#include "core/cpu_features.h"
#include "kern/kernels.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace strided {
namespace {

// glibc serves blocks of 128 KiB and more with mmap and returns them with munmap (and trims freed memory
// at the top of the heap), so every fresh activation or gradient of a training step page-faults on first
// touch: measured 30-40% of a LeNet-5 or brain-model step at 2 threads. Raising both thresholds keeps
// freed blocks in the heap for the next step's arrays of the same sizes. Skipped when the user tunes
// malloc already (MALLOC_*_ / GLIBC_TUNABLES) or sets STRIDED_MALLOC_TUNING=0. Returns whether it applied.
bool keep_freed_memory() {
#if defined(__GLIBC__)
  const char* opt = std::getenv("STRIDED_MALLOC_TUNING");
  if ((opt && std::string(opt) == "0") || std::getenv("MALLOC_MMAP_THRESHOLD_") ||
      std::getenv("MALLOC_TRIM_THRESHOLD_") || std::getenv("GLIBC_TUNABLES"))
    return false;
  // Blocks up to 256 MiB (brain_c1's 63 MiB activations among them) come from the heap; up to 512 MiB
  // freed at its top stays mapped.
  return mallopt(M_MMAP_THRESHOLD, 256 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 512 << 20) == 1;
#else
  return false;
#endif
}

// omp_get_max_threads() at load time is OMP_NUM_THREADS when set, else the cores.
std::atomic<int> g_threads{omp_get_max_threads()};

}  // namespace

int num_threads() { return g_threads.load(std::memory_order_relaxed); }

void set_num_threads(int n) {
  g_threads.store(n, std::memory_order_relaxed);
  omp_set_num_threads(n);
}

KernelCall::KernelCall() { omp_set_num_threads(num_threads()); }

void expect_shape(const py::array& a, std::vector<int64_t> shape, const char* name) {
  bool ok = a.ndim() == py::ssize_t(shape.size());
  for (size_t i = 0; ok && i < shape.size(); ++i) ok = a.shape(py::ssize_t(i)) == shape[i];
  if (!ok) throw py::value_error(std::string(name) + " does not match the geometry passed to strided._C");
}

void bind_core(py::module_& m) {
  // A vector too large to exist (length_error) is an allocation failure to the caller, as bad_alloc is
  // (pybind11 maps that one to MemoryError itself).
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const std::length_error& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    }
  });
  m.def("out_size", &out_size, py::arg("size"), py::arg("kernel"), py::arg("stride"), py::arg("pad_begin"),
        py::arg("pad_end"), py::arg("dilation") = 1, py::arg("ceil_mode") = false);
  m.attr("malloc_tuned") = keep_freed_memory();
  m.def("set_num_threads", &set_num_threads, py::arg("n"));
  m.def("get_num_threads", &num_threads);
  m.def("team_size", [] {
    KernelCall nogil;
    int n = 0;
#pragma omp parallel
#pragma omp single
    n = omp_get_num_threads();
    return n;
  }, "The team a kernel called now from this OS thread runs (tests: set_num_threads is process-wide).");
  m.def("cpu_capability", [] { return std::string(capability_name(cpu_capability())); });
  m.def("cpu_detected", [] { return std::string(capability_name(cpu_detected())); });
  m.def("set_cpu_capability", [](const std::string& name) {
    Capability c = Capability::Default;
    if (name == "avx512") c = Capability::AVX512;
    else if (name == "avx2") c = Capability::AVX2;
    else if (name != "default") throw py::value_error("capability must be 'default', 'avx2' or 'avx512'");
    return std::string(capability_name(set_cpu_capability(c)));
  }, py::arg("name"), "Force the SIMD level (clamped to the CPU's); returns the level now in use.");
  m.def("memcpy_bandwidth", [](int64_t nbytes, int reps) {
    // The machine's streaming bandwidth for this thread count: a parallel copy of a buffer well past
    // the last-level cache, best of `reps`; GB/s counts bytes read plus bytes written (as the pooling
    // figures do).
    std::vector<char> src(size_t(nbytes), 1), dst(size_t(nbytes), 0);
    KernelCall nogil;
    double best = 0;
    for (int rep = 0; rep < reps; ++rep) {
      const double t0 = omp_get_wtime();
#pragma omp parallel
      {
        const int64_t th = omp_get_thread_num(), nt = omp_get_num_threads();
        const int64_t chunk = (nbytes + nt - 1) / nt, b = std::min(nbytes, th * chunk),
                      e = std::min(nbytes, b + chunk);
        if (e > b) std::memcpy(dst.data() + b, src.data() + b, size_t(e - b));
      }
      const double dt = omp_get_wtime() - t0;
      best = std::max(best, 2.0 * double(nbytes) / dt * 1e-9);
    }
    return best;
  }, py::arg("nbytes") = int64_t(256) << 20, py::arg("reps") = 5);
  m.def("fma_peak", [](const std::string& dtype, double seconds) {
    // Every thread runs the FMA probe of the widest ISA in use at once; the sum is the machine's peak
    // for this thread count (what the benchmark's "% of peak" divides by).
    const int threads = num_threads();
    std::vector<double> rates(size_t(threads), 0.0);
    KernelCall nogil;
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num();
      rates[size_t(t)] = dtype == "float64" ? kern::table<double>().fma_probe(seconds)
                                            : kern::table<float>().fma_probe(seconds);
    }
    double sum = 0;
    for (double r : rates) sum += r;
    return sum;
  }, py::arg("dtype") = "float32", py::arg("seconds") = 0.2,
        "Measured FMA throughput (GFLOP/s) of all threads together, widest SIMD path in use.");
}

}  // namespace strided
