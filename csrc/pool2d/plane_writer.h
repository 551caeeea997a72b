// The writer of a backward pass's gx planes (pool2d.cpp's kernels, general.cpp's indices): each plane is
// built in a cache-resident scratch plane and copied out once.
#pragma once
#include "kern/gemm_util.h"
#include "kern/kernels.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cstring>

namespace strided::pool {

// Large gx planes leave the cache-resident scratch plane by kern::Table::stream_copy: non-temporal stores
// save the read-for-ownership of every line (a third of a backward pass's memory traffic). The writer
// fences once at the end.
inline void stream_fence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

// gx of at least this size is streamed out (PlaneWriter): measured here (1 MiB L2 per core, 32 MiB
// L3), smaller ones are faster through the caches.
constexpr int64_t kStreamBytes = int64_t(4) << 20;

// One thread's gx planes: each is built in a cache-resident scratch plane and copied out only once the
// next one is built. Copying a plane right after writing it would load data still in the store buffer
// at other offsets and sizes than it was stored with, which stalls until the stores drain. A large gx
// (`stream`) goes out with non-temporal stores; a small one stays in the caches, where the next layer
// reads it (and non-temporal stores of small planes, partial lines at both ends, are slow).
template <typename T>
class PlaneWriter {
 public:
  // Whether a gx of `planes` planes of `size` elements is large enough to stream (kStreamBytes).
  static bool streams(int64_t planes, int64_t size) {
    return double(planes) * double(size) * sizeof(T) >= double(kStreamBytes);
  }
  // The scratch it takes per thread, two planes: the caller keeps it within kScratchBytes.
  static double scratch_bytes(int64_t size) { return 2 * double(size) * sizeof(T); }
  // The two planes are this thread's workspaces kTile and kTile2 (reserved by the caller).
  PlaneWriter(int64_t size, bool stream, const kern::Table<T>& k)
      : size_(size), stream_(stream), k_(k), buf_{workspace<T>(kTile, size), workspace<T>(kTile2, size)} {}
  // A scratch plane for the gx plane at dst, zeroed unless the caller zeroes what its kernel leaves.
  T* begin(T* dst, bool zero) {
    next_ = dst;
    if (zero) std::fill(buf_[cur_], buf_[cur_] + size_, T(0));
    return buf_[cur_];
  }
  // The plane from begin() is complete: copy out the one before it.
  void done() {
    copy();
    pending_ = next_;
    cur_ ^= 1;
  }
  void finish() {
    copy();
    pending_ = nullptr;
    if (stream_) stream_fence();
  }

 private:
  void copy() {
    if (!pending_) return;
    const T* src = buf_[cur_ ^ 1];
    if (stream_) k_.stream_copy(pending_, src, size_);
    else std::memcpy(pending_, src, size_t(size_) * sizeof(T));
  }

  int64_t size_;
  bool stream_;
  const kern::Table<T>& k_;
  T* buf_[2];
  int cur_ = 0;
  T *next_ = nullptr, *pending_ = nullptr;
};

}  // namespace strided::pool
