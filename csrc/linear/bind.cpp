// pybind11 bindings of linear (linear.h): forward and both gradients per dtype, the sizes taken from
// the arrays.
#include <pybind11/stl.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <utility>

#include "core/bind.h"
#include "linear/linear.h"

namespace strided {
namespace {

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
  KernelCall nogil;
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
  KernelCall nogil;
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
  KernelCall nogil;
  linear::gemm(out, in, n, gyp, 1, out, xp, in, 1, static_cast<const T*>(nullptr), gwp, simple);
  return gw;
}

template <typename T>
void bind_dtype(py::module_& m) {
  m.def("linear_forward", &linear_forward<T>, py::arg("x"), py::arg("w"), py::arg("b"), py::arg("simple") = false);
  m.def("linear_backward_input", &linear_backward_input<T>, py::arg("gy"), py::arg("w"), py::arg("simple") = false);
  m.def("linear_backward_weight", &linear_backward_weight<T>, py::arg("gy"), py::arg("x"), py::arg("simple") = false);
}

}  // namespace

void bind_linear(py::module_& m) {
  bind_dtype<float>(m);
  bind_dtype<double>(m);
}

}  // namespace strided
