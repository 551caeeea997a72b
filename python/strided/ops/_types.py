"""Type aliases of the public ops' signatures (annotations only: nothing here runs)."""
from __future__ import annotations

from typing import Any, Optional, Tuple, Union

# A NumPy or CuPy array (or a foreign GPU array, e.g. a torch CUDA tensor, taken zero-copy as CuPy).
Array = Any
OptArray = Optional[Array]
IntPair = Union[int, Tuple[int, int]]
OptIntPair = Optional[IntPair]
Padding = Union[int, Tuple[int, int], Tuple[int, int, int, int], str]
Grads = Tuple[OptArray, OptArray, OptArray]

__all__ = ["Array", "OptArray", "IntPair", "OptIntPair", "Padding", "Grads"]
