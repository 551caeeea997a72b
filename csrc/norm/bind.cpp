// pybind11 bindings of the normalization kernels (norm.h): statistics, normalize-and-scale, backward, per
// dtype, on x viewed as (N, C, S) (strided.ops.norm reshapes it).
#include <pybind11/stl.h>

#include <optional>
#include <tuple>

#include "core/bind.h"
#include "norm/norm.h"

namespace strided {
namespace {

using norm::NormShape;

NormShape norm_shape(const std::vector<int64_t>& g) {
  if (g.size() != 5) throw py::value_error("norm geometry must have 5 fields (strided.ops.norm.args.NormArgs)");
  NormShape s{g[0], g[1], g[2], g[3], g[4] != 0};
  if (s.N < 0 || s.C < 1 || s.S < 0 || s.G < 1 || s.C % s.G != 0)
    throw py::value_error("norm geometry: need N, S >= 0, C >= 1 and G >= 1 dividing C");
  return s;
}

template <typename T>
const T* optional_data(const std::optional<Array<T>>& a, int64_t n, const char* name) {
  if (!a) return nullptr;
  expect_shape(*a, {n}, name);
  return a->data();
}

template <typename T>
std::tuple<Array<T>, Array<T>> stats(Array<T> x, const std::vector<int64_t>& geom) {
  const NormShape s = norm_shape(geom);
  expect_shape(x, {s.N, s.C, s.S}, "x");
  Array<T> mean({s.units()}), var({s.units()});
  const T* xp = x.data();
  T *mp = mean.mutable_data(), *vp = var.mutable_data();
  py::gil_scoped_release nogil;
  norm::stats(s, xp, mp, vp);
  return {mean, var};
}

template <typename T>
Array<T> apply(Array<T> x, Array<T> mean, Array<T> invstd, std::optional<Array<T>> w, std::optional<Array<T>> b,
               const std::vector<int64_t>& geom) {
  const NormShape s = norm_shape(geom);
  expect_shape(x, {s.N, s.C, s.S}, "x");
  expect_shape(mean, {s.units()}, "mean");
  expect_shape(invstd, {s.units()}, "invstd");
  const T *wp = optional_data(w, s.C, "weight"), *bp = optional_data(b, s.C, "bias");
  Array<T> y({s.N, s.C, s.S});
  const T *xp = x.data(), *mp = mean.data(), *ip = invstd.data();
  T* yp = y.mutable_data();
  py::gil_scoped_release nogil;
  norm::apply(s, xp, mp, ip, wp, bp, yp);
  return y;
}

template <typename T>
std::tuple<py::object, py::object, py::object> backward(Array<T> gy, Array<T> x, Array<T> mean, Array<T> invstd,
                                                        std::optional<Array<T>> w, const std::vector<int64_t>& geom,
                                                        bool input_stats, bool input_grad, bool weight_grad,
                                                        bool bias_grad) {
  const NormShape s = norm_shape(geom);
  expect_shape(gy, {s.N, s.C, s.S}, "gy");
  expect_shape(x, {s.N, s.C, s.S}, "x");
  expect_shape(mean, {s.units()}, "mean");
  expect_shape(invstd, {s.units()}, "invstd");
  const T* wp = optional_data(w, s.C, "weight");
  std::optional<Array<T>> gx, gw, gb;
  if (input_grad) gx.emplace(std::vector<int64_t>{s.N, s.C, s.S});
  if (weight_grad) gw.emplace(std::vector<int64_t>{s.C});
  if (bias_grad) gb.emplace(std::vector<int64_t>{s.C});
  T* gxp = gx ? gx->mutable_data() : nullptr;
  T* gwp = gw ? gw->mutable_data() : nullptr;
  T* gbp = gb ? gb->mutable_data() : nullptr;
  {
    const T *gyp = gy.data(), *xp = x.data(), *mp = mean.data(), *ip = invstd.data();
    py::gil_scoped_release nogil;
    norm::backward(s, gyp, xp, mp, ip, wp, input_stats, gxp, gwp, gbp);
  }
  auto out = [](std::optional<Array<T>>& a) { return a ? py::object(*a) : py::object(py::none()); };
  return {out(gx), out(gw), out(gb)};
}

template <typename T>
void bind_dtype(py::module_& m) {
  m.def("norm_stats", &stats<T>, py::arg("x"), py::arg("geometry"));
  m.def("norm_apply", &apply<T>, py::arg("x"), py::arg("mean"), py::arg("invstd"), py::arg("weight").none(true),
        py::arg("bias").none(true), py::arg("geometry"));
  m.def("norm_backward", &backward<T>, py::arg("gy"), py::arg("x"), py::arg("mean"), py::arg("invstd"),
        py::arg("weight").none(true), py::arg("geometry"), py::arg("input_stats"), py::arg("input_grad"),
        py::arg("weight_grad"), py::arg("bias_grad"));
}

}  // namespace

void bind_norm(py::module_& m) {
  bind_dtype<float>(m);
  bind_dtype<double>(m);
}

}  // namespace strided
