"""Data-parallel training over MPI (mpi4py): the communicator, the gradient allreduce, the data shards.

    mpiexec -n 2 python -m mpi4py -m strided.train          # the main job on 2 processes

    from strided import distributed
    comm = distributed.init()                 # MPI when launched by mpiexec/srun, else one process
    dp = distributed.DataParallel(model)      # parameters and buffers broadcast from rank 0
    for xb, yb in DataLoader(x, y, 64, shuffle=True, num_replicas=comm.size, rank=comm.rank):
        opt.zero_grad(); loss(model(xb), yb); model.backward(loss.backward())
        dp.synchronize()                      # the averaged gradients are in p.grad
        opt.step()

The Trainer does all of this itself when the process runs under MPI with more than one rank.

Semantics (those of PyTorch's DistributedDataParallel + DistributedSampler and ChainerMN):
- every rank starts from rank 0's parameters and buffers, whatever its seed; Dropout draws from
  seed + rank;
- gradients are averaged with allreduce over flat buckets of about 25 MB, filled in reverse layer order:
  a bucket's nonblocking allreduce starts as soon as the backward of every layer in it has run, so the
  communication overlaps the rest of the backward (the later layers' MPI calls drive it on); frozen
  parameters (requires_grad=False) are left out;
- `sync_buffers` averages the buffers (BatchNorm running statistics) across ranks; the Trainer calls it
  before every evaluation and checkpoint;
- `allreduce_sum` adds metric sums exactly (loss sums, correct counts, sample counts).
CuPy parameters reduce through NCCL (its unique id broadcast over MPI), one GPU per rank.

mpi4py is imported only when the process runs under an MPI launcher (or mpi4py is already loaded, as
with `python -m mpi4py`); `import strided` never needs it.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

__all__ = ["init", "get_comm", "rank", "world_size", "is_main", "DataParallel", "Communicator"]

# Set by the launchers in each rank's environment: MPICH/Intel MPI (hydra, PMI), Open MPI, PMIx (srun).
_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE")
BUCKET_BYTES = 25 * 2 ** 20

_comm = None


def _launched_size() -> int:
    for var in _SIZE_VARS:
        v = os.environ.get(var, "")
        if v.isdigit():
            return int(v)
    return 1


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError("this process was started by an MPI launcher, but mpi4py is not installed: "
                          "pip install 'strided[mpi]' (mpi4py and the MPICH wheel), or mpi4py built against "
                          "your site MPI") from e
    return MPI


class Communicator:
    """The few collectives data parallelism needs, over an mpi4py communicator, or over one process when
    `mpi_comm` is None (then every collective is the identity and nothing imports mpi4py)."""

    def __init__(self, mpi_comm=None):
        self.comm = mpi_comm
        if mpi_comm is None:
            self.rank, self.size, self.local_rank, self.local_size = 0, 1, 0, 1
            return
        MPI = _mpi()
        self.rank, self.size = mpi_comm.Get_rank(), mpi_comm.Get_size()
        node = mpi_comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank, self.local_size = node.Get_rank(), node.Get_size()
        node.Free()

    def barrier(self):
        if self.comm is not None:
            self.comm.Barrier()

    def bcast_arrays(self, arrays, root=0):
        """Broadcast each C-contiguous host array in place from `root`."""
        if self.comm is not None:
            for a in arrays:
                self.comm.Bcast(a, root=root)

    def bcast(self, obj, root=0):
        return obj if self.comm is None else self.comm.bcast(obj, root=root)

    def allreduce_sum(self, values):
        """Element-wise sums over the ranks of a list of numbers (float64; integer counts stay exact up
        to 2**53), returned as a list of Python floats."""
        a = np.asarray(values, np.float64)
        if self.comm is not None:
            self.comm.Allreduce(_mpi().IN_PLACE, a, op=_mpi().SUM)
        return a.tolist()

    def allreduce_mean_(self, a):
        """In-place mean over the ranks of a host array."""
        if self.comm is not None:
            self.comm.Allreduce(_mpi().IN_PLACE, a, op=_mpi().SUM)
            a /= self.size
        return a


def init(threads=None) -> Communicator:
    """The process's communicator (made once): MPI's world when launched by mpiexec/srun with more than
    one rank or when mpi4py is already loaded, else a one-process stand-in. Under MPI it also sets the
    CPU kernels' threads to cores / (ranks on this node) unless `threads` is given or OMP_NUM_THREADS is
    set, so the ranks of a node never oversubscribe it, and it makes an uncaught exception on any rank
    abort every rank (instead of leaving the others waiting in a collective)."""
    global _comm
    if _comm is not None:
        return _comm
    if _launched_size() > 1 or "mpi4py.MPI" in sys.modules:
        comm = Communicator(_mpi().COMM_WORLD)
    else:
        comm = Communicator(None)
    if comm.size > 1:
        from . import _C

        if threads is None and "OMP_NUM_THREADS" not in os.environ:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
            threads = max(1, cores // comm.local_size)
        if threads is not None:
            _C.set_num_threads(int(threads))
        _abort_on_uncaught_exception()
    _comm = comm
    return comm


def _abort_on_uncaught_exception():
    """As `python -m mpi4py` does: an uncaught exception makes the interpreter's exit call MPI_Abort, after
    the traceback is printed and flushed (aborting at once can lose it), so the other ranks end too."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        from mpi4py.run import set_abort_status

        set_abort_status(value if isinstance(value, (SystemExit, KeyboardInterrupt)) else 1)

    sys.excepthook = hook


