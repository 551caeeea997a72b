// The private module strided._C: one bind_<family> per op family (core/bind.h), then the runtime.
#include "core/bind.h"

PYBIND11_MODULE(_C, m) {
  m.doc() = "strided's C++/OpenMP kernels (private: use the strided package)";
  strided::bind_conv2d(m);
  strided::bind_pool2d(m);
  strided::bind_interp(m);
  strided::bind_activation(m);
  strided::bind_norm(m);
  strided::bind_linear(m);
  strided::bind_optim(m);
  strided::bind_core(m);
}
