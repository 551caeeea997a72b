// pybind11 bindings of interp (interp.h): nearest and bilinear interpolation, forward and backward, per
// dtype. Named as PyTorch's kernels (upsample_nearest2d, upsample_bilinear2d) and as the CUDA twins.
#include <pybind11/stl.h>

#include <cmath>
#include <tuple>
#include <vector>

#include "core/bind.h"
#include "interp/interp.h"

namespace strided {
namespace {

// strided.ops.interp.args.InterpArgs, field by field.
using InterpGeometry = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool, double, double>;

// The output size must follow from the scale factor where one is given (floor(in * scale), as PyTorch).
bool follows(int64_t in, int64_t out, double scale) {
  return scale == 0. || (scale > 0. && out == static_cast<int64_t>(std::floor(static_cast<double>(in) * scale)));
}

InterpShape interp_shape(const InterpGeometry& g) {
  const auto& [N, C, H, W, OH, OW, align_corners, scale_h, scale_w] = g;
  const InterpShape s{N, C, H, W, OH, OW, align_corners, scale_h, scale_w};
  if (s.N < 0 || s.C < 1 || s.H < 1 || s.W < 1 || s.OH < 1 || s.OW < 1 || !follows(s.H, s.OH, s.scale_h) ||
      !follows(s.W, s.OW, s.scale_w))
    throw py::value_error("interp geometry: sizes must be positive and follow the scale factors");
  return s;
}

// One kernel call: forward maps x (N, C, H, W) to y (N, C, OH, OW), backward gy (N, C, OH, OW) to gx.
template <typename T, void (*kernel)(const InterpShape&, const T*, T*), bool backward>
Array<T> run(Array<T> in, const InterpGeometry& geom) {
  const InterpShape s = interp_shape(geom);
  const std::vector<int64_t> x_shape{s.N, s.C, s.H, s.W}, y_shape{s.N, s.C, s.OH, s.OW};
  expect_shape(in, backward ? y_shape : x_shape, backward ? "gy" : "x");
  Array<T> out(backward ? x_shape : y_shape);
  const T* ip = in.data();
  T* op = out.mutable_data();
  KernelCall nogil;
  kernel(s, ip, op);
  return out;
}

template <typename T>
void bind_dtype(py::module_& m) {
  m.def("upsample_nearest2d_forward", &run<T, interp::nearest_forward<T>, false>, py::arg("x"), py::arg("geometry"));
  m.def("upsample_nearest2d_backward", &run<T, interp::nearest_backward<T>, true>, py::arg("gy"), py::arg("geometry"));
  m.def("upsample_bilinear2d_forward", &run<T, interp::bilinear_forward<T>, false>, py::arg("x"), py::arg("geometry"));
  m.def("upsample_bilinear2d_backward", &run<T, interp::bilinear_backward<T>, true>, py::arg("gy"),
        py::arg("geometry"));
}

}  // namespace

void bind_interp(py::module_& m) {
  bind_dtype<float>(m);
  bind_dtype<double>(m);
}

}  // namespace strided
