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

// The kernels' thread count, one for the whole process: OpenMP's own setting (omp_set_num_threads) belongs
// to the OS thread that makes it, so a threading.Thread would otherwise run at the startup count.
// OMP_NUM_THREADS sets the starting value.
int num_threads();
void set_num_threads(int n);

// What every binding holds while its kernel runs: the GIL released, and the process-wide thread count
// applied to the calling OS thread, so its parallel regions (and omp_get_max_threads) follow it.
struct KernelCall {
  py::gil_scoped_release nogil;
  KernelCall();
};

// Throws ValueError unless `a` has exactly this shape.
void expect_shape(const py::array& a, std::vector<int64_t> shape, const char* name);

void bind_core(py::module_& m);  // the runtime: threads, SIMD level, malloc tuning, out_size, probes
void bind_conv2d(py::module_& m);
void bind_pool2d(py::module_& m);
void bind_interp(py::module_& m);
void bind_linear(py::module_& m);
void bind_activation(py::module_& m);
void bind_norm(py::module_& m);
void bind_optim(py::module_& m);

}  // namespace strided
