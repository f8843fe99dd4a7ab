// SimpleRNN inference on CPU, float32: h_t = act(x_t @ W_ih^T + bias + h_{t-1} @ W_hh^T).
//
// Registered as torch.ops.seqlayers_native.simple_rnn_forward(x, w_ih_t, w_hh_t, bias, h0, relu, blas_only,
// head_w, head_b, head_softmax):
//   x       (B, T, F) float32, in processing order
//   w_ih_t  (F, H) float32: W_ih^T;  w_hh_t (H, H) float32: W_hh^T;  bias (H,) float32 or None
//   h0      (B, H) float32: the initial state
//   relu    false: tanh, true: relu
//   blas_only  true: the recurrence always through sgemm (what machines without AVX-512 run; for tests)
//   head_w, head_b, head_softmax  a Dense after the layer (head.h): head_w (U, H) with U <= 32, head_b
//           (U,) or None, a softmax over its U outputs; None: no head
//   returns (B, T, H) float32, contiguous: every step's output (the final state is out[:, -1]); with a
//           head its (B, T, U) output instead (the sequence is not made where the kernel below runs:
//           each step's state stays in one of two buffers and the head is computed from it)
//
// Each step writes straight into its rows of the batch-first output (row stride T*H), so nothing is
// transposed or copied afterwards and the next layer (often TimeDistributed(Dense)) reads it as is.
//
// Why C++: W4 (B=16, H=200, T=700) is a chain of 700 tiny steps. Through the dispatcher each step
// costs two ATen calls (addmm + tanh_), ~9 us of overhead, and torch's float tanh alone takes ~10 us
// on 3,200 values. Here, on AVX-512 machines, each step is one pass of a hand-written kernel over
// the step's rows (rnn_step): per 16-float column block, bias + x_t @ W_ih^T (F <= 16; sgemm first
// for more features), h @ W_hh^T on packed panels and the activation, all in registers, stored once
// into the batch-first output. Elsewhere: the input projection (axpy for up to 16 features, else
// sgemm), the MKL sgemm that libtorch_cpu already carries for the recurrence (no allocation, no
// dispatch) and a vectorised rational tanh, all on the step's cache-warm rows. The op alone against
// that sgemm path, alternated in one process (`python -m benchmarks.native_ab`, own / sgemm): W4
// 0.90-0.93x (1.03x when the kernel made the product alone and the passes around it stayed), B=64
// F=8 H=128 0.83-0.85x (1.06x), B=1 0.67-0.72x.
//
// tanh: the rational approximation of loop_math.h (max abs error against float64 2.7e-7; rnn_step's
// tanh16, rcp14 + a Newton step for the division, 2.9e-7).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "head.h"
#include "loop_math.h"

