// Portable build of the generic microkernels: 16-byte vectors (SSE2 on x86-64, the compiler's generic
// lowering elsewhere), no FMA; 16 registers, blocked as AVX2's. Also the home of the dispatch by cpu_capability().
#define STRIDED_VBYTES 16
#define STRIDED_MR 6
#define STRIDED_DIRECT_KB 6
#define STRIDED_ACC 12
// The compiler's GEMM tile without FMA reads 0.64-0.73x the direct kernel at 9 rows (3-channel 3x3).
#define STRIDED_BWDW_GEMM_ROWS 12
#define STRIDED_ISA_NAME "default"
#define STRIDED_TABLE_F32 table_default_f32
#define STRIDED_TABLE_F64 table_default_f64
#include "kern/table_impl.h"

namespace strided::kern {

template <>
const Table<float>& table_for<float>(Capability c) {
  switch (c) {
    case Capability::AVX512: return table_avx512_f32();
    case Capability::AVX2: return table_avx2_f32();
    default: return table_default_f32();
  }
}

template <>
const Table<double>& table_for<double>(Capability c) {
  switch (c) {
    case Capability::AVX512: return table_avx512_f64();
    case Capability::AVX2: return table_avx2_f64();
    default: return table_default_f64();
  }
}

}  // namespace strided::kern
