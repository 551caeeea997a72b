// Reads the CPU's SIMD level (cpu_features.h) and holds the one the kernels use.
#include "core/cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace strided {

Capability cpu_detected() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return Capability::AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Capability::AVX2;
#endif
  return Capability::Default;
}

namespace {
Capability from_env() {
  Capability c = cpu_detected();
  if (const char* env = std::getenv("STRIDED_CPU_CAPABILITY")) {
    Capability asked = c;
    if (!std::strcmp(env, "default")) asked = Capability::Default;
    else if (!std::strcmp(env, "avx2")) asked = Capability::AVX2;
    else if (!std::strcmp(env, "avx512")) asked = Capability::AVX512;
    if (asked < c) c = asked;
  }
  return c;
}
// Read once from the environment; set_cpu_capability (tests, benchmarks) may lower it later.
std::atomic<int> chosen{-1};
}  // namespace

Capability cpu_capability() {
  int c = chosen.load(std::memory_order_relaxed);
  if (c < 0) {
    c = int(from_env());
    chosen.store(c, std::memory_order_relaxed);
  }
  return Capability(c);
}

Capability set_cpu_capability(Capability c) {
  if (c > cpu_detected()) c = cpu_detected();
  chosen.store(int(c), std::memory_order_relaxed);
  return c;
}

const char* capability_name(Capability c) {
  switch (c) {
    case Capability::AVX512: return "avx512";
    case Capability::AVX2: return "avx2";
    default: return "default";
  }
}

}  // namespace strided
