// SimpleRNN inference on CPU, float32: h_t = act(x_t @ W_ih^T + bias + h_{t-1} @ W_hh^T).
//
// Registered as torch.ops.seqlayers_native.simple_rnn_forward(x, w_ih_t, w_hh_t, bias, h0, relu, blas_only):
//   x       (B, T, F) float32, in processing order
//   w_ih_t  (F, H) float32: W_ih^T;  w_hh_t (H, H) float32: W_hh^T;  bias (H,) float32 or None
//   h0      (B, H) float32: the initial state
//   relu    false: tanh, true: relu
//   blas_only  true: the recurrence always through sgemm (what machines without AVX-512 run; for tests)
//   returns (B, T, H) float32, contiguous: every step's output (the final state is out[:, -1])
//
// Each step writes straight into its rows of the batch-first output (row stride T*H), so nothing is
// transposed or copied afterwards and the next layer (often TimeDistributed(Dense)) reads it as is.
//
// Why C++: W4 (B=16, H=200, T=700) is a chain of 700 tiny steps. Through the dispatcher each step
// costs two ATen calls (addmm + tanh_), ~9 us of overhead, and torch's float tanh alone takes ~10 us
// on 3,200 values. Here each step is the input projection (axpy for up to 16 features, else sgemm), one
// BLAS sgemm for the recurrence (the MKL that libtorch_cpu already carries: no allocation, no
// dispatch; on AVX-512 machines a hand-written kernel, loop_math.h, 25% faster at these sizes) and a
// vectorised rational tanh, all on the step's cache-warm rows.
//
// tanh: the rational approximation of loop_math.h (max abs error 2.7e-7 against float64).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cstdint>
#include <cstring>
#include <vector>

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

at::Tensor simple_rnn_forward(const at::Tensor& x_, const at::Tensor& w_ih_t_, const at::Tensor& w_hh_t_,
                              const c10::optional<at::Tensor>& bias_, const at::Tensor& h0_, bool relu,
                              bool blas_only) {
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
  at::Tensor out = at::empty({B, T, H}, x.options());
  if (B == 0 || T == 0 || H == 0) return out;
  const float* xp = x.data_ptr<float>();
  const float* wi = w_ih.data_ptr<float>();
  const float* wh = w_hh.data_ptr<float>();
  const float* bp = bias.defined() ? bias.data_ptr<float>() : nullptr;
  float* op = out.data_ptr<float>();
  const int m = static_cast<int>(H), kf = static_cast<int>(F);
  const int ld_out = static_cast<int>(T * H), ld_x = static_cast<int>(T * F), ld_h0 = static_cast<int>(H);
  const float one = 1.0f;
  const bool own_kernel = !blas_only && H <= kMaxOwnH && __builtin_cpu_supports("avx512f") &&
                          (at::get_num_threads() == 1 || B * H * H <= kMaxOwnWorkThreaded || B >= 16);
  // (B >= 16 with several threads: the batch is split into chunks below, each run on one thread)
  std::vector<float> panels(own_kernel ? seqlayers_native::packed_size(H, H) : 0);
  const seqlayers_native::Packed packed =  // W_hh^T in panels
      own_kernel ? seqlayers_native::pack_panels(wh, H, H, 0, H, panels.data()) : seqlayers_native::Packed();
  // rows b0 .. b1 - 1 (the rows are independent: with several torch threads, chunks of the batch run at
  // once, each on one thread; see loop_math.h's for_each_chunk)
  seqlayers_native::for_each_chunk(1, B, B * T * H * (F + H), [&](int64_t, int64_t b0, int64_t b1) {
    const int64_t nb = b1 - b0;
    const int n = static_cast<int>(nb);
    float* oc = op + b0 * T * H;
    const float* xc = xp + b0 * T * F;
    std::vector<const float*> h_rows(nb);
    std::vector<float*> o_rows(nb);
    for (int64_t t = 0; t < T; ++t) {
      float* o = oc + t * H;  // step t of row b is o + b * T * H
      for (int64_t b = 0; b < nb; ++b) {  // bias + x_t @ W_ih^T
        float* ob = o + b * T * H;
        if (bp) std::memcpy(ob, bp, H * sizeof(float)); else std::memset(ob, 0, H * sizeof(float));
        if (F <= kSmallF) {
          const float* xb = xc + (b * T + t) * F;
          for (int64_t f = 0; f < F; ++f) axpy(ob, xb[f], wi + f * H, H);
        }
      }
      // column-major view: o^T (H, nb; ld T*H) += W_ih (H, F) @ x_t^T (F, nb; ld T*F)
      if (F > kSmallF) sgemm_("N", "N", &m, &n, &kf, &one, wi, &m, xc + t * F, &ld_x, &one, o, &ld_out);
      const float* h = t == 0 ? h_init.data_ptr<float>() + b0 * H : o - H;
      const int ld_h = t == 0 ? ld_h0 : ld_out;
      if (own_kernel) {  // o += h @ W_hh^T
        for (int64_t b = 0; b < nb; ++b) {
          h_rows[b] = h + b * ld_h;
          o_rows[b] = o + b * T * H;
        }
        seqlayers_native::recurrent_avx512(nb, h_rows.data(), packed, o_rows.data());
      }
      else sgemm_("N", "N", &m, &n, &m, &one, wh, &m, h, &ld_h, &one, o, &ld_out);  // o^T += W_hh @ h^T
      for (int64_t b = 0; b < nb; ++b) {
        if (relu) relu_inplace(o + b * T * H, H); else tanh_inplace(o + b * T * H, H);
      }
    }
  });
  return out;
}

}  // namespace

TORCH_LIBRARY(seqlayers_native, m) {
  m.def("simple_rnn_forward(Tensor x, Tensor w_ih_t, Tensor w_hh_t, Tensor? bias, Tensor h0, bool relu, bool blas_only=False) -> Tensor");
}

TORCH_LIBRARY_IMPL(seqlayers_native, CPU, m) {
  m.impl("simple_rnn_forward", &simple_rnn_forward);
}
