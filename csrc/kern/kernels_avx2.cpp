// AVX2 + FMA build of the generic microkernels (compiled with -mavx2 -mfma). 16 vector registers:
// a 6 x 2-vector GEMM tile (12 accumulators + 2 B vectors + 1 broadcast).
#define STRIDED_VBYTES 32
#define STRIDED_MR 6
#define STRIDED_ACC 12
#define STRIDED_ISA_NAME "avx2"
#define STRIDED_TABLE_F32 table_avx2_f32
#define STRIDED_TABLE_F64 table_avx2_f64
#include "kern/table_impl.h"
