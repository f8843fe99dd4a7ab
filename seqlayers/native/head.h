// The Dense after a recurrent layer, computed in the native steps (gated_loop.cpp's lstm_fused /
// gru_fused, rnn_loop.cpp's rnn_step): right after each step, from the rows' new h, so that the
// (B, T, H) sequence is never written and read back; its output y (B, T, U) comes instead, through a
// softmax over the U values where asked (Keras's Dense(U, activation="softmax")). models/fusion.py
// decides when (Sequential, inference); the ops take head_w (U, H), head_b (U) or None, head_softmax.
//
// Two forms, chosen by U when the weights are prepared (HeadWeights):
//   - up to kMaxDotHeadUnits units (a regression's Dense(1): W1, W4, W6), per row and unit one
//     vector of partial sums over H, 16 at a time, summed across its lanes: U * H / 16 FMAs a row;
//   - more (up to kMaxHeadUnits: one 16-float vector per row), per row one vector of the U outputs, one
//     broadcast of h per k: H FMAs a row, whatever U (the first form's cost grows with U).
#pragma once

#include <ATen/ATen.h>

#include "loop_math.h"

namespace seqlayers_native {

// The most units a head takes (one 16-float vector per row), and the most the dot form takes.
constexpr int64_t kMaxHeadUnits = 16;
constexpr int64_t kMaxDotHeadUnits = 4;

struct Head {
  const float* wt = nullptr;  // (H, 16) W^T, zeros past U: the vector form's, or null
  const float* w = nullptr;   // (U, H) W, row-major: the dot form's, or null
  const float* b = nullptr;   // (16) the bias, zeros past U (and without one)
  int64_t U = 0;
  bool softmax = false;
  float* y = nullptr;         // (B, T, U)
};

// softmax over the lanes of v that m selects (zeros elsewhere): exp16 of v - max, over their sum
__attribute__((target("avx512f"), always_inline)) inline __m512 softmax16(__m512 v, __mmask16 m) {
  const __m512 e = _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(v, _mm512_set1_ps(_mm512_mask_reduce_max_ps(m, v)))));
  return _mm512_div_ps(e, _mm512_set1_ps(_mm512_reduce_add_ps(e)));
}

// The vector form: y[r] (U floats) = h[r] (H floats) @ W^T + b for R rows, each one vector of
// accumulators (R independent FMA chains, one broadcast of h per row and k), then the softmax if asked.
template <int R>
__attribute__((target("avx512f")))
void head_group(const Head& hd, int64_t H, const float* const* h, float* const* y) {
  const __mmask16 m = tail_mask(hd.U);
  __m512 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_loadu_ps(hd.b);
  for (int64_t k = 0; k < H; ++k) {
    const __m512 w = _mm512_loadu_ps(hd.wt + 16 * k);
    for (int r = 0; r < R; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(h[r][k]), w, acc[r]);
  }
  for (int r = 0; r < R; ++r) _mm512_mask_storeu_ps(y[r], m, hd.softmax ? softmax16(acc[r], m) : acc[r]);
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
  const __mmask16 m = tail_mask(hd.U);
  for (int r = 0; r < R; ++r) _mm512_mask_storeu_ps(y[r], m, softmax16(_mm512_maskz_loadu_ps(m, y[r]), m));
}

// The head of the n rows (h[i] their new h, y[i] where their U outputs go), in groups of up to 8.
inline void head_rows(const Head& hd, int64_t H, int64_t n, const float* const* h, float* const* y) {
  row_groups<8>(n, [&](auto R, int64_t b) {
    if (hd.w) head_dots<decltype(R)::value>(hd, H, h + b, y + b);
    else head_group<decltype(R)::value>(hd, H, h + b, y + b);
  });
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
  at::Tensor wt, w, b16;
  int64_t U = 0;
  bool softmax = false;

  HeadWeights() = default;
  HeadWeights(const at::Tensor& head_w, const at::Tensor& head_b, bool softmax_)
      : U(head_w.size(0)), softmax(softmax_) {
    if (U <= kMaxDotHeadUnits) {
      w = head_w.contiguous();
    } else {
      wt = at::zeros({head_w.size(1), 16}, head_w.options());
      wt.narrow(1, 0, U).copy_(head_w.t());
    }
    b16 = at::zeros({16}, head_w.options());
    if (head_b.defined()) b16.narrow(0, 0, U).copy_(head_b);
  }

  Head at(float* y) const {
    const auto ptr = [](const at::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; };
    return Head{ptr(wt), ptr(w), b16.data_ptr<float>(), U, softmax, y};
  }
};

// The Dense on a finished sequence, where the steps ran without it: out (B, T, H) -> (B, T, U).
inline at::Tensor dense_on_sequence(const at::Tensor& out, const at::Tensor& head_w, const at::Tensor& head_b,
                                    bool softmax) {
  const int64_t B = out.size(0), T = out.size(1), H = out.size(2);
  const at::Tensor rows = out.reshape({B * T, H});
  at::Tensor y = (head_b.defined() ? at::addmm(head_b, rows, head_w.t()) : at::mm(rows, head_w.t()))
                     .view({B, T, head_w.size(0)});
  return softmax ? at::softmax(y, -1) : y;
}

}  // namespace seqlayers_native
