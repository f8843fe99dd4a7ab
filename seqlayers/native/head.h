// The Dense after a recurrent layer, computed natively (models/fusion.py decides when: Sequential,
// inference; the ops take head_w (U, H), head_b (U) or None, head_softmax): in the steps
// (gated_loop.cpp's lstm_fused / gru_fused, rnn_loop.cpp's rnn_step), right after each step from the
// rows' new h, so that the (B, T, H) sequence is never written and read back; or, where the steps run
// without it (two directions, a mask, the gate pass), over the finished output's rows (head_rows on
// them). Its output y (B, T, U) comes instead of the sequence, through a softmax over the U values
// where asked (Keras's Dense(U, activation="softmax")).
//
// Two forms, chosen by U when the weights are prepared (HeadWeights):
//   - up to kMaxDotHeadUnits units (a regression's Dense(1): W1, W4, W6), per row and unit one
//     vector of partial sums over H, 16 at a time, summed across its lanes: U * H / 16 FMAs a row;
//   - more (up to kMaxHeadUnits: two 16-float vectors per row), per row Q = 1 or 2 vectors of the U
//     outputs, one broadcast of h per k: Q * H FMAs a row (the first form's cost grows with U). torch's
//     addmm for W2's Dense(17) on (1600, 256) rows ran at ~50 GFLOP/s (N = 17).
#pragma once

#include <ATen/ATen.h>

#include "loop_math.h"

namespace seqlayers_native {

// The most units a head takes (two 16-float vectors per row), and the most the dot form takes.
constexpr int64_t kMaxHeadUnits = 32;
constexpr int64_t kMaxDotHeadUnits = 4;

struct Head {
  const float* wt = nullptr;  // (H, 16 * Q) W^T, zeros past U: the vector form's, or null
  const float* w = nullptr;   // (U, H) W, row-major: the dot form's, or null
  const float* b = nullptr;   // (32) the bias, zeros past U (and without one)
  int64_t U = 0;
  bool softmax = false;
  float* y = nullptr;         // (B, T, U)
};

// softmax over the lanes of v[0..Q) that m selects (zeros elsewhere): exp16 of v - max, over their sum
template <int Q>
__attribute__((target("avx512f"), always_inline)) inline void softmax_lanes(__m512 (&v)[Q], const __mmask16 (&m)[Q]) {
  float top = _mm512_mask_reduce_max_ps(m[0], v[0]);
  for (int q = 1; q < Q; ++q) top = std::max(top, _mm512_mask_reduce_max_ps(m[q], v[q]));
  float sum = 0.0f;
  for (int q = 0; q < Q; ++q) {
    v[q] = _mm512_maskz_mov_ps(m[q], exp16(_mm512_sub_ps(v[q], _mm512_set1_ps(top))));
    sum += _mm512_reduce_add_ps(v[q]);
  }
  for (int q = 0; q < Q; ++q) v[q] = _mm512_div_ps(v[q], _mm512_set1_ps(sum));
}

// The vector form: y[r] (U floats) = h[r] (H floats) @ W^T + b for R rows, each Q vectors of
// accumulators (R * Q independent FMA chains, one broadcast of h per row and k), then the softmax if asked.
template <int R, int Q>
__attribute__((target("avx512f")))
void head_group(const Head& hd, int64_t H, const float* const* h, float* const* y) {
  __mmask16 m[Q];
  for (int q = 0; q < Q; ++q) m[q] = tail_mask(hd.U - 16 * q);
  __m512 acc[R][Q];
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < Q; ++q) acc[r][q] = _mm512_loadu_ps(hd.b + 16 * q);
  for (int64_t k = 0; k < H; ++k) {
    __m512 w[Q];
    for (int q = 0; q < Q; ++q) w[q] = _mm512_loadu_ps(hd.wt + (16 * Q) * k + 16 * q);
    for (int r = 0; r < R; ++r) {
      const __m512 hk = _mm512_set1_ps(h[r][k]);
      for (int q = 0; q < Q; ++q) acc[r][q] = _mm512_fmadd_ps(hk, w[q], acc[r][q]);
    }
  }
  for (int r = 0; r < R; ++r) {
    if (hd.softmax) softmax_lanes<Q>(acc[r], m);
    for (int q = 0; q < Q; ++q) _mm512_mask_storeu_ps(y[r] + 16 * q, m[q], acc[r][q]);
  }
}

// The dot form: for each unit u, R rows' h[r] . W[u] over H, 16 products per FMA (R independent
// chains), then the lanes' sum + b[u]; then the softmax over each row's U values if asked.
template <int R>
__attribute__((target("avx512f")))
void head_dots(const Head& hd, int64_t H, const float* const* h, float* const* y) {
  for (int64_t u = 0; u < hd.U; ++u) {
    const float* w = hd.w + u * H;
    __m512 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
    for (int64_t k = 0; k < H; k += 16) {
      const __mmask16 m = tail_mask(H - k);
      const __m512 wk = _mm512_maskz_loadu_ps(m, w + k);
      for (int r = 0; r < R; ++r) acc[r] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, h[r] + k), wk, acc[r]);
    }
    for (int r = 0; r < R; ++r) y[r][u] = hd.b[u] + _mm512_reduce_add_ps(acc[r]);
  }
  if (!hd.softmax) return;
  const __mmask16 m[1] = {tail_mask(hd.U)};
  for (int r = 0; r < R; ++r) {
    __m512 v[1] = {_mm512_maskz_loadu_ps(m[0], y[r])};
    softmax_lanes<1>(v, m);
    _mm512_mask_storeu_ps(y[r], m[0], v[0]);
  }
}

