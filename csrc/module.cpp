// pybind11 bindings: the private module strided._C. Arguments arrive validated and normalized by
// strided._shapes (C-contiguous, one float dtype); here we only check that array sizes match the geometry
// (so a direct caller cannot make a kernel read out of bounds), allocate outputs and release the GIL.
#include <omp.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "activation.h"
#include "conv2d.h"
#include "cpu_features.h"
#include "kernels.h"
#include "linear.h"
#include "optim.h"
#include "pool2d.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace py = pybind11;
using namespace strided;

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

template <typename T>
using Array = py::array_t<T, py::array::c_style>;

void expect_shape(const py::array& a, std::vector<int64_t> shape, const char* name) {
  bool ok = a.ndim() == py::ssize_t(shape.size());
  for (size_t i = 0; ok && i < shape.size(); ++i) ok = a.shape(py::ssize_t(i)) == shape[i];
  if (!ok) throw py::value_error(std::string(name) + " does not match the geometry passed to strided._C");
}

ConvShape conv_shape(const std::vector<int64_t>& g) {
  if (g.size() != 18) throw py::value_error("conv geometry must have 18 fields (strided._shapes.ConvArgs)");
  ConvShape s{g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8],
              g[9], g[10], g[11], g[12], g[13], g[14], g[15], g[16], g[17]};
  if (s.OH != out_size(s.H, s.R, s.stride_h, s.pad_top, s.pad_bottom, s.dil_h, false) ||
      s.OW != out_size(s.W, s.S, s.stride_w, s.pad_left, s.pad_right, s.dil_w, false) || s.OH < 1 || s.OW < 1)
    throw py::value_error("conv geometry: output size disagrees with the output-size rule");
  return s;
}

PoolShape pool_shape(const std::vector<int64_t>& g) {
  if (g.size() != 13) throw py::value_error("pool geometry must have 13 fields (strided._shapes.PoolArgs)");
  PoolShape s{g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], g[12] != 0};
  if (s.OH != out_size(s.H, s.kernel_h, s.stride_h, s.pad_h, s.pad_h, 1, s.ceil_mode) ||
      s.OW != out_size(s.W, s.kernel_w, s.stride_w, s.pad_w, s.pad_w, 1, s.ceil_mode) || s.OH < 1 || s.OW < 1)
    throw py::value_error("pool geometry: output size disagrees with the output-size rule");
  return s;
}

template <typename T>
Array<T> conv_forward(Array<T> x, Array<T> w, std::optional<Array<T>> b, const std::vector<int64_t>& geom,
                      int algo) {
  const ConvShape s = conv_shape(geom);
  expect_shape(x, {s.N, s.C, s.H, s.W}, "x");
  expect_shape(w, {s.K, s.Cg(), s.R, s.S}, "w");
  if (b) expect_shape(*b, {s.K}, "b");
  Array<T> y({s.N, s.K, s.OH, s.OW});
  const T* bp = b ? b->data() : nullptr;
  const T *xp = x.data(), *wp = w.data();
  T* yp = y.mutable_data();
  py::gil_scoped_release nogil;
  conv::forward(s, xp, wp, bp, yp, conv::Algo(algo));
  return y;
}

template <typename T>
Array<T> conv_backward_input(Array<T> gy, Array<T> w, const std::vector<int64_t>& geom, int algo) {
  const ConvShape s = conv_shape(geom);
  expect_shape(gy, {s.N, s.K, s.OH, s.OW}, "gy");
  expect_shape(w, {s.K, s.Cg(), s.R, s.S}, "w");
  Array<T> gx({s.N, s.C, s.H, s.W});
  const T *gyp = gy.data(), *wp = w.data();
  T* gxp = gx.mutable_data();
  py::gil_scoped_release nogil;
  conv::backward_input(s, gyp, wp, gxp, conv::Algo(algo));
  return gx;
}

// (gw, gb), gb None unless bias_grad.
template <typename T>
py::tuple conv_backward_weight(Array<T> gy, Array<T> x, const std::vector<int64_t>& geom, int algo, bool bias_grad) {
  const ConvShape s = conv_shape(geom);
  expect_shape(gy, {s.N, s.K, s.OH, s.OW}, "gy");
  expect_shape(x, {s.N, s.C, s.H, s.W}, "x");
  Array<T> gw({s.K, s.Cg(), s.R, s.S});
  Array<T> gb({bias_grad ? s.K : int64_t(0)});
  const T *gyp = gy.data(), *xp = x.data();
  T* gwp = gw.mutable_data();
  T* gbp = bias_grad ? gb.mutable_data() : nullptr;
  {
    py::gil_scoped_release nogil;
    conv::backward_weight(s, gyp, xp, gwp, gbp, conv::Algo(algo));
  }
  return py::make_tuple(gw, bias_grad ? py::object(gb) : py::none());
}

