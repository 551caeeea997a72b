// pybind11 bindings of pool2d (pool2d.h): max and average pooling, forward and backward, per dtype.
#include <pybind11/stl.h>

#include <utility>

#include "core/bind.h"
#include "pool2d/general.h"
#include "pool2d/pool2d.h"

namespace strided {

PoolShape pool_shape(const std::vector<int64_t>& g) {
  if (g.size() != 15) throw py::value_error("pool geometry must have 15 fields (strided.ops.pool2d.args.PoolArgs)");
  PoolShape s{g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], g[12] != 0, g[13], g[14]};
  if (s.dil_h < 1 || s.dil_w < 1 ||
      s.OH != out_size(s.H, s.kernel_h, s.stride_h, s.pad_h, s.pad_h, s.dil_h, s.ceil_mode) ||
      s.OW != out_size(s.W, s.kernel_w, s.stride_w, s.pad_w, s.pad_w, s.dil_w, s.ceil_mode) || s.OH < 1 || s.OW < 1)
    throw py::value_error("pool geometry: output size disagrees with the output-size rule, or a value or "
                          "extent exceeds 2**62");
  if (s.N < 0 || s.C < 0 || 2 * s.pad_h > s.kernel_h || 2 * s.pad_w > s.kernel_w ||
      bounded_mad(s.kernel_h, s.kernel_w, 0) < 0 ||
      bounded_mad(bounded_mad(bounded_mad(s.C, s.OH, 0), s.OW, 0), 8, 0) < 0)
    throw py::value_error("pool geometry: padding over half the kernel, or the window area or the output per "
                          "sample exceeds 2**62");
  return s;
}

void bind_pool2d_general(py::module_& m);  // pool2d/bind_general.cpp

namespace {

// Dilated windows take the general kernels (general.h); the SIMD ones read contiguous window rows.
bool dilated(const PoolShape& s) { return s.dil_h != 1 || s.dil_w != 1; }

template <typename T>
void max_forward(const PoolShape& s, const T* x, T* y, int64_t* indices) {
  KernelCall nogil;
  if (dilated(s)) pool::max_forward_general(s, x, y, indices);
  else pool::max_forward(s, x, y, indices);
}

template <typename T>
Array<T> max_pool_forward(Array<T> x, const std::vector<int64_t>& geom) {
  const PoolShape s = pool_shape(geom);
  expect_shape(x, {s.N, s.C, s.H, s.W}, "x");
  Array<T> y({s.N, s.C, s.OH, s.OW});
  max_forward(s, x.data(), y.mutable_data(), static_cast<int64_t*>(nullptr));
  return y;
}

// y and the int64 flat index of each output's pick in its input plane (PyTorch's).
template <typename T>
std::pair<Array<T>, py::array_t<int64_t>> max_pool_forward_indices(Array<T> x, const std::vector<int64_t>& geom) {
  const PoolShape s = pool_shape(geom);
  expect_shape(x, {s.N, s.C, s.H, s.W}, "x");
  Array<T> y({s.N, s.C, s.OH, s.OW});
  py::array_t<int64_t> indices({s.N, s.C, s.OH, s.OW});
  max_forward(s, x.data(), y.mutable_data(), indices.mutable_data());
  return {y, indices};
}

template <typename T>
Array<T> max_pool_backward(Array<T> gy, Array<T> x, const std::vector<int64_t>& geom) {
  const PoolShape s = pool_shape(geom);
  expect_shape(gy, {s.N, s.C, s.OH, s.OW}, "gy");
  expect_shape(x, {s.N, s.C, s.H, s.W}, "x");
  Array<T> gx({s.N, s.C, s.H, s.W});
  const T *gyp = gy.data(), *xp = x.data();
  T* gxp = gx.mutable_data();
  KernelCall nogil;
  if (dilated(s)) pool::max_backward_general(s, gyp, xp, gxp);
  else pool::max_backward(s, gyp, xp, gxp);
  return gx;
}

// divisor: PyTorch's divisor_override, 0 for none (the general kernels then take the call).
template <typename T>
Array<T> avg_pool_forward(Array<T> x, const std::vector<int64_t>& geom, bool count_include_pad, int64_t divisor) {
  const PoolShape s = pool_shape(geom);
  if (dilated(s)) throw py::value_error("average pooling has no dilation");
  expect_shape(x, {s.N, s.C, s.H, s.W}, "x");
  Array<T> y({s.N, s.C, s.OH, s.OW});
  const T* xp = x.data();
  T* yp = y.mutable_data();
  KernelCall nogil;
  if (divisor) pool::avg_forward_divisor(s, xp, yp, divisor);
  else pool::avg_forward(s, xp, yp, count_include_pad);
  return y;
}

template <typename T>
Array<T> avg_pool_backward(Array<T> gy, const std::vector<int64_t>& geom, bool count_include_pad, int64_t divisor) {
  const PoolShape s = pool_shape(geom);
  if (dilated(s)) throw py::value_error("average pooling has no dilation");
  expect_shape(gy, {s.N, s.C, s.OH, s.OW}, "gy");
  Array<T> gx({s.N, s.C, s.H, s.W});
  const T* gyp = gy.data();
  T* gxp = gx.mutable_data();
  KernelCall nogil;
  if (divisor) pool::avg_backward_divisor(s, gyp, gxp, divisor);
  else pool::avg_backward(s, gyp, gxp, count_include_pad);
  return gx;
}

template <typename T>
void bind_dtype(py::module_& m) {
  m.def("max_pool2d_forward", &max_pool_forward<T>, py::arg("x"), py::arg("geometry"));
  m.def("max_pool2d_forward_indices", &max_pool_forward_indices<T>, py::arg("x"), py::arg("geometry"));
  m.def("max_pool2d_backward", &max_pool_backward<T>, py::arg("gy"), py::arg("x"), py::arg("geometry"));
  m.def("avg_pool2d_forward", &avg_pool_forward<T>, py::arg("x"), py::arg("geometry"),
        py::arg("count_include_pad"), py::arg("divisor") = 0);
  m.def("avg_pool2d_backward", &avg_pool_backward<T>, py::arg("gy"), py::arg("geometry"),
        py::arg("count_include_pad"), py::arg("divisor") = 0);
}

}  // namespace

void bind_pool2d(py::module_& m) {
  bind_dtype<float>(m);
  bind_dtype<double>(m);
  bind_pool2d_general(m);
}

}  // namespace strided