namespace {

__attribute__((target_clones("avx512f", "avx2", "default")))
void tanh_inplace(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = seqlayers_native::tanh_r(x[i]);
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void relu_inplace(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] < 0.0f ? 0.0f : x[i];  // a NaN stays NaN, as torch.relu
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void axpy(float* y, float a, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// The hand-written kernel keeps W_hh^T in L2 (up to 512 x 512 floats = 1 MiB); larger H goes to sgemm.
// It runs on one thread: with several torch threads and a large step (B * H * H above 2^23
// multiply-adds), MKL's threaded sgemm is used instead.
constexpr int64_t kMaxOwnH = 512;
constexpr int64_t kMaxOwnWorkThreaded = int64_t(1) << 23;

constexpr int64_t kSmallF = 16;  // up to this many features, the input projection is done by axpy

// One step of R rows over the panel of columns j0 .. j0+16Q (loop_math.h's packed W_hh^T), the
// whole step in registers: the pre-activation starts from bias + x_t @ W_ih^T (F <= kSmallF: F
// FMAs per vector; or, with `projected`, from the output rows, where sgemm put it), takes h @ W_hh^T
// (K = H), and the activation is applied before the one store into the output rows. (It had been
// four passes over the rows: bias copy, axpy, the product's load and store, the tanh; the tanh
// with vdivps.)
struct RnnStep {
  const float* const* h;  // h[r]: the previous state (H floats)
  float* const* o;        // o[r]: the step's output row (H floats)
  const float* const* x;  // x[r]: x_t (F floats), unless projected
  const float* wi;        // W_ih^T (F, H)
  const float* bias;      // (H) or null
  int64_t F, H;
  bool projected, relu;
};

template <int R, int Q>
__attribute__((target("avx512f")))
void rnn_rows(const RnnStep& S, int64_t b, const float* panel, int64_t j0) {
  const int64_t H = S.H;
  __mmask16 m[Q];
  for (int q = 0; q < Q; ++q) m[q] = seqlayers_native::tail_mask(H - j0 - 16 * q);
  __m512 acc[R][Q];
  for (int q = 0; q < Q; ++q) {
    const __m512 bq = S.bias ? _mm512_maskz_loadu_ps(m[q], S.bias + j0 + 16 * q) : _mm512_setzero_ps();
    for (int r = 0; r < R; ++r) acc[r][q] = S.projected ? _mm512_maskz_loadu_ps(m[q], S.o[b + r] + j0 + 16 * q) : bq;
  }
  if (!S.projected)
    for (int64_t f = 0; f < S.F; ++f)
      for (int q = 0; q < Q; ++q) {
        const __m512 w = _mm512_maskz_loadu_ps(m[q], S.wi + f * H + j0 + 16 * q);
        for (int r = 0; r < R; ++r) acc[r][q] = _mm512_fmadd_ps(_mm512_set1_ps(S.x[b + r][f]), w, acc[r][q]);
      }
  seqlayers_native::panel_product<R, Q>(acc, S.h + b, panel, H);
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < Q; ++q) {
      // relu as max(x, 0) with x second: a NaN stays NaN, as torch.relu
      const __m512 y = S.relu ? _mm512_max_ps(_mm512_setzero_ps(), acc[r][q]) : seqlayers_native::tanh16(acc[r][q]);
      _mm512_mask_storeu_ps(S.o[b + r] + j0 + 16 * q, m[q], y);
    }
}

// One panel's columns for all n rows, in groups of up to 6 of balanced sizes (loop_math.h's row_groups).
template <int Q>
void rnn_panel(const RnnStep& S, int64_t n, const float* panel, int64_t j0) {
  seqlayers_native::row_groups(n, [&](auto R, int64_t b) { rnn_rows<decltype(R)::value, Q>(S, b, panel, j0); });
}

void rnn_step(const RnnStep& S, int64_t n, const seqlayers_native::Packed& w) {
  for (int64_t j0 = 0, p = 0; j0 < S.H; j0 += seqlayers_native::kPanel, ++p) {
    const float* panel = w.data + p * w.K * seqlayers_native::kPanel;
    switch ((std::min<int64_t>(S.H - j0, seqlayers_native::kPanel) + 15) / 16) {
      case 1: rnn_panel<1>(S, n, panel, j0); break;
      case 2: rnn_panel<2>(S, n, panel, j0); break;
      case 3: rnn_panel<3>(S, n, panel, j0); break;
      default: rnn_panel<4>(S, n, panel, j0); break;
    }
  }
}

// Each row's pre-activation starts from the bias (or zeros): rows[b] (H floats) for b < n.
void bias_rows(float* const* rows, int64_t n, const float* bias, int64_t H) {
  for (int64_t b = 0; b < n; ++b) {
    if (bias) std::memcpy(rows[b], bias, H * sizeof(float)); else std::memset(rows[b], 0, H * sizeof(float));
  }
}

// One call's inputs as the steps read them: x (B, T, F), W_ih^T (F, H), the bias (H) or null, h0 (B, H).
struct RnnCall {
  const float *x, *wi, *bias, *h0;
  int64_t T, F, H;
  bool relu;
};

// Rows b0 .. b1 of the call, every step through rnn_step: each step's output into its rows of `out`
// (B, T, H), or with a head (head.y) into one of two aligned state buffers, in turn (the sequence
// is never stored), and the head's outputs of the step into y (B, T, U) from there.
void own_steps(const RnnCall& C, const seqlayers_native::Packed& w, int64_t b0, int64_t b1, float* out,
               const seqlayers_native::Head& head) {
  const int64_t nb = b1 - b0, T = C.T, F = C.F, H = C.H;
  const int64_t ld_s = (H + 15) / 16 * 16;  // the state buffers' rows, 64-byte aligned
  seqlayers_native::Floats states(head.y ? 2 * nb * ld_s : 0);
  const int m = static_cast<int>(H), n = static_cast<int>(nb), kf = static_cast<int>(F);
  const int ld_x = static_cast<int>(T * F), ld_o = static_cast<int>(head.y ? ld_s : T * H);
  const float one = 1.0f;
  std::vector<const float*> h_rows(nb), x_rows(nb);
  std::vector<float*> o_rows(nb), y_rows(nb);
  for (int64_t b = 0; b < nb; ++b) h_rows[b] = C.h0 + (b0 + b) * H;
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t b = 0; b < nb; ++b) {
      o_rows[b] = head.y ? states.data() + ((t % 2) * nb + b) * ld_s : out + ((b0 + b) * T + t) * H;
      x_rows[b] = C.x + ((b0 + b) * T + t) * F;
    }
    if (F > kSmallF) {  // bias + x_t @ W_ih^T by sgemm into the step's rows first (o^T += W_ih @ x_t^T)
      bias_rows(o_rows.data(), nb, C.bias, H);
      sgemm_("N", "N", &m, &n, &kf, &one, C.wi, &m, x_rows[0], &ld_x, &one, o_rows[0], &ld_o);
    }
    rnn_step(RnnStep{h_rows.data(), o_rows.data(), x_rows.data(), C.wi, C.bias, F, H, F > kSmallF, C.relu}, nb, w);
    if (head.y) {
      for (int64_t b = 0; b < nb; ++b) y_rows[b] = head.y + ((b0 + b) * T + t) * head.U;
      seqlayers_native::head_rows(head, H, nb, o_rows.data(), y_rows.data());
    }
    std::copy(o_rows.begin(), o_rows.end(), h_rows.begin());  // the next step reads this step's rows
  }
}