template <typename T>
Array<T> conv_backward_bias(Array<T> gy, const std::vector<int64_t>& geom) {
  const ConvShape s = conv_shape(geom);
  expect_shape(gy, {s.N, s.K, s.OH, s.OW}, "gy");
  Array<T> gb({s.K});
  const T* gyp = gy.data();
  T* gbp = gb.mutable_data();
  py::gil_scoped_release nogil;
  conv::backward_bias(s, gyp, gbp);
  return gb;
}

template <typename T>
Array<T> max_pool_forward(Array<T> x, const std::vector<int64_t>& geom) {
  const PoolShape s = pool_shape(geom);
  expect_shape(x, {s.N, s.C, s.H, s.W}, "x");
  Array<T> y({s.N, s.C, s.OH, s.OW});
  const T* xp = x.data();
  T* yp = y.mutable_data();
  py::gil_scoped_release nogil;
  pool::max_forward(s, xp, yp);
  return y;
}

template <typename T>
Array<T> max_pool_backward(Array<T> gy, Array<T> x, const std::vector<int64_t>& geom) {
  const PoolShape s = pool_shape(geom);
  expect_shape(gy, {s.N, s.C, s.OH, s.OW}, "gy");
  expect_shape(x, {s.N, s.C, s.H, s.W}, "x");
  Array<T> gx({s.N, s.C, s.H, s.W});
  const T *gyp = gy.data(), *xp = x.data();
  T* gxp = gx.mutable_data();
  py::gil_scoped_release nogil;
  pool::max_backward(s, gyp, xp, gxp);
  return gx;
}

template <typename T>
Array<T> avg_pool_forward(Array<T> x, const std::vector<int64_t>& geom, bool count_include_pad) {
  const PoolShape s = pool_shape(geom);
  expect_shape(x, {s.N, s.C, s.H, s.W}, "x");
  Array<T> y({s.N, s.C, s.OH, s.OW});
  const T* xp = x.data();
  T* yp = y.mutable_data();
  py::gil_scoped_release nogil;
  pool::avg_forward(s, xp, yp, count_include_pad);
  return y;
}

template <typename T>
Array<T> avg_pool_backward(Array<T> gy, const std::vector<int64_t>& geom, bool count_include_pad) {
  const PoolShape s = pool_shape(geom);
  expect_shape(gy, {s.N, s.C, s.OH, s.OW}, "gy");
  Array<T> gx({s.N, s.C, s.H, s.W});
  const T* gyp = gy.data();
  T* gxp = gx.mutable_data();
  py::gil_scoped_release nogil;
  pool::avg_backward(s, gyp, gxp, count_include_pad);
  return gx;
}

// Linear: the sizes come from the arrays (x: N x in, w: out x in, gy: N x out), checked against each other.
void expect_matrices(std::initializer_list<std::pair<const py::array*, const char*>> arrays) {
  for (const auto& [a, name] : arrays)
    if (a->ndim() != 2) throw py::value_error(std::string(name) + " must be 2-D for strided._C's linear kernels");
}

template <typename T>
Array<T> linear_forward(Array<T> x, Array<T> w, std::optional<Array<T>> b, bool simple) {
  expect_matrices({{&x, "x"}, {&w, "w"}});
  expect_shape(x, {x.shape(0), w.shape(1)}, "x");
  if (b) expect_shape(*b, {w.shape(0)}, "b");
  const int64_t n = x.shape(0), in = w.shape(1), out = w.shape(0);
  Array<T> y({n, out});
  const T *xp = x.data(), *wp = w.data(), *bp = b ? b->data() : nullptr;
  T* yp = y.mutable_data();
  py::gil_scoped_release nogil;
  linear::gemm(n, out, in, xp, in, 1, wp, 1, in, bp, yp, simple);
  return y;
}