def get_comm() -> Communicator:
    return init()


def rank() -> int:
    return init().rank


def world_size() -> int:
    return init().size


def is_main() -> bool:
    return init().rank == 0


def _state_arrays(model):
    """Every parameter's and buffer's array, in the module's order."""
    return [p.data for p in model.parameters()] + list(model.buffers())


class _Bucket:
    """Parameters reduced together through one flat buffer; `pending` counts those not ready yet."""

    __slots__ = ("params", "buf", "pending", "request", "offsets", "started")

    def __init__(self, params, xp):
        self.params = params
        sizes = [p.size for p in params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.buf = xp.empty(int(self.offsets[-1]), params[0].dtype)
        self.pending = len(params)
        self.request = None
        self.started = 0.0


class DataParallel:
    """Averages `model`'s gradients over the ranks of `comm` (default: `init()`), overlapping the
    allreduce with the backward. Construction broadcasts rank 0's parameters and buffers and reseeds
    Dropout per rank; after each `model.backward(...)` call `synchronize()` before the optimizer step.

    Each layer's parameters count as final when that layer's backward returns; a layer run twice in one
    step (shared weights) would then be reduced too early, so it raises instead. `stats` holds seconds
    spent starting and driving the reductions (`comm_s`) and waiting for them after the backward
    (`wait_s`), and the steps counted; `schedule` the last step's bucket start times and sizes, from the
    first layer backward that finished to the `synchronize` call (`backward_s`). overlap=False starts
    every reduction in `synchronize` instead (the benchmark's baseline)."""

    def __init__(self, model, comm=None, bucket_bytes=BUCKET_BYTES, overlap=True):
        self.model = model
        self.overlap = overlap
        self.comm = comm if comm is not None else init()
        self.stats = {"comm_s": 0.0, "wait_s": 0.0, "steps": 0}
        self.broadcast()
        self._reseed_dropout()
        params = [p for p in model.parameters() if p.requires_grad]
        self.buckets = []
        self._bucket_of = {}
        self._seen = set()  # parameters whose layer's backward has run this step
        self._t_first = 0.0
        self.schedule = None
        if self.comm.size == 1 or not params:
            return
        from ._device import array_module

        current, nbytes = [], 0
        for p in reversed(params):  # the last layers' gradients are ready first
            if current and (nbytes + p.data.nbytes > bucket_bytes or p.dtype != current[0].dtype):
                self.buckets.append(_Bucket(current, array_module(current[0].data)))
                current, nbytes = [], 0
            current.append(p)
            nbytes += p.data.nbytes
        self.buckets.append(_Bucket(current, array_module(current[0].data)))
        for b in self.buckets:
            for i, p in enumerate(b.params):
                self._bucket_of[id(p)] = (b, i)
        self._nccl = self._nccl_comm() if array_module(params[0].data) is not np else None
        self._hook(model)

    # ---- set-up --------------------------------------------------------------------------------
    def broadcast(self):
        """Copy rank 0's parameters and buffers to every rank (host arrays in place; CuPy through host)."""
        if self.comm.size == 1:
            return
        for a in _state_arrays(self.model):
            if isinstance(a, np.ndarray):
                self.comm.bcast_arrays([a])
            else:  # CuPy: through a host copy
                h = a.get()
                self.comm.bcast_arrays([h])
                a.set(h)

    def _reseed_dropout(self):
        from .nn import Dropout

        if self.comm.size == 1:
            return
        for m in self.model.modules():
            if isinstance(m, Dropout):
                m.seed = (int(m.seed) + self.comm.rank) % 2 ** 63
                m._rngs = {}

    def _nccl_comm(self):
        from cupy.cuda import nccl

        uid = self.comm.bcast(nccl.get_unique_id() if self.comm.rank == 0 else None)
        return nccl.NcclCommunicator(self.comm.size, uid, self.comm.rank)

    def _hook(self, model):
        """Wrap the backward of every module that owns trainable parameters: when it returns, those
        parameters' gradients are final and their buckets may start."""
        for m in model.modules():
            own = [p for p in m._parameters.values() if p is not None and p.requires_grad]
            if not own:
                continue
            original = m.backward

            def backward(gy, *args, _original=original, _own=own, **kwargs):
                gx = _original(gy, *args, **kwargs)
                self._ready(_own)
                return gx

            object.__setattr__(m, "backward", backward)

    # ---- the reduction -------------------------------------------------------------------------
    def _ready(self, params):
        t0 = time.perf_counter()
        if not self._seen:
            self._t_first = t0
        for p in params:
            if id(p) in self._seen:
                raise RuntimeError("a layer ran its backward twice in one step (shared weights?): "
                                   "DataParallel reduces each layer's gradients once, after its backward")
            self._seen.add(id(p))
            b, _ = self._bucket_of[id(p)]
            b.pending -= 1
            if b.pending == 0 and self.overlap:
                self._start(b)
        self._progress()
        self.stats["comm_s"] += time.perf_counter() - t0

    def _start(self, b):
        b.started = time.perf_counter()
        xp = np if self._nccl is None else sys.modules["cupy"]
        for i, p in enumerate(b.params):
            dst = b.buf[b.offsets[i]:b.offsets[i + 1]]
            if p.grad is None:
                dst[...] = 0
            else:
                dst[...] = p.grad.reshape(-1)
        if self._nccl is None:
            MPI = _mpi()
            b.request = self.comm.comm.Iallreduce(MPI.IN_PLACE, b.buf, op=MPI.SUM)
        else:
            from cupy.cuda import nccl

            kind = nccl.NCCL_FLOAT32 if b.buf.dtype == xp.float32 else nccl.NCCL_FLOAT64
            stream = xp.cuda.get_current_stream().ptr
            self._nccl.allReduce(b.buf.data.ptr, b.buf.data.ptr, b.buf.size, kind, nccl.NCCL_SUM, stream)
            b.request = True

    def _progress(self):
        """Let MPI move the reductions in flight along (MPI progresses nonblocking collectives only
        inside MPI calls, and no progress thread is asked for: it would take a core from the kernels)."""
        if self._nccl is None:
            active = [b.request for b in self.buckets if b.request is not None]
            if active:
                _mpi().Request.Testall(active)

    def synchronize(self):
        """Start what the backward did not (layers it skipped), wait for every bucket, and write the
        averaged gradients to p.grad. Returns nothing; a one-rank run returns at once."""
        if not self.buckets:
            return
        t0 = time.perf_counter()
        first = self._t_first if self._seen else t0
        for b in self.buckets:
            if b.request is None:
                self._start(b)
        self.schedule = {"backward_s": t0 - first,
                         "buckets": [(b.started - first, b.buf.nbytes) for b in self.buckets]}
        if self._nccl is None:
            _mpi().Request.Waitall([b.request for b in self.buckets])
        else:
            sys.modules["cupy"].cuda.get_current_stream().synchronize()
        self.stats["wait_s"] += time.perf_counter() - t0
        scale = 1.0 / self.comm.size
        for b in self.buckets:
            for i, p in enumerate(b.params):
                avg = b.buf[b.offsets[i]:b.offsets[i + 1]].reshape(p.shape)
                avg *= scale
                if p.grad is None:
                    p.grad = avg.copy()
                else:
                    p.grad[...] = avg
            b.pending, b.request = len(b.params), None
        self._seen.clear()
        self.stats["steps"] += 1

    def sync_buffers(self):
        """Average the buffers (BatchNorm running statistics) over the ranks, so that every rank
        evaluates and checkpoints the same model. Integer buffers (batch counters) agree already."""
        if self.comm.size == 1:
            return
        for name, a in self.model.named_buffers():
            if not np.issubdtype(a.dtype, np.floating):
                continue
            if isinstance(a, np.ndarray):
                self.comm.allreduce_mean_(a)
            else:
                h = self.comm.allreduce_mean_(a.get())
                a.set(h)