// Rows b0 .. b1 of the call without the hand-written kernel (blas_only, no AVX-512, a large H): per
// step the input projection (axpy for up to 16 features, else sgemm) and MKL's sgemm for the
// recurrence into the output rows, then the activation over them.
void blas_steps(const RnnCall& C, const float* wh, int64_t b0, int64_t b1, float* out) {
  const int64_t nb = b1 - b0, T = C.T, F = C.F, H = C.H;
  const int m = static_cast<int>(H), n = static_cast<int>(nb), kf = static_cast<int>(F);
  const int ld_out = static_cast<int>(T * H), ld_x = static_cast<int>(T * F);
  const float one = 1.0f;
  std::vector<float*> o_rows(nb);
  for (int64_t t = 0; t < T; ++t) {
    float* o = out + (b0 * T + t) * H;  // step t of row b0 + b is o + b * T * H
    const float* h = t == 0 ? C.h0 + b0 * H : o - H;
    const int ld_h = t == 0 ? m : ld_out;
    for (int64_t b = 0; b < nb; ++b) o_rows[b] = o + b * T * H;
    bias_rows(o_rows.data(), nb, C.bias, H);  // + x_t @ W_ih^T
    const float* xt = C.x + (b0 * T + t) * F;
    for (int64_t b = 0; b < nb && F <= kSmallF; ++b) {
      for (int64_t f = 0; f < F; ++f) axpy(o_rows[b], xt[b * T * F + f], C.wi + f * H, H);
    }
    // column-major view: o^T (H, nb; ld T*H) += W_ih (H, F) @ x_t^T (F, nb; ld T*F)
    if (F > kSmallF) sgemm_("N", "N", &m, &n, &kf, &one, C.wi, &m, xt, &ld_x, &one, o, &ld_out);
    sgemm_("N", "N", &m, &n, &m, &one, wh, &m, h, &ld_h, &one, o, &ld_out);  // o^T += W_hh @ h^T
    for (int64_t b = 0; b < nb; ++b) {
      if (C.relu) relu_inplace(o_rows[b], H); else tanh_inplace(o_rows[b], H);
    }
  }
}

