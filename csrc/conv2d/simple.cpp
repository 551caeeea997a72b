// conv2d's Simple algorithm: direct loops over every output element and its window, the C++ twin of
// strided.reference (the oracle's twin, never fast). Parallel over whole rows of work, never racing. Each
// unit of work flushes denormals (DenormalGuard), as every conv2d algorithm does.
#include "conv2d/internal.h"

namespace strided::conv {

template <typename T>
void forward_simple(const ConvShape& s, const T* x, const T* w, const T* b, T* y) {
  const int64_t Cg = s.Cg(), Kg = s.Kg();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < s.N; ++n) {
    for (int64_t k = 0; k < s.K; ++k) {
      const DenormalGuard ftz;
      const int64_t c0 = (k / Kg) * Cg;
      T* yk = y + (n * s.K + k) * s.OH * s.OW;
      for (int64_t oh = 0; oh < s.OH; ++oh) {
        for (int64_t ow = 0; ow < s.OW; ++ow) {
          T acc = b ? b[k] : T(0);
          for (int64_t c = 0; c < Cg; ++c) {
            const T* xc = x + (n * s.C + c0 + c) * s.H * s.W;
            const T* wc = w + (k * Cg + c) * s.R * s.S;
            for (int64_t r = 0; r < s.R; ++r) {
              const int64_t ih = oh * s.stride_h - s.pad_top + r * s.dil_h;
              if (ih < 0 || ih >= s.H) continue;
              for (int64_t q = 0; q < s.S; ++q) {
                const int64_t iw = ow * s.stride_w - s.pad_left + q * s.dil_w;
                if (iw < 0 || iw >= s.W) continue;
                acc += wc[r * s.S + q] * xc[ih * s.W + iw];
              }
            }
          }
          yk[oh * s.OW + ow] = acc;
        }
      }
    }
  }
}

// Gather: each input pixel sums the outputs whose window covers it.
template <typename T>
void backward_input_simple(const ConvShape& s, const T* gy, const T* w, T* gx) {
  const int64_t Cg = s.Cg(), Kg = s.Kg();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < s.N; ++n) {
    for (int64_t c = 0; c < s.C; ++c) {
      const DenormalGuard ftz;
      const int64_t g = c / Cg, cl = c % Cg;
      T* gxc = gx + (n * s.C + c) * s.H * s.W;
      for (int64_t ih = 0; ih < s.H; ++ih) {
        for (int64_t iw = 0; iw < s.W; ++iw) {
          T acc = 0;
          for (int64_t r = 0; r < s.R; ++r) {
            const int64_t th = ih + s.pad_top - r * s.dil_h;
            if (th < 0 || th % s.stride_h) continue;
            const int64_t oh = th / s.stride_h;
            if (oh >= s.OH) continue;
            for (int64_t q = 0; q < s.S; ++q) {
              const int64_t tw = iw + s.pad_left - q * s.dil_w;
              if (tw < 0 || tw % s.stride_w) continue;
              const int64_t ow = tw / s.stride_w;
              if (ow >= s.OW) continue;
              for (int64_t k = g * Kg; k < (g + 1) * Kg; ++k)
                acc += w[((k * Cg + cl) * s.R + r) * s.S + q] * gy[((n * s.K + k) * s.OH + oh) * s.OW + ow];
            }
          }
          gxc[ih * s.W + iw] = acc;
        }
      }
    }
  }
}

template <typename T>
void backward_weight_simple(const ConvShape& s, const T* gy, const T* x, T* gw, T* gb) {
  const int64_t Cg = s.Cg(), Kg = s.Kg();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t k = 0; k < s.K; ++k) {
    for (int64_t c = 0; c < Cg; ++c) {
      const DenormalGuard ftz;
      const int64_t cin = (k / Kg) * Cg + c;
      for (int64_t r = 0; r < s.R; ++r) {
        for (int64_t q = 0; q < s.S; ++q) {
          T acc = 0;
          for (int64_t n = 0; n < s.N; ++n) {
            const T* xc = x + (n * s.C + cin) * s.H * s.W;
            const T* gyk = gy + (n * s.K + k) * s.OH * s.OW;
            for (int64_t oh = 0; oh < s.OH; ++oh) {
              const int64_t ih = oh * s.stride_h - s.pad_top + r * s.dil_h;
              if (ih < 0 || ih >= s.H) continue;
              for (int64_t ow = 0; ow < s.OW; ++ow) {
                const int64_t iw = ow * s.stride_w - s.pad_left + q * s.dil_w;
                if (iw >= 0 && iw < s.W) acc += gyk[oh * s.OW + ow] * xc[ih * s.W + iw];
              }
            }
          }
          gw[((k * Cg + c) * s.R + r) * s.S + q] = acc;
        }
      }
    }
  }
  if (gb) backward_bias(s, gy, gb);
}

STRIDED_CONV_INSTANTIATE(simple, float)
STRIDED_CONV_INSTANTIATE(simple, double)

}  // namespace strided::conv
