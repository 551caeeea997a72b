// Which SIMD level the CPU offers, read at run time (the build never assumes one).
#pragma once
#include <string>

namespace strided {

enum class Capability : int { Default = 0, AVX2 = 1, AVX512 = 2 };

// The level the kernels use: the best the CPU supports, lowered (never raised) by the environment
// variable STRIDED_CPU_CAPABILITY=default|avx2|avx512 so tests can force each path.
Capability cpu_capability();
Capability cpu_detected();
const char* capability_name(Capability c);

}  // namespace strided
