// AVX2 + FMA build of the generic microkernels (compiled with -mavx2 -mfma). 16 vector registers:
// a 6 x 2-vector GEMM tile (12 accumulators + 2 B vectors + 1 broadcast), and direct-kernel blocks of 6
// output channels x 2 vectors: 8 loads per 12 FMAs where 12 x 1 took 13 (measured on a 2-FMA-port Intel
// Xeon: 1.06-1.09x at 1 thread, 1.03-1.24x at 2 on the 3x3 layers; 4 x 3 was 0.64-0.98x).
#define STRIDED_VBYTES 32
#define STRIDED_MR 6
#define STRIDED_DIRECT_KB 6
#define STRIDED_ACC 12
// Backward-weight of a 3-channel 3x3 layer (9 tile rows, two micro-tiles at 3/4) on the GEMM: 1.13-1.32x the
// direct kernel on a Zen 3 at 1 and 2 threads (CIFAR stem, N = 32, K = 64), 1.30-1.40x at 2 channels 5x5,
// 0.93-1.05x at K = 16 and on 224x224 planes.
#define STRIDED_BWDW_GEMM_ROWS 9
#define STRIDED_ISA_NAME "avx2"
#define STRIDED_TABLE_F32 table_avx2_f32
#define STRIDED_TABLE_F64 table_avx2_f64
#include "kern/table_impl.h"
