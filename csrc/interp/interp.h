// 2-D interpolation (torch.nn.functional.interpolate's 'nearest' and 'bilinear'), forward and backward,
// NCHW. The coordinate mapping is PyTorch's CPU one, arithmetic included (strided.ops.interp.reference).
#pragma once
#include <cstdint>

namespace strided {

// Field order matches strided.ops.interp.args.InterpArgs. scale_h/scale_w: the user's scale factor, or
// 0 when the output size was given (the mapping then uses in/out).
struct InterpShape {
  int64_t N, C, H, W, OH, OW;
  bool align_corners;
  double scale_h, scale_w;
};

namespace interp {

template <typename T>
void nearest_forward(const InterpShape& s, const T* x, T* y);
template <typename T>
void nearest_backward(const InterpShape& s, const T* gy, T* gx);
template <typename T>
void bilinear_forward(const InterpShape& s, const T* x, T* y);
template <typename T>
void bilinear_backward(const InterpShape& s, const T* gy, T* gx);

}  // namespace interp
}  // namespace strided
