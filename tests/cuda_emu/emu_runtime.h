// A CUDA grid emulator for testing csrc/cuda/*.cu on a machine without a GPU (g++, Linux).
//
// The CUDA built-ins are mapped onto plain C++: __global__/__device__/... are defined away, threadIdx,
// blockIdx, blockDim and gridDim are variables the scheduler sets, and the dynamic shared memory is one
// buffer per block. Blocks run one after another; the threads of a block run as ucontext fibers on one
// OS thread (see the context switch below). __syncthreads() switches back to the scheduler, which resumes every other thread of the
// block until each has either reached the barrier or returned, and only then starts the next phase:
// no thread passes a barrier before every thread of its block has arrived, which is exactly what CUDA
// guarantees (and all it guarantees). Violations of the barrier rules are reported as errors: threads
// that return while others wait at a barrier, or threads waiting at different __syncthreads calls.
//
// To expose races a launch can run the threads of each phase (and the blocks) in ascending, descending
// or shuffled order; a correct kernel gives bitwise identical results in every order. Shared memory is
// filled with 0xFF bytes (NaN in float and double) at the start of every block and has a guard zone
// after its end that must stay untouched. CUDA's launch limits (block size, grid size, 48 KiB of dynamic
// shared memory without opt-in) are checked.
#pragma once

#include <ucontext.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
};

inline uint3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __syncthreads() ::emu::syncthreads(__LINE__)

// Context switching. On x86-64 a dozen instructions of assembly switch stacks (callee-saved registers,
// MXCSR and the x87 control word, as the ABI requires); glibc's swapcontext would also save and restore
// the signal mask, a system call per switch, ~100x slower. Elsewhere ucontext is used.
#if defined(__x86_64__) && !defined(EMU_USE_UCONTEXT)
#define EMU_ASM_SWITCH 1
extern "C" void strided_emu_switch(void** save_sp, void* load_sp);
asm(R"(
  .text
  .globl strided_emu_switch
  .hidden strided_emu_switch
  .type strided_emu_switch, @function
strided_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $16, %rsp
  stmxcsr 8(%rsp)
  fnstcw (%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr 8(%rsp)
  fldcw (%rsp)
  addq $16, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size strided_emu_switch, .-strided_emu_switch
)");
#endif

namespace emu {

struct LaunchError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

constexpr size_t kStackBytes = 256 * 1024;
constexpr size_t kSharedGuard = 256;
constexpr unsigned char kPoison = 0xFF;

struct Fiber {
#ifdef EMU_ASM_SWITCH
  void* sp = nullptr;
#else
  ucontext_t ctx;
#endif
  bool done = false;
  int line = 0;  // the __syncthreads it waits at
};

struct State {
#ifdef EMU_ASM_SWITCH
  void* scheduler = nullptr;
#else
  ucontext_t scheduler;
#endif
  std::vector<Fiber> fibers;
  std::vector<std::vector<char>> stacks;
  std::vector<unsigned char> shared;
  size_t shared_size = 0;
  int current = -1;
  const std::function<void()>* body = nullptr;
  unsigned long long barriers = 0, switches = 0;
};

inline State& state() {
  static State s;
  return s;
}

inline void syncthreads(int line) {
  State& s = state();
  if (s.current < 0) throw LaunchError("__syncthreads outside a kernel");
  Fiber& f = s.fibers[size_t(s.current)];
  f.line = line;
  ++s.barriers;
#ifdef EMU_ASM_SWITCH
  strided_emu_switch(&f.sp, s.scheduler);
#else
  swapcontext(&f.ctx, &s.scheduler);
#endif
}

inline void fiber_entry() {
  State& s = state();
  const int me = s.current;
  (*s.body)();
  s.fibers[size_t(me)].done = true;
#ifdef EMU_ASM_SWITCH
  strided_emu_switch(&s.fibers[size_t(me)].sp, s.scheduler);  // never resumed
  __builtin_trap();
#endif
  // (ucontext) returning resumes uc_link, the scheduler
}

// Start a fiber: on x86-64 its stack is laid out as strided_emu_switch leaves a suspended one, returning
// into fiber_entry with the stack aligned as after a call.
inline void start_fiber(Fiber& f, std::vector<char>& stack) {
#ifdef EMU_ASM_SWITCH
  auto top = reinterpret_cast<uintptr_t>(stack.data() + stack.size()) & ~uintptr_t(15);
  auto* sp = reinterpret_cast<uint64_t*>(top - 64);  // the return address lands 16-byte aligned
  uint32_t mxcsr;
  uint16_t fcw;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fcw));
  uint64_t* frame = sp - 8;  // fcw, mxcsr, r15, r14, r13, r12, rbx, rbp; then the return address
  frame[0] = fcw;
  frame[1] = mxcsr;
  for (int i = 2; i < 8; ++i) frame[i] = 0;
  sp[0] = reinterpret_cast<uint64_t>(&fiber_entry);
  f.sp = frame;
#else
  getcontext(&f.ctx);
  f.ctx.uc_stack.ss_sp = stack.data();
  f.ctx.uc_stack.ss_size = stack.size();
  f.ctx.uc_link = &state().scheduler;
  makecontext(&f.ctx, fiber_entry, 0);
#endif
}