// The head of the n rows (h[i] their new h, y[i] where their U outputs go), in groups of up to 8.
inline void head_rows(const Head& hd, int64_t H, int64_t n, const float* const* h, float* const* y) {
  row_groups<8>(n, [&](auto R, int64_t b) {
    constexpr int kR = decltype(R)::value;
    if (hd.w) head_dots<kR>(hd, H, h + b, y + b);
    else if (hd.U <= 16) head_group<kR, 1>(hd, H, h + b, y + b);
    else head_group<kR, 2>(hd, H, h + b, y + b);
  });
}

// The head over a finished output's rows, where the steps ran without it: out (B, T, W) contiguous
// (W = D * H: both directions' columns for a Bidirectional) -> y (B, T, U), in blocks of rows.
inline void head_over_rows(const Head& hd, const float* out, int64_t rows, int64_t W) {
  constexpr int64_t kBlock = 64;
  const float* h[kBlock];
  float* y[kBlock];
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
    const int64_t n = std::min(kBlock, rows - r0);
    for (int64_t i = 0; i < n; ++i) h[i] = out + (r0 + i) * W, y[i] = hd.y + (r0 + i) * hd.U;
    head_rows(hd, W, n, h, y);
  }
}

// head_w (U, H) float32 with U <= kMaxHeadUnits, head_b (U,) float32 or undefined; `op` names the caller in
// the message. Returns head_b contiguous (or undefined).
inline at::Tensor check_head(const char* op, const at::Tensor& head_w, const c10::optional<at::Tensor>& head_b,
                             int64_t H) {
  TORCH_CHECK(head_w.dim() == 2 && head_w.size(1) == H && head_w.scalar_type() == at::kFloat &&
                  head_w.size(0) <= kMaxHeadUnits,
              op, ": head_w must be (U, H) float32 with H = ", H, " and U <= ", kMaxHeadUnits, "; got ",
              head_w.sizes(), " ", head_w.scalar_type());
  if (!head_b.has_value() || !head_b->defined()) return at::Tensor();
  TORCH_CHECK(head_b->dim() == 1 && head_b->size(0) == head_w.size(0) && head_b->scalar_type() == at::kFloat,
              op, ": head_b must be (U,) float32 with U = ", head_w.size(0), ", got ", head_b->sizes(), " ",
              head_b->scalar_type());
  return head_b->contiguous();
}

// A head's weights in the layout its form reads (made once per call from the Dense's kernel view,
// any strides, and its bias or an undefined tensor).
struct HeadWeights {
  at::Tensor wt, w, bias;  // bias: 32 floats, zeros past U
  int64_t U = 0;
  bool softmax = false;

  HeadWeights() = default;
  HeadWeights(const at::Tensor& head_w, const at::Tensor& head_b, bool softmax_)
      : U(head_w.size(0)), softmax(softmax_) {
    if (U <= kMaxDotHeadUnits) {
      w = head_w.contiguous();
    } else {  // (H, 16 Q): Q = 1 or 2 vectors a row
      wt = at::zeros({head_w.size(1), U <= 16 ? 16 : 32}, head_w.options());
      wt.narrow(1, 0, U).copy_(head_w.t());
    }
    bias = at::zeros({32}, head_w.options());
    if (head_b.defined()) bias.narrow(0, 0, U).copy_(head_b);
  }

  Head at(float* y) const {
    const auto ptr = [](const at::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; };
    return Head{ptr(wt), ptr(w), bias.data_ptr<float>(), U, softmax, y};
  }
};

// The Dense on a finished output, where the steps ran without it: out (B, T, W) contiguous (W = D * H)
// -> (B, T, U); head_over_rows on an AVX-512 CPU (unless blas_only: what other CPUs run), else torch's
// addmm (and softmax).
inline at::Tensor dense_on_sequence(const at::Tensor& out, const at::Tensor& head_w, const at::Tensor& head_b,
                                    bool softmax, bool blas_only) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  const int64_t B = out.size(0), T = out.size(1), W = out.size(2), U = head_w.size(0);
  if (avx512 && !blas_only) {
    at::Tensor y = at::empty({B, T, U}, out.options());
    head_over_rows(HeadWeights(head_w, head_b, softmax).at(y.data_ptr<float>()), out.data_ptr<float>(), B * T, W);
    return y;
  }
  const at::Tensor rows = out.reshape({B * T, W});
  at::Tensor y = (head_b.defined() ? at::addmm(head_b, rows, head_w.t()) : at::mm(rows, head_w.t())).view({B, T, U});
  return softmax ? at::softmax(y, -1) : y;
}

}  // namespace seqlayers_native
