// Which SIMD level the CPU offers, read at run time (the build never assumes one).
#pragma once
#include <string>

namespace strided {

enum class Capability : int { Default = 0, AVX2 = 1, AVX512 = 2 };

// The level the kernels use: the best the CPU supports, lowered (never raised) by the environment
// variable STRIDED_CPU_CAPABILITY=default|avx2|avx512 so tests can force each path.
Capability cpu_capability();
Capability cpu_detected();
// Forces the level the kernels use (clamped to what the CPU has; returns the level set). For tests and
// benchmarks that compare the SIMD paths in one process; not meant to be called while kernels run.
Capability set_cpu_capability(Capability c);
const char* capability_name(Capability c);

}  // namespace strided
