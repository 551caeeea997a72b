// pybind11 bindings of the general pooling kernels (general.h): max pooling's backward through indices,
// and max unpooling (bind.cpp hands them dilated windows and divisor overrides). An index
// outside its plane raises ValueError (the kernels skip it, so nothing is written out of bounds).
#include <pybind11/stl.h>

#include "core/bind.h"
#include "pool2d/general.h"

namespace strided {

PoolShape pool_shape(const std::vector<int64_t>& g);  // pool2d/bind.cpp

namespace {

using Index = py::array_t<int64_t, py::array::c_style>;

void expect_indices_in_range(bool ok, const char* what, int64_t size) {
  if (!ok) throw py::value_error(std::string(what) + ": an index lies outside [0, " + std::to_string(size) + ")");
}

template <typename T>
Array<T> max_pool_backward_indices(Array<T> gy, Index indices, const std::vector<int64_t>& geom) {
  const PoolShape s = pool_shape(geom);
  expect_shape(gy, {s.N, s.C, s.OH, s.OW}, "gy");
  expect_shape(indices, {s.N, s.C, s.OH, s.OW}, "indices");
  Array<T> gx({s.N, s.C, s.H, s.W});
  const T* gyp = gy.data();
  const int64_t* ip = indices.data();
  T* gxp = gx.mutable_data();
  bool ok;
  {
    KernelCall nogil;
    ok = pool::max_backward_indices(s, gyp, ip, gxp);
  }
  expect_indices_in_range(ok, "max_pool2d_backward", s.H * s.W);
  return gx;
}

// x and indices (N, C, H, W) -> y (N, C, OH, OW).
template <typename T>
Array<T> unpool_forward(Array<T> x, Index indices, int64_t OH, int64_t OW) {
  if (x.ndim() != 4 || OH < 1 || OW < 1)
    throw py::value_error("max_unpool2d: x must be 4-D and the output size positive");
  const int64_t N = x.shape(0), C = x.shape(1), H = x.shape(2), W = x.shape(3);
  expect_shape(indices, {N, C, H, W}, "indices");
  Array<T> y({N, C, OH, OW});
  const T* xp = x.data();
  const int64_t* ip = indices.data();
  T* yp = y.mutable_data();
  bool ok;
  {
    KernelCall nogil;
    ok = pool::unpool_forward(N * C, H * W, OH * OW, xp, ip, yp);
  }
  expect_indices_in_range(ok, "max_unpool2d", OH * OW);
  return y;
}

// gy (N, C, OH, OW) and indices (N, C, H, W) -> gx (N, C, H, W).
template <typename T>
Array<T> unpool_backward(Array<T> gy, Index indices) {
  if (gy.ndim() != 4 || indices.ndim() != 4) throw py::value_error("max_unpool2d_backward: gy and indices must be 4-D");
  const int64_t N = indices.shape(0), C = indices.shape(1), H = indices.shape(2), W = indices.shape(3);
  expect_shape(gy, {N, C, gy.shape(2), gy.shape(3)}, "gy");
  const int64_t out_size = gy.shape(2) * gy.shape(3);
  Array<T> gx({N, C, H, W});
  const T* gyp = gy.data();
  const int64_t* ip = indices.data();
  T* gxp = gx.mutable_data();
  bool ok;
  {
    KernelCall nogil;
    ok = pool::unpool_backward(N * C, H * W, out_size, gyp, ip, gxp);
  }
  expect_indices_in_range(ok, "max_unpool2d_backward", out_size);
  return gx;
}

template <typename T>
void bind_dtype(py::module_& m) {
  m.def("max_pool2d_backward_indices", &max_pool_backward_indices<T>, py::arg("gy"), py::arg("indices"),
        py::arg("geometry"));
  m.def("max_unpool2d_forward", &unpool_forward<T>, py::arg("x"), py::arg("indices"), py::arg("out_h"),
        py::arg("out_w"));
  m.def("max_unpool2d_backward", &unpool_backward<T>, py::arg("gy"), py::arg("indices"));
}

}  // namespace

void bind_pool2d_general(py::module_& m) {
  bind_dtype<float>(m);
  bind_dtype<double>(m);
}

}  // namespace strided