inline void resume(Fiber& f) {
#ifdef EMU_ASM_SWITCH
  strided_emu_switch(&state().scheduler, f.sp);
#else
  swapcontext(&state().scheduler, &f.ctx);
#endif
}

inline uint3 thread_index(unsigned i, const dim3& b) {
  return uint3{i % b.x, (i / b.x) % b.y, i / (b.x * b.y)};
}

// order: 0 ascending, 1 descending, 2 shuffled (seeded) - of threads within each phase and of blocks.
inline void launch(dim3 grid, dim3 block, size_t shared_bytes, const std::function<void()>& body, int order,
                   unsigned long long seed) {
  if (block.x < 1 || block.y < 1 || block.z < 1 || block.x > 1024 || block.y > 1024 || block.z > 64 ||
      size_t(block.x) * block.y * block.z > 1024)
    throw LaunchError("invalid block size " + std::to_string(block.x) + "x" + std::to_string(block.y) + "x" +
                      std::to_string(block.z));
  if (grid.x < 1 || grid.y < 1 || grid.z < 1 || grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535)
    throw LaunchError("invalid grid size " + std::to_string(grid.x) + "x" + std::to_string(grid.y) + "x" +
                      std::to_string(grid.z));
  if (shared_bytes > 48 * 1024)
    throw LaunchError("dynamic shared memory " + std::to_string(shared_bytes) + " B exceeds 48 KiB");
  State& s = state();
  const unsigned nthreads = block.x * block.y * block.z;
  s.fibers.assign(nthreads, Fiber{});
  if (s.stacks.size() < nthreads) s.stacks.resize(nthreads);
  for (auto& st : s.stacks)
    if (st.size() < kStackBytes) st.resize(kStackBytes);
  s.shared_size = shared_bytes;
  s.shared.assign(shared_bytes + kSharedGuard, kPoison);
  s.body = &body;
  blockDim = block;
  gridDim = grid;
  std::mt19937_64 rng(seed);

  const unsigned long long nblocks = (unsigned long long)grid.x * grid.y * grid.z;
  std::vector<unsigned long long> block_order;
  const bool all_blocks_listed = nblocks <= (1ull << 24);
  if (all_blocks_listed) {
    block_order.resize(nblocks);
    std::iota(block_order.begin(), block_order.end(), 0ull);
    if (order == 1) std::reverse(block_order.begin(), block_order.end());
    if (order == 2) std::shuffle(block_order.begin(), block_order.end(), rng);
  }
  std::vector<unsigned> thread_order(nthreads);
  for (unsigned long long bi = 0; bi < nblocks; ++bi) {
    const unsigned long long b = all_blocks_listed ? block_order[bi] : bi;
    blockIdx = uint3{unsigned(b % grid.x), unsigned(b / grid.x % grid.y), unsigned(b / (grid.x * grid.y))};
    std::fill(s.shared.begin(), s.shared.end(), kPoison);
    for (unsigned t = 0; t < nthreads; ++t) {
      Fiber& f = s.fibers[t];
      f.done = false;
      f.line = 0;
      start_fiber(f, s.stacks[t]);
    }
    std::iota(thread_order.begin(), thread_order.end(), 0u);
    if (order == 1) std::reverse(thread_order.begin(), thread_order.end());
    for (;;) {  // one phase: every live thread runs to its next barrier or to its end
      if (order == 2) std::shuffle(thread_order.begin(), thread_order.end(), rng);
      for (unsigned t : thread_order) {
        if (s.fibers[t].done) continue;
        s.current = int(t);
        threadIdx = thread_index(t, block);
        ++s.switches;
        resume(s.fibers[t]);
      }
      s.current = -1;
      unsigned done = 0;
      int line = -1;
      bool same_line = true;
      for (const Fiber& f : s.fibers) {
        if (f.done) {
          ++done;
        } else {
          if (line >= 0 && f.line != line) same_line = false;
          line = f.line;
        }
      }
      const std::string where = " (block " + std::to_string(blockIdx.x) + "," + std::to_string(blockIdx.y) +
                                "," + std::to_string(blockIdx.z) + ")";
      if (done == nthreads) break;
      if (done > 0)
        throw LaunchError("barrier divergence: " + std::to_string(done) + " of " + std::to_string(nthreads) +
                          " threads returned while the others wait at the __syncthreads of line " +
                          std::to_string(line) + where);
      if (!same_line) throw LaunchError("threads of one block wait at different __syncthreads" + where);
    }
    for (size_t i = shared_bytes; i < s.shared.size(); ++i)
      if (s.shared[i] != kPoison) throw LaunchError("write past the end of the dynamic shared memory" + std::string());
  }
}

}  // namespace emu

inline unsigned char* strided_emu_shared_bytes() { return emu::state().shared.data(); }
