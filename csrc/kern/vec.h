// Vector types and moves of the generic microkernels (GCC vector extensions), at the width the including
// ISA file sets (STRIDED_VBYTES). Included by kern/table_impl.h inside namespace strided::kern's anonymous
// namespace, like every *_simd.h, so each ISA file compiles its own copy with its own flags.
template <typename T>
struct VecOf;
template <>
struct VecOf<float> {
  typedef float V __attribute__((vector_size(STRIDED_VBYTES)));
  typedef int32_t I __attribute__((vector_size(STRIDED_VBYTES)));
};
template <>
struct VecOf<double> {
  typedef double V __attribute__((vector_size(STRIDED_VBYTES)));
  typedef int64_t I __attribute__((vector_size(STRIDED_VBYTES)));
};

template <typename T>
using V = typename VecOf<T>::V;
template <typename T>
constexpr int VL = STRIDED_VBYTES / sizeof(T);

// Unaligned loads and stores (memcpy of a constant size compiles to one vector move).
template <typename T>
inline V<T> load(const T* p) {
  V<T> v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
template <typename T>
inline void store(T* p, V<T> v) { std::memcpy(p, &v, sizeof(v)); }
// Pins v to a register: where v feeds several FMAs, GCC folds its load into each of them instead, which
// costs a load per FMA (two where an unaligned vector crosses a cache line).
template <typename T>
inline void in_register(V<T>& v) {
#if defined(__x86_64__) || defined(__i386__)
  asm("" : "+v"(v));
#elif defined(__aarch64__)
  asm("" : "+w"(v));
#endif
}
// p, for all the compiler can tell, changes here: loads through it are not merged with the same loads
// made before (which would keep their values live in registers).
template <typename P>
inline void reload_through(P*& p) { asm volatile("" : "+r"(p)); }
// s - 0 (not 0 + s, which is not an identity for s = -0) folds away, leaving one broadcast.
template <typename T>
inline V<T> bcast(T s) { return s - V<T>{}; }
template <typename T>
inline T hsum(V<T> v) {
  T s = 0;
  for (int i = 0; i < VL<T>; ++i) s += v[i];
  return s;
}
// v with lanes >= n zeroed (a select, so a NaN or Inf in a dropped lane cannot leak through 0 * x).
template <typename T>
inline V<T> keep_first(V<T> v, int n) {
  typename VecOf<T>::I lane;
  for (int i = 0; i < VL<T>; ++i) lane[i] = i;
  return lane < n ? v : V<T>{};
}
