// pybind11 bindings of the fused optimizer updates (optim.h), per dtype.
#include <pybind11/stl.h>

#include <optional>
#include <utility>
#include <vector>

#include "core/bind.h"
#include "optim/optim.h"

namespace strided {
namespace {

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
  KernelCall nogil;
  optim::adam_update(int64_t(p.size()), pp, gp, mp, vp, vmp, h);
}

template <typename T>
void bind_dtype(py::module_& m) {
  m.def("adam_update", &adam_update<T>, py::arg("p").noconvert(), py::arg("grad").noconvert(),
        py::arg("exp_avg").noconvert(), py::arg("exp_avg_sq").noconvert(), py::arg("max_exp_avg_sq").noconvert(),
        py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("decoupled"), py::arg("step"));
}

}  // namespace

void bind_optim(py::module_& m) {
  bind_dtype<float>(m);
  bind_dtype<double>(m);
}

}  // namespace strided
