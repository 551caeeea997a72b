// What every family's pybind11 bindings share (each family's bind.cpp defines its bind_<family>, which
// module.cpp calls). Arguments arrive validated and normalized by strided.ops (C-contiguous, one float
// dtype); the bindings only check that array sizes match the geometry (so a direct caller cannot make a
// kernel read out of bounds), allocate outputs and release the GIL around the kernels.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <vector>

namespace strided {

namespace py = pybind11;

template <typename T>
using Array = py::array_t<T, py::array::c_style>;

// Throws ValueError unless `a` has exactly this shape.
void expect_shape(const py::array& a, std::vector<int64_t> shape, const char* name);

void bind_core(py::module_& m);  // the runtime: threads, SIMD level, malloc tuning, out_size, probes
void bind_conv2d(py::module_& m);
void bind_pool2d(py::module_& m);
void bind_linear(py::module_& m);
void bind_activation(py::module_& m);
void bind_norm(py::module_& m);
void bind_optim(py::module_& m);

}  // namespace strided
