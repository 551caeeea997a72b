// pybind11 bindings of conv2d (conv2d.h): the four passes per dtype, the algorithm names and the
// dispatcher's answer for a geometry (conv_choice).
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "conv2d/conv2d.h"
#include "core/bind.h"

namespace strided {
namespace {

ConvShape conv_shape(const std::vector<int64_t>& g) {
  if (g.size() != 18) throw py::value_error("conv geometry must have 18 fields (strided.ops.conv2d.args.ConvArgs)");
  ConvShape s{g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8],
              g[9], g[10], g[11], g[12], g[13], g[14], g[15], g[16], g[17]};
  if (s.groups < 1 || s.groups > kGeometryLimit || s.K < 1 || s.C < 0 || s.N < 0 || s.C % s.groups ||
      s.K % s.groups)
    throw py::value_error("conv geometry: groups must be positive and divide C and K, and K positive");
  if (s.OH != out_size(s.H, s.R, s.stride_h, s.pad_top, s.pad_bottom, s.dil_h, false) ||
      s.OW != out_size(s.W, s.S, s.stride_w, s.pad_left, s.pad_right, s.dil_w, false) || s.OH < 1 || s.OW < 1)
    throw py::value_error("conv geometry: output size disagrees with the output-size rule, or a value or "
                          "extent exceeds 2**62");
  if (bounded_mad(bounded_mad(s.K, s.OH, 0), s.OW, 0) < 0 ||
      bounded_mad(bounded_mad(bounded_mad(s.K, s.OH, 0), s.OW, 0), 8, 0) < 0)
    throw py::value_error("conv geometry: the output exceeds 2**62 bytes per sample");
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
  KernelCall nogil;
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
  KernelCall nogil;
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
    KernelCall nogil;
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
  KernelCall nogil;
  conv::backward_bias(s, gyp, gbp);
  return gb;
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
}

}  // namespace

void bind_conv2d(py::module_& m) {
  bind_dtype<float>(m);
  bind_dtype<double>(m);
  py::dict algos;
  for (conv::Algo a : conv::kAlgos) algos[conv::algo_name(a)] = int(a);
  m.attr("conv_algorithms") = algos;
  m.attr("conv_passes") = py::make_tuple("forward", "backward_input", "backward_weight");
  m.def("conv_choice", [](const std::vector<int64_t>& geom, const std::string& pass, const std::string& algo,
                          const std::string& dtype) {
    if (dtype != "float32" && dtype != "float64") throw py::value_error("dtype must be 'float32' or 'float64'");
    const ConvShape s = conv_shape(geom);
    conv::Pass p;
    if (pass == "forward") p = conv::Pass::Forward;
    else if (pass == "backward_input") p = conv::Pass::BackwardInput;
    else if (pass == "backward_weight") p = conv::Pass::BackwardWeight;
    else throw py::value_error("pass must be 'forward', 'backward_input' or 'backward_weight'");
    for (conv::Algo a : conv::kAlgos)
      if (algo == conv::algo_name(a))
        return std::string(conv::algo_name(dtype == "float64" ? conv::resolve<double>(s, p, a)
                                                              : conv::resolve<float>(s, p, a)));
    throw py::value_error("unknown conv algorithm " + algo);
  }, py::arg("geometry"), py::arg("pass"), py::arg("algo") = "auto", py::arg("dtype") = "float32",
        "The algorithm that runs for this geometry, pass and dtype when `algo` is asked for ('auto': the "
        "dispatcher).");
}

}  // namespace strided