at::Tensor simple_rnn_forward(const at::Tensor& x_, const at::Tensor& w_ih_t_, const at::Tensor& w_hh_t_,
                              const c10::optional<at::Tensor>& bias_, const at::Tensor& h0_, bool relu,
                              bool blas_only, const c10::optional<at::Tensor>& head_w_,
                              const c10::optional<at::Tensor>& head_b_, bool head_softmax) {
  TORCH_CHECK(x_.dim() == 3 && x_.scalar_type() == at::kFloat && x_.device().is_cpu(),
              "simple_rnn_forward: x must be a (B, T, F) float32 CPU tensor");
  const at::Tensor x = x_.contiguous();
  const int64_t B = x.size(0), T = x.size(1), F = x.size(2), H = w_hh_t_.size(0);
  TORCH_CHECK(w_ih_t_.sizes() == at::IntArrayRef({F, H}) && w_ih_t_.scalar_type() == at::kFloat,
              "simple_rnn_forward: w_ih_t must be (F, H) float32");
  TORCH_CHECK(w_hh_t_.sizes() == at::IntArrayRef({H, H}) && w_hh_t_.scalar_type() == at::kFloat,
              "simple_rnn_forward: w_hh_t must be (H, H) float32");
  TORCH_CHECK(h0_.sizes() == at::IntArrayRef({B, H}) && h0_.scalar_type() == at::kFloat,
              "simple_rnn_forward: h0 must be (B, H) float32");
  const at::Tensor w_ih = w_ih_t_.contiguous(), w_hh = w_hh_t_.contiguous(), h_init = h0_.contiguous();
  at::Tensor bias;
  if (bias_.has_value() && bias_->defined()) {
    TORCH_CHECK(bias_->numel() == H && bias_->scalar_type() == at::kFloat, "simple_rnn_forward: bias must be (H,) float32");
    bias = bias_->contiguous();
  }
  // a following Dense (head_w (U, H), head_b (U), its softmax with head_softmax): its (B, T, U) output is
  // returned in place of the sequence, computed in the steps where the hand-written kernel runs
  // (head.h), else by addmm on the sequence at the end
  const bool has_head = head_w_.has_value() && head_w_->defined();
  const at::Tensor head_w = has_head ? *head_w_ : at::Tensor();
  const at::Tensor head_b = has_head ? seqlayers_native::check_head("simple_rnn_forward", head_w, head_b_, H) : at::Tensor();
  const bool own_kernel = !blas_only && H <= kMaxOwnH && __builtin_cpu_supports("avx512f") &&
                          (at::get_num_threads() == 1 || B * H * H <= kMaxOwnWorkThreaded || B >= 16);
  // (B >= 16 with several threads: the batch is split into chunks below, each run on one thread)
  const bool head_fused = has_head && own_kernel;
  const seqlayers_native::HeadWeights hw = head_fused ? seqlayers_native::HeadWeights(head_w, head_b, head_softmax)
                                                      : seqlayers_native::HeadWeights();
  at::Tensor out = head_fused ? at::Tensor() : at::empty({B, T, H}, x.options());
  at::Tensor y = head_fused ? at::empty({B, T, head_w.size(0)}, x.options()) : at::Tensor();
  if (B > 0 && T > 0 && H > 0) {
    // W_hh^T in panels, in a tensor: ATen's allocator aligns it to 64 bytes, so no load of a panel's
    // row splits across two cache lines (a std::vector's 16-byte alignment made the kernel 0.86x or
    // 1.10x of the sgemm path on W4, depending on where the process's allocator put it)
    const at::Tensor panels = at::empty({own_kernel ? seqlayers_native::packed_size(H, H) : 0}, x.options());
    const seqlayers_native::Packed packed =
        own_kernel ? seqlayers_native::pack_panels(w_hh.data_ptr<float>(), H, H, 0, H, panels.data_ptr<float>())
                   : seqlayers_native::Packed();
    const RnnCall C{x.data_ptr<float>(), w_ih.data_ptr<float>(), bias.defined() ? bias.data_ptr<float>() : nullptr,
                    h_init.data_ptr<float>(), T, F, H, relu};
    // rows b0 .. b1 - 1 (the rows are independent: with several torch threads, chunks of the batch run at
    // once, each on one thread; see loop_math.h's for_each_chunk)
    seqlayers_native::for_each_chunk(1, B, B * T * H * (F + H), [&](int64_t, int64_t b0, int64_t b1) {
      if (own_kernel)
        own_steps(C, packed, b0, b1, head_fused ? nullptr : out.data_ptr<float>(),
                  head_fused ? hw.at(y.data_ptr<float>()) : seqlayers_native::Head{});
      else
        blas_steps(C, w_hh.data_ptr<float>(), b0, b1, out.data_ptr<float>());
    });
  }
  if (head_fused) return y;
  return has_head ? seqlayers_native::dense_on_sequence(out, head_w, head_b, head_softmax, blas_only) : out;
}

}  // namespace

TORCH_LIBRARY(seqlayers_native, m) {
  m.def("simple_rnn_forward(Tensor x, Tensor w_ih_t, Tensor w_hh_t, Tensor? bias, Tensor h0, bool relu, "
        "bool blas_only=False, Tensor? head_w=None, Tensor? head_b=None, bool head_softmax=False) -> Tensor");
}

TORCH_LIBRARY_IMPL(seqlayers_native, CPU, m) {
  m.impl("simple_rnn_forward", &simple_rnn_forward);
}