template <typename T>
Array<T> linear_backward_input(Array<T> gy, Array<T> w, bool simple) {
  expect_matrices({{&gy, "gy"}, {&w, "w"}});
  expect_shape(gy, {gy.shape(0), w.shape(0)}, "gy");
  const int64_t n = gy.shape(0), in = w.shape(1), out = w.shape(0);
  Array<T> gx({n, in});
  const T *gyp = gy.data(), *wp = w.data();
  T* gxp = gx.mutable_data();
  py::gil_scoped_release nogil;
  linear::gemm(n, in, out, gyp, out, 1, wp, in, 1, static_cast<const T*>(nullptr), gxp, simple);
  return gx;
}

template <typename T>
Array<T> linear_backward_weight(Array<T> gy, Array<T> x, bool simple) {
  expect_matrices({{&gy, "gy"}, {&x, "x"}});
  expect_shape(x, {gy.shape(0), x.shape(1)}, "x");
  const int64_t n = gy.shape(0), in = x.shape(1), out = gy.shape(1);
  Array<T> gw({out, in});
  const T *gyp = gy.data(), *xp = x.data();
  T* gwp = gw.mutable_data();
  py::gil_scoped_release nogil;
  linear::gemm(out, in, n, gyp, 1, out, xp, in, 1, static_cast<const T*>(nullptr), gwp, simple);
  return gw;
}

