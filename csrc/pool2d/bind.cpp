// pybind11 bindings of pool2d (pool2d.h): max and average pooling, forward and backward, per dtype.
#include <pybind11/stl.h>

#include "core/bind.h"
#include "pool2d/pool2d.h"

namespace strided {
namespace {

PoolShape pool_shape(const std::vector<int64_t>& g) {
  if (g.size() != 13) throw py::value_error("pool geometry must have 13 fields (strided.ops.pool2d.args.PoolArgs)");
  PoolShape s{g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], g[12] != 0};
  if (s.OH != out_size(s.H, s.kernel_h, s.stride_h, s.pad_h, s.pad_h, 1, s.ceil_mode) ||
      s.OW != out_size(s.W, s.kernel_w, s.stride_w, s.pad_w, s.pad_w, 1, s.ceil_mode) || s.OH < 1 || s.OW < 1)
    throw py::value_error("pool geometry: output size disagrees with the output-size rule");
  return s;
}

template <typename T>
Array<T> max_pool_forward(Array<T> x, const std::vector<int64_t>& geom) {
  const PoolShape s = pool_shape(geom);
  expect_shape(x, {s.N, s.C, s.H, s.W}, "x");
  Array<T> y({s.N, s.C, s.OH, s.OW});
  const T* xp = x.data();
  T* yp = y.mutable_data();
  KernelCall nogil;
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
  KernelCall nogil;
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
  KernelCall nogil;
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
  KernelCall nogil;
  pool::avg_backward(s, gyp, gxp, count_include_pad);
  return gx;
}

template <typename T>
void bind_dtype(py::module_& m) {
  m.def("max_pool2d_forward", &max_pool_forward<T>, py::arg("x"), py::arg("geometry"));
  m.def("max_pool2d_backward", &max_pool_backward<T>, py::arg("gy"), py::arg("x"), py::arg("geometry"));
  m.def("avg_pool2d_forward", &avg_pool_forward<T>, py::arg("x"), py::arg("geometry"),
        py::arg("count_include_pad"));
  m.def("avg_pool2d_backward", &avg_pool_backward<T>, py::arg("gy"), py::arg("geometry"),
        py::arg("count_include_pad"));
}

}  // namespace

void bind_pool2d(py::module_& m) {
  bind_dtype<float>(m);
  bind_dtype<double>(m);
}

}  // namespace strided
