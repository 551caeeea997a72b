// AVX-512 build of the generic microkernels (compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq
// -mfma, see CMakeLists.txt; only called when the CPU reports those features). 32 vector registers:
// a 12 x 2-vector GEMM tile (24 accumulators) and up to 24 direct-kernel accumulators.
#define STRIDED_VBYTES 64
#define STRIDED_MR 12
#define STRIDED_DIRECT_KB 12
#define STRIDED_ACC 24
#define STRIDED_BWDW_GEMM_ROWS 12  // one micro-tile
#define STRIDED_ISA_NAME "avx512"
#define STRIDED_TABLE_F32 table_avx512_f32
#define STRIDED_TABLE_F64 table_avx512_f64
#include "kern/table_impl.h"
