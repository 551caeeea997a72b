// The test harness: csrc/cuda/*.cu compiled by g++ against the grid emulator (emu_runtime.h), exposed to
// Python (ctypes) through a C API that takes cuLaunchKernel-style arguments: grid, block, dynamic shared
// bytes and an array of pointers to the kernel's parameters. tests/cuda_emu/emulator.py builds it.
//
// The kernels registered are listed in registry.inc, which the test generates from the name_expressions
// of the families' KERNELS in strided/ops/<family>/cuda.py (one EMU_KERNEL(name<type>) line each), so the emulator knows exactly the kernels
// CuPy instantiates. Each kernel's parameter signature is exported ('p' pointer, 'q' 64-bit int, 'i' int,
// 'f' float, 'd' double) and the Python side checks every launch against it.
#define STRIDED_EMULATED 1
#include "emu_runtime.h"

#include "conv2d.cu"
#include "norm.cu"
#include "pool2d.cu"
#include "interp.cu"

#include <cstdio>
#include <type_traits>

namespace emu {

template <typename A>
constexpr char type_code() {
  using T = std::remove_cv_t<A>;
  if constexpr (std::is_pointer_v<T>) return 'p';
  else if constexpr (std::is_same_v<T, long long>) return 'q';
  else if constexpr (std::is_same_v<T, int>) return 'i';
  else if constexpr (std::is_same_v<T, float>) return 'f';
  else if constexpr (std::is_same_v<T, double>) return 'd';
  else return '?';
}

struct Kernel {
  const char* name;
  std::string signature;
  std::function<void(void**)> call;
};

template <typename... A, size_t... I>
void call_with(void (*f)(A...), void** params, std::index_sequence<I...>) {
  f(*static_cast<std::remove_cv_t<A>*>(params[I])...);
}

template <typename... A>
Kernel make_kernel(const char* name, void (*f)(A...)) {
  return Kernel{name, std::string{type_code<A>()...},
                [f](void** params) { call_with(f, params, std::index_sequence_for<A...>{}); }};
}

// Two broken kernels that the tests use to show the emulator catches what it claims to catch.
// A barrier that only some threads reach (odd threads return first):
inline void emu_test_divergent_barrier(double* out) {
  if (threadIdx.x % 2) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}
// A missing barrier: each thread reads its neighbour's shared slot without waiting for the write.
inline void emu_test_shared_race(double* out) {
  double* s = reinterpret_cast<double*>(strided_emu_shared_bytes());
  s[threadIdx.x] = threadIdx.x;
  out[threadIdx.x] = s[(threadIdx.x + 1) % blockDim.x];
}

#define EMU_KERNEL(...) ::emu::make_kernel(#__VA_ARGS__, &__VA_ARGS__),
inline const std::vector<Kernel>& registry() {
  static const std::vector<Kernel> kernels = {
#include "registry.inc"
      EMU_KERNEL(emu_test_divergent_barrier)
      EMU_KERNEL(emu_test_shared_race)
  };
  return kernels;
}
#undef EMU_KERNEL

}  // namespace emu

#define EMU_API __attribute__((visibility("default")))

extern "C" {

EMU_API int emu_kernel_count() { return int(emu::registry().size()); }
EMU_API const char* emu_kernel_name(int i) { return emu::registry().at(size_t(i)).name; }
EMU_API const char* emu_kernel_signature(int i) { return emu::registry().at(size_t(i)).signature.c_str(); }

// Returns 0 on success, else writes a message to err.
EMU_API int emu_launch(int kernel, const unsigned* grid, const unsigned* block, unsigned long long shared_bytes,
               void** params, int order, unsigned long long seed, char* err, int err_len) {
  try {
    const emu::Kernel& k = emu::registry().at(size_t(kernel));
    const std::function<void()> body = [&k, params] { k.call(params); };
    emu::launch(dim3{grid[0], grid[1], grid[2]}, dim3{block[0], block[1], block[2]}, size_t(shared_bytes), body,
                order, seed);
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err, size_t(err_len), "%s", e.what());
    return 1;
  }
}

EMU_API void emu_counters(unsigned long long* barriers, unsigned long long* switches) {
  *barriers = emu::state().barriers;
  *switches = emu::state().switches;
}

}  // extern "C"
