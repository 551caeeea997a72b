"""Shape sweeps shared by the emulated (test_cuda_emulated.py) and real-GPU (test_cuda_gpu.py) tests."""
import numpy as np

CONV = {  # name: (N, C, H, W, K, R, S, stride, padding, dilation, groups)
    "basic": (2, 3, 9, 7, 4, 3, 2, 1, 1, 1, 1),
    "same_stride_groups": (1, 4, 11, 10, 34, 3, 3, 2, "same", 1, 2),
    "asym_pad_dilation": (3, 6, 8, 9, 66, 2, 4, (2, 3), (1, 2, 0, 3), (2, 1), 3),
    "full_dilated": (2, 2, 7, 7, 64, 3, 3, 3, "full", 2, 2),
    "tile_edge_plus_one": (2, 5, 13, 11, 65, 5, 3, (1, 2), (2, 1), 1, 1),
    "tile_exact": (1, 16, 8, 8, 64, 1, 1, 1, 0, 1, 1),
    "one_by_one": (1, 17, 5, 6, 15, 1, 1, 1, 0, 1, 1),
    "depthwise": (2, 16, 12, 12, 16, 3, 3, 1, 1, 1, 16),
    "depthwise_multiplier": (2, 4, 6, 6, 8, 3, 3, 2, 1, 1, 4),
    "primes_7x7": (1, 3, 31, 29, 5, 7, 7, 2, 3, 1, 1),
    "same_even_kernel": (2, 2, 10, 8, 2, 4, 2, 3, "same", 2, 1),
    "kernel_equals_input": (2, 3, 5, 4, 64, 5, 4, 1, 0, 1, 1),
    "one_pixel": (2, 3, 1, 1, 2, 1, 1, 1, 0, 1, 1),
    "padding_over_kernel": (1, 2, 3, 3, 2, 2, 2, 1, 3, 1, 1),
    "stride_over_kernel": (2, 2, 11, 11, 17, 2, 2, 4, 0, 1, 1),
    "weights_in_several_chunks": (1, 2, 8, 8, 96, 7, 7, 1, 3, 1, 1),  # backward_input stages 41/83 of 96
}

POOL = [  # (N, C, H, W, kernel, stride, padding, ceil_mode)
    (2, 3, 8, 8, 2, None, 0, False),
    (2, 3, 9, 7, 3, 2, 1, True),
    (1, 2, 10, 11, (3, 2), (2, 1), (1, 1), True),
    (2, 2, 5, 5, 3, 3, 1, True),
    (1, 1, 7, 7, 7, 1, 0, False),
    (3, 2, 13, 17, (2, 5), (3, 2), (1, 2), False),
    (1, 3, 6, 6, 4, 1, 2, True),
    (2, 2, 11, 13, 1, 3, 0, True),
    (1, 2, 17, 16, 3, 1, 1, False),
    (0, 3, 6, 6, 2, 2, 0, False),
]


def case(rng, N, C, H, W, K, R, S, groups=1, dtype=np.float64, bias=True):
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C // groups, R, S)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype) if bias else None
    return x, w, b
