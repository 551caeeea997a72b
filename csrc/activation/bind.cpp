// pybind11 bindings of the activations (activation.h): ReLU forward and backward per dtype, any shape.
#include <vector>

#include "activation/activation.h"
#include "core/bind.h"

namespace strided {
namespace {

// Elementwise: any shape, the output takes x's.
template <typename T>
Array<T> relu_forward(Array<T> x) {
  Array<T> y(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
  const T* xp = x.data();
  T* yp = y.mutable_data();
  KernelCall nogil;
  act::relu_forward(int64_t(x.size()), xp, yp);
  return y;
}

template <typename T>
Array<T> relu_backward(Array<T> gy, Array<T> y) {
  expect_shape(gy, std::vector<int64_t>(y.shape(), y.shape() + y.ndim()), "gy");
  Array<T> gx(std::vector<py::ssize_t>(y.shape(), y.shape() + y.ndim()));
  const T *gyp = gy.data(), *yp = y.data();
  T* gxp = gx.mutable_data();
  KernelCall nogil;
  act::relu_backward(int64_t(y.size()), gyp, yp, gxp);
  return gx;
}

template <typename T>
void bind_dtype(py::module_& m) {
  m.def("relu_forward", &relu_forward<T>, py::arg("x"));
  m.def("relu_backward", &relu_backward<T>, py::arg("gy"), py::arg("y"));
}

}  // namespace

void bind_activation(py::module_& m) {
  bind_dtype<float>(m);
  bind_dtype<double>(m);
}

}  // namespace strided
