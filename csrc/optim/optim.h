// Fused optimizer updates for NumPy parameters: one pass over each parameter's arrays, where the NumPy
// rule in strided/optim.py (the same update, and the one CuPy arrays run) makes a dozen passes and
// temporaries; for LeNet-5's 62k parameters that was a tenth of a training step.
#pragma once
#include <cstdint>

namespace strided::optim {

struct AdamHyper {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled;  // AdamW: p *= 1 - lr * wd instead of g += wd * p
  int64_t step;    // t >= 1, for the bias corrections
};

// PyTorch's Adam/AdamW step on n elements, in place on p, m (exp_avg), v (exp_avg_sq) and, for amsgrad,
// vmax (max_exp_avg_sq, else null). Each operation rounds to T in the order the NumPy rule takes, with
// the scalars rounded to T as NumPy does, so both paths give the same bits.
template <typename T>
void adam_update(int64_t n, T* p, const T* g, T* m, T* v, T* vmax, const AdamHyper& h);

}  // namespace strided::optim
