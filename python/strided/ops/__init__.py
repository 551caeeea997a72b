"""The ops, one sub-package per op family, named as the C++ (csrc/) and CUDA (csrc/cuda/) files:

  conv2d/      conv2d, conv2d_backward; conv_transpose2d and its backward (transpose.py, on the same kernels)
  pool2d/      max_pool2d, avg_pool2d and their backwards
  linear/      linear, linear_backward
  activation/  relu, relu_backward
  interp/      interpolate, interpolate_backward (nearest, bilinear)

Each family holds `args.py` (argument validation and geometry), `reference.py` (its NumPy oracle),
`cuda.py` where it has CUDA kernels of its own (its launch plans and GPU ops), and in `__init__.py` the
dispatching public functions. Shared pieces: `_validate` (ints, pairs, dtypes, shapes), `_size` (the
output-size rule), `_dispatch` (the CPU/GPU choice, unbatched inputs), `_types` (the signatures' type aliases),
`_algorithm` (the conv-algorithm choice, below both dispatchers). strided.functional and strided.reference gather the families under the public names.

This package's namespace stays the families' (strided.ops.conv2d is the sub-package, not the function),
so it re-exports nothing.
"""