// Elementwise: any shape, the output takes x's.
template <typename T>
Array<T> relu_forward(Array<T> x) {
  Array<T> y(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
  const T* xp = x.data();
  T* yp = y.mutable_data();
  py::gil_scoped_release nogil;
  act::relu_forward(int64_t(x.size()), xp, yp);
  return y;
}

template <typename T>
Array<T> relu_backward(Array<T> gy, Array<T> y) {
  expect_shape(gy, std::vector<int64_t>(y.shape(), y.shape() + y.ndim()), "gy");
  Array<T> gx(std::vector<py::ssize_t>(y.shape(), y.shape() + y.ndim()));
  const T *gyp = gy.data(), *yp = y.data();
  T* gxp = gx.mutable_data();
  py::gil_scoped_release nogil;
  act::relu_backward(int64_t(y.size()), gyp, yp, gxp);
  return gx;
}

// In place: p, m, v (and vmax) are the caller's arrays, so the caster must not convert (copy) them; a
// mismatch of dtype or layout is a TypeError (noconvert below), a size mismatch a ValueError.
template <typename T>
void adam_update(Array<T> p, Array<T> g, Array<T> m, Array<T> v, std::optional<Array<T>> vmax, double lr,
                 double beta1, double beta2, double eps, double weight_decay, bool decoupled, int64_t step) {
  const std::vector<int64_t> shape(p.shape(), p.shape() + p.ndim());
  for (auto [a, name] : {std::pair<const py::array*, const char*>{&g, "grad"}, {&m, "exp_avg"}, {&v, "exp_avg_sq"}})
    expect_shape(*a, shape, name);
  if (vmax) expect_shape(*vmax, shape, "max_exp_avg_sq");
  if (step < 1) throw py::value_error("adam_update: step must be >= 1");
  T *pp = p.mutable_data(), *mp = m.mutable_data(), *vp = v.mutable_data();
  T* vmp = vmax ? vmax->mutable_data() : nullptr;
  const T* gp = g.data();
  const optim::AdamHyper h{lr, beta1, beta2, eps, weight_decay, decoupled, step};
  py::gil_scoped_release nogil;
  optim::adam_update(int64_t(p.size()), pp, gp, mp, vp, vmp, h);
}

template <typename T>
void bind_dtype(py::module_& m) {
  m.def("conv2d_forward", &conv_forward<T>, py::arg("x"), py::arg("w"), py::arg("b"), py::arg("geometry"),
        py::arg("algo") = 0);
  m.def("conv2d_backward_input", &conv_backward_input<T>, py::arg("gy"), py::arg("w"), py::arg("geometry"),
        py::arg("algo") = 0);
  m.def("conv2d_backward_weight", &conv_backward_weight<T>, py::arg("gy"), py::arg("x"), py::arg("geometry"),
        py::arg("algo") = 0, py::arg("bias_grad") = false);
  m.def("conv2d_backward_bias", &conv_backward_bias<T>, py::arg("gy"), py::arg("geometry"));
  m.def("max_pool2d_forward", &max_pool_forward<T>, py::arg("x"), py::arg("geometry"));
  m.def("max_pool2d_backward", &max_pool_backward<T>, py::arg("gy"), py::arg("x"), py::arg("geometry"));
  m.def("avg_pool2d_forward", &avg_pool_forward<T>, py::arg("x"), py::arg("geometry"),
        py::arg("count_include_pad"));
  m.def("avg_pool2d_backward", &avg_pool_backward<T>, py::arg("gy"), py::arg("geometry"),
        py::arg("count_include_pad"));
  m.def("relu_forward", &relu_forward<T>, py::arg("x"));
  m.def("relu_backward", &relu_backward<T>, py::arg("gy"), py::arg("y"));
  m.def("linear_forward", &linear_forward<T>, py::arg("x"), py::arg("w"), py::arg("b"), py::arg("simple") = false);
  m.def("linear_backward_input", &linear_backward_input<T>, py::arg("gy"), py::arg("w"), py::arg("simple") = false);
  m.def("linear_backward_weight", &linear_backward_weight<T>, py::arg("gy"), py::arg("x"), py::arg("simple") = false);
  m.def("adam_update", &adam_update<T>, py::arg("p").noconvert(), py::arg("grad").noconvert(),
        py::arg("exp_avg").noconvert(), py::arg("exp_avg_sq").noconvert(), py::arg("max_exp_avg_sq").noconvert(),
        py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("decoupled"), py::arg("step"));
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "strided's C++/OpenMP kernels (private: use the strided package)";
  bind_dtype<float>(m);
  bind_dtype<double>(m);
  m.def("out_size", &out_size, py::arg("size"), py::arg("kernel"), py::arg("stride"), py::arg("pad_begin"),
        py::arg("pad_end"), py::arg("dilation") = 1, py::arg("ceil_mode") = false);
  m.attr("malloc_tuned") = keep_freed_memory();
  m.def("set_num_threads", [](int n) { omp_set_num_threads(n); });
  m.def("get_num_threads", [] { return omp_get_max_threads(); });
  m.def("cpu_capability", [] { return std::string(capability_name(cpu_capability())); });
  m.def("cpu_detected", [] { return std::string(capability_name(cpu_detected())); });
  m.def("set_cpu_capability", [](const std::string& name) {
    Capability c = Capability::Default;
    if (name == "avx512") c = Capability::AVX512;
    else if (name == "avx2") c = Capability::AVX2;
    else if (name != "default") throw py::value_error("capability must be 'default', 'avx2' or 'avx512'");
    return std::string(capability_name(set_cpu_capability(c)));
  }, py::arg("name"), "Force the SIMD level (clamped to the CPU's); returns the level now in use.");
  m.attr("conv_algorithms") = py::dict(py::arg("auto") = int(conv::Algo::Auto),
                                       py::arg("simple") = int(conv::Algo::Simple),
                                       py::arg("im2col") = int(conv::Algo::Im2col),
                                       py::arg("gemm") = int(conv::Algo::Gemm),
                                       py::arg("direct") = int(conv::Algo::Direct));
  m.attr("conv_passes") = py::make_tuple("forward", "backward_input", "backward_weight");
  m.def("conv_choice", [](const std::vector<int64_t>& geom, const std::string& pass, const std::string& algo) {
    const ConvShape s = conv_shape(geom);
    conv::Pass p;
    if (pass == "forward") p = conv::Pass::Forward;
    else if (pass == "backward_input") p = conv::Pass::BackwardInput;
    else if (pass == "backward_weight") p = conv::Pass::BackwardWeight;
    else throw py::value_error("pass must be 'forward', 'backward_input' or 'backward_weight'");
    const py::dict algos = py::module_::import("strided._C").attr("conv_algorithms");
    if (!algos.contains(algo)) throw py::value_error("unknown conv algorithm " + algo);
    return std::string(conv::algo_name(conv::resolve(s, p, conv::Algo(algos[py::str(algo)].cast<int>()))));
  }, py::arg("geometry"), py::arg("pass"), py::arg("algo") = "auto",
        "The algorithm that runs for this geometry and pass when `algo` is asked for ('auto': the dispatcher).");
  m.def("memcpy_bandwidth", [](int64_t nbytes, int reps) {
    // The machine's streaming bandwidth for this thread count: a parallel copy of a buffer well past
    // the last-level cache, best of `reps`; GB/s counts bytes read plus bytes written (as the pooling
    // figures do).
    std::vector<char> src(size_t(nbytes), 1), dst(size_t(nbytes), 0);
    py::gil_scoped_release nogil;
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
    const int threads = omp_get_max_threads();
    std::vector<double> rates(size_t(threads), 0.0);
    py::gil_scoped_release nogil;
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
