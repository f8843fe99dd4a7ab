// LSTM, GRU and SimpleRNN training on CPU, float32: a forward pass that keeps what backpropagation
// through time needs, and that backward pass, with each weight's gradient ONE product over all steps.
// The GRU's and SimpleRNN's ops (gru_train_*, simple_rnn_train_*, signatures at the end of the file)
// follow the LSTM's, described here.
//
// Registered as
//   torch.ops.seqlayers_native.lstm_train_forward(x, w_ih, w_hh, b_ih, b_hh, h0, c0, backwards, lengths=None)
//                                                 -> Tensor[]
//     x        (B, T, F) float32 (any strides)
//     w_ih, w_hh, b_ih, b_hh, backwards: one entry per direction (D = 1 or 2), torch's layout and gate
//              order (i, f, g, o): w_ih (4H, F), w_hh (4H, H), biases (4H,) or None
//     h0, c0   (D, B, H) float32
//     lengths  (B,) int64 or None: a right-padded batch's valid steps per row (see Slots)
//     returns  [out (B, T, D*H) (direction d in columns d*H..(d+1)*H, time order), h_n (D, B, H),
//              c_n (D, B, H), then what lstm_train_backward reads: acts (D, T, B, 4H) the gates after
//              their activations, cs (D, T, B, H) the cell after step t, tcs (D, T, B, H) tanh of it,
//              xh (D, T, B, F + H) step t's rows [x_t, h the step started from]]
//   torch.ops.seqlayers_native.lstm_train_backward(grad_out, grad_h, grad_c, w_ih, w_hh, c0, acts, cs, tcs, xh,
//                                                  backwards, need_dx, repeated, lengths=None) -> Tensor[]
//     grad_out (B, T, D*H) or None; grad_h, grad_c (D, B, H) or None (zeros); acts is overwritten;
//     repeated: x was the same at every step (then dW_ih is one product over B rows)
//     returns  [dx (B, T, F) (empty without need_dx), dh0 (D, B, H), dc0 (D, B, H), then per direction
//              dw_ih (4H, F), dw_hh (4H, H), db (4H,) (the gradient of b_ih and of b_hh alike)]
//
// Forward, per direction and step: [x_t, h] @ [W_ih; W_hh]^T as ONE product (MKL's sgemm, no
// dispatch) into the step's rows of the (T, B, 4H) buffer the gates are kept in, then one vectorised
// pass adding the bias and computing the gates in place (the rational tanh/sigmoid of loop_math.h,
// max abs error 2.9e-7 / 1.8e-7; the sigmoid exactly 0 / 1 at |x| >= 15.8107), c, tanh(c) and h, which goes into the next step's row and the
// batch-first output. Backward, per direction, steps in reverse: one vectorised pass turning the
// step's gates into their pre-activation gradients dG (in place; db accumulates them), then
// dh_{t-1} = dG_t @ W_hh; after the loop [dW_ih, dW_hh] = dG^T [X, H_prev] and dX = dG W_ih, each ONE
// GEMM over all T * B rows.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "loop_math.h"

namespace {

using seqlayers_native::for_each_chunk;
using seqlayers_native::plus16;
using seqlayers_native::sigmoid_r;
using seqlayers_native::tanh_r;

const bool kAVX512 = __builtin_cpu_supports("avx512f");

// The gates' sigmoid, exactly 0 or 1 where |x| >= kSaturated (there the rational tanh is clamped and
// would give 1.4e-7 or 1 - 1.2e-7; the true value is within 1.4e-7 of it): rnn_fused's is_pad column
// (+-1e4 into the input and forget gates) then freezes c bit for bit, as with torch's kernel, and
// its gates' gradients are exactly 0.
constexpr float kSaturated = 15.8107f;

__attribute__((target("avx512f"), always_inline)) inline __m512 sigmoid16_sat(__m512 x) {
  const __m512 s = seqlayers_native::sigmoid16(x);
  const __m512 one = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(kSaturated), _CMP_GE_OQ), s,
                                          _mm512_set1_ps(1.0f));
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(-kSaturated), _CMP_LE_OQ), one,
                              _mm512_setzero_ps());
}

inline float sigmoid_sat(float x) { return x >= kSaturated ? 1.0f : (x <= -kSaturated ? 0.0f : sigmoid_r(x)); }

// One step of one row, 16 units at column j: a (4H) holds the gates' pre-activations without the
// bias b (4H) and gets their activations; c (H) is updated in place; cs, tcs (H) get c and tanh(c);
// h (H, the next step's row) and out (H) the output.
__attribute__((target("avx512f"), always_inline)) inline void gates16(float* a, const float* b, float* c, float* cs,
                                                                     float* tcs, float* h, float* out, int64_t H,
                                                                     int64_t j) {
  const __mmask16 m = seqlayers_native::tail_mask(H - j);
  const __m512 i = sigmoid16_sat(plus16(m, a, b, j));
  const __m512 f = sigmoid16_sat(plus16(m, a, b, H + j));
  const __m512 g = seqlayers_native::tanh16(plus16(m, a, b, 2 * H + j));
  const __m512 o = sigmoid16_sat(plus16(m, a, b, 3 * H + j));
  _mm512_mask_storeu_ps(a + j, m, i);
  _mm512_mask_storeu_ps(a + H + j, m, f);
  _mm512_mask_storeu_ps(a + 2 * H + j, m, g);
  _mm512_mask_storeu_ps(a + 3 * H + j, m, o);
  const __m512 cj = _mm512_fmadd_ps(f, _mm512_maskz_loadu_ps(m, c + j), _mm512_mul_ps(i, g));
  _mm512_mask_storeu_ps(c + j, m, cj);
  _mm512_mask_storeu_ps(cs + j, m, cj);
  const __m512 tc = seqlayers_native::tanh16(cj);
  _mm512_mask_storeu_ps(tcs + j, m, tc);
  const __m512 hj = _mm512_mul_ps(o, tc);
  _mm512_mask_storeu_ps(h + j, m, hj);
  _mm512_mask_storeu_ps(out + j, m, hj);
}

// two blocks per iteration: the polynomials are chains of dependent FMAs (see gated_loop.cpp)
__attribute__((target("avx512f")))
void gates_avx512(float* a, const float* b, float* c, float* cs, float* tcs, float* h, float* out, int64_t H) {
  int64_t j = 0;
  for (; j + 16 < H; j += 32) {
    gates16(a, b, c, cs, tcs, h, out, H, j);
    gates16(a, b, c, cs, tcs, h, out, H, j + 16);
  }
  if (j < H) gates16(a, b, c, cs, tcs, h, out, H, j);
}

__attribute__((target_clones("avx2", "default")))
void gates_scalar(float* a, const float* b, float* c, float* cs, float* tcs, float* h, float* out, int64_t H) {
  for (int64_t j = 0; j < H; ++j) {
    const float i = sigmoid_sat(a[j] + b[j]), f = sigmoid_sat(a[H + j] + b[H + j]),
                g = tanh_r(a[2 * H + j] + b[2 * H + j]), o = sigmoid_sat(a[3 * H + j] + b[3 * H + j]);
    a[j] = i;
    a[H + j] = f;
    a[2 * H + j] = g;
    a[3 * H + j] = o;
    const float cj = f * c[j] + i * g;
    c[j] = cj;
    cs[j] = cj;
    const float tc = tanh_r(cj);
    tcs[j] = tc;
    h[j] = o * tc;
    out[j] = o * tc;
  }
}

// One step of one row backwards, 16 units at column j: a (4H) the step's gate activations, replaced
// by their pre-activation gradients (which db (4H) accumulates); cp (H) the cell the step started
// from, tc (H) tanh of its new cell, go (H) the output's gradient (or null); dh, dc (H): the
// gradients reaching h_t and c_t through the recurrence, dc updated in place to c_{t-1}'s (dh_{t-1}
// is the product that follows).
__attribute__((target("avx512f"), always_inline)) inline void grad16(float* a, const float* cp, const float* tc,
                                                                    const float* go, const float* dh, float* dc,
                                                                    float* db, int64_t H, int64_t j) {
  const __mmask16 m = seqlayers_native::tail_mask(H - j);
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 i = _mm512_maskz_loadu_ps(m, a + j), f = _mm512_maskz_loadu_ps(m, a + H + j);
  const __m512 g = _mm512_maskz_loadu_ps(m, a + 2 * H + j), o = _mm512_maskz_loadu_ps(m, a + 3 * H + j);
  const __m512 t = _mm512_maskz_loadu_ps(m, tc + j), dh0 = _mm512_maskz_loadu_ps(m, dh + j);
  const __m512 dhj = go ? _mm512_add_ps(dh0, _mm512_maskz_loadu_ps(m, go + j)) : dh0;
  const __m512 dcj = _mm512_fmadd_ps(_mm512_mul_ps(dhj, o), _mm512_fnmadd_ps(t, t, one), _mm512_maskz_loadu_ps(m, dc + j));
  const __m512 di = _mm512_mul_ps(_mm512_mul_ps(dcj, g), _mm512_mul_ps(i, _mm512_sub_ps(one, i)));
  const __m512 df = _mm512_mul_ps(_mm512_mul_ps(dcj, _mm512_maskz_loadu_ps(m, cp + j)), _mm512_mul_ps(f, _mm512_sub_ps(one, f)));
  const __m512 dg = _mm512_mul_ps(_mm512_mul_ps(dcj, i), _mm512_fnmadd_ps(g, g, one));
  const __m512 d_o = _mm512_mul_ps(_mm512_mul_ps(dhj, t), _mm512_mul_ps(o, _mm512_sub_ps(one, o)));
  const __m512 gate[4] = {di, df, dg, d_o};
  for (int q = 0; q < 4; ++q) {
    _mm512_mask_storeu_ps(a + q * H + j, m, gate[q]);
    _mm512_mask_storeu_ps(db + q * H + j, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, db + q * H + j), gate[q]));
  }
  _mm512_mask_storeu_ps(dc + j, m, _mm512_mul_ps(dcj, f));
}

__attribute__((target("avx512f")))
void grad_avx512(float* a, const float* cp, const float* tc, const float* go, const float* dh, float* dc, float* db,
                 int64_t H) {
  for (int64_t j = 0; j < H; j += 16) grad16(a, cp, tc, go, dh, dc, db, H, j);
}

__attribute__((target_clones("avx2", "default")))
void grad_scalar(float* a, const float* cp, const float* tc, const float* go, const float* dh, float* dc, float* db,
                 int64_t H) {
  for (int64_t j = 0; j < H; ++j) {
    const float i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j], t = tc[j];
    const float dhj = dh[j] + (go ? go[j] : 0.0f);
    const float dcj = dc[j] + dhj * o * (1.0f - t * t);
    const float gate[4] = {dcj * g * i * (1.0f - i), dcj * cp[j] * f * (1.0f - f), dcj * i * (1.0f - g * g),
                           dhj * t * o * (1.0f - o)};
    for (int q = 0; q < 4; ++q) {
      a[q * H + j] = gate[q];
      db[q * H + j] += gate[q];
    }
    dc[j] = dcj * f;
  }
}

// The bias gradients' partial sums of the chunks (see for_each_chunk), n floats for each direction
// and chunk (named by its first row: the chunks of a direction start at distinct rows), added into
// db after every chunk in batch order: a fixed order, so each run gives the same bits whichever
// chunk finished first. Each chunk writes only its own part: no lock.
class ChunkSums {
 public:
  ChunkSums(int64_t D, int64_t B, int64_t n) : rows_(std::max<int64_t>(B, 1)), n_(n), parts_(D * rows_) {}
  float* part(int64_t d, int64_t b0) {  // zeros for the chunk of direction d starting at row b0
    std::vector<float>& p = parts_[d * rows_ + b0];
    p.assign(n_, 0.0f);
    return p.data();
  }
  void add_into(int64_t d, float* db) const {
    for (int64_t b0 = 0; b0 < rows_; ++b0)
      for (size_t j = 0; j < parts_[d * rows_ + b0].size(); ++j) db[j] += parts_[d * rows_ + b0][j];
  }

 private:
  int64_t rows_, n_;
  std::vector<std::vector<float>> parts_;
};

// Direction d's weights for G gates (LSTM 4, GRU 3, SimpleRNN 1): w_ih (G*H, F), w_hh (G*H, H), float32.
void check_weights(const char* op, int64_t G, const at::Tensor& w_ih, const at::Tensor& w_hh, int64_t F, int64_t H,
                   int64_t d) {
  TORCH_CHECK(w_ih.dim() == 2 && w_ih.size(0) == G * H && w_ih.size(1) == F && w_hh.dim() == 2 &&
              w_hh.size(0) == G * H && w_hh.size(1) == H && w_ih.scalar_type() == at::kFloat &&
              w_hh.scalar_type() == at::kFloat,
              op, ": direction ", d, " needs w_ih (", G, "H, F) = (", G * H, ", ", F, ") and w_hh (", G, "H, H) = (",
              G * H, ", ", H, ") float32; got w_ih ", w_ih.sizes(), " ", w_ih.scalar_type(), " and w_hh ", w_hh.sizes(),
              " ", w_hh.scalar_type());
}

void check_states(const char* op, const at::Tensor& s, int64_t D, int64_t B, int64_t H, const char* name) {
  TORCH_CHECK(s.dim() == 3 && s.size(0) == D && s.size(1) == B && s.size(2) == H && s.scalar_type() == at::kFloat,
              op, ": ", name, " must be (D, B, H) = (", D, ", ", B, ", ", H, ") float32, got ", s.sizes(), " ",
              s.scalar_type());
}

// c10::optional<Tensor> -> its value, or an undefined tensor
at::Tensor value_or_none(const c10::optional<at::Tensor>& t) { return t.has_value() && t->defined() ? *t : at::Tensor(); }

at::Tensor bias_or_zeros(const c10::optional<at::Tensor>& b, int64_t n, const at::TensorOptions& opts) {
  const at::Tensor t = value_or_none(b);
  return t.defined() ? t.contiguous() : at::zeros({n}, opts);
}

// b_ih + b_hh (n,), either or both absent (then the other, or zeros): the bias the LSTM's and
// SimpleRNN's steps add
at::Tensor summed_bias(const c10::optional<at::Tensor>& b_ih, const c10::optional<at::Tensor>& b_hh, int64_t n,
                       const at::TensorOptions& opts) {
  const at::Tensor bi = value_or_none(b_ih), bh = value_or_none(b_hh);
  return bi.defined() && bh.defined() ? bi + bh : bias_or_zeros(bi.defined() ? b_ih : b_hh, n, opts);
}

// A forward op's input checks (x (B, T, F) float32 CPU, one list entry per direction); returns D.
int64_t check_forward(const char* op, const at::Tensor& x, at::TensorList w_ih, at::TensorList w_hh,
                      const c10::List<c10::optional<at::Tensor>>& b_ih,
                      const c10::List<c10::optional<at::Tensor>>& b_hh, const c10::List<bool>& backwards) {
  TORCH_CHECK(x.dim() == 3 && x.scalar_type() == at::kFloat && x.device().is_cpu(), op,
              ": x must be a (B, T, F) float32 CPU tensor, got ", x.sizes(), " ", x.scalar_type(), " on ", x.device());
  const int64_t D = static_cast<int64_t>(w_ih.size());
  TORCH_CHECK(D >= 1 && w_hh.size() == w_ih.size() && b_ih.size() == w_ih.size() && b_hh.size() == w_ih.size() &&
              backwards.size() == w_ih.size(),
              op, ": one entry per direction in every list; got ", D, " w_ih, ", w_hh.size(), " w_hh, ", b_ih.size(),
              " b_ih, ", b_hh.size(), " b_hh, ", backwards.size(), " backwards");
  return D;
}

// A backward op's output gradient: contiguous (B, T, D*H), or undefined when none reached the output.
at::Tensor checked_grad_out(const char* op, const c10::optional<at::Tensor>& grad_out_, int64_t B, int64_t T,
                            int64_t DH) {
  const at::Tensor g = value_or_none(grad_out_);
  if (!g.defined()) return g;
  TORCH_CHECK(g.dim() == 3 && g.size(0) == B && g.size(1) == T && g.size(2) == DH, op,
              ": grad_out must be (B, T, D*H) = (", B, ", ", T, ", ", DH, "), got ", g.sizes());
  return g.contiguous();
}

// [W_ih^T; W_hh^T] (F + H, 4H): step t's gates are [x_t, h] @ it, one product with K = F + H
at::Tensor joint_transposed(const at::Tensor& w_ih_, const at::Tensor& w_hh_) {
  const at::Tensor w_ih = w_ih_.contiguous(), w_hh = w_hh_.contiguous();
  const int64_t G = w_ih.size(0), F = w_ih.size(1), H = w_hh.size(1);
  at::Tensor wt = at::empty({F + H, G}, w_ih.options());
  seqlayers_native::transpose_tiled(w_ih.data_ptr<float>(), G, F, wt.data_ptr<float>());
  seqlayers_native::transpose_tiled(w_hh.data_ptr<float>(), G, H, wt.data_ptr<float>() + F * G);
  return wt;
}

// The batch in "slot" order for a right-padded batch: slot i holds row perm[i], the rows by length,
// longest first (stable), so the rows active at any step are slots 0 .. active[s] - 1, in either
// processing direction (backwards, a row joins at step T - len and stays); without lengths the
// identity, every row active at every step. first[i]: the first step slot i is active.
struct Slots {
  std::vector<int64_t> perm, active, first;
};

Slots slot_order(const at::Tensor& lengths, int64_t B, int64_t T, bool backwards) {
  Slots S{std::vector<int64_t>(B), std::vector<int64_t>(T, B), std::vector<int64_t>(B, 0)};
  for (int64_t b = 0; b < B; ++b) S.perm[b] = b;
  if (!lengths.defined()) return S;
  const int64_t* len = lengths.data_ptr<int64_t>();
  std::stable_sort(S.perm.begin(), S.perm.end(), [&](int64_t a, int64_t b) { return len[a] > len[b]; });
  for (int64_t s = 0; s < T; ++s) {
    int64_t n = 0;  // rows with len > t, t the step's time index
    const int64_t t = backwards ? T - 1 - s : s;
    while (n < B && len[S.perm[n]] > t) ++n;
    S.active[s] = n;
  }
  for (int64_t i = 0; i < B; ++i) S.first[i] = backwards ? std::max<int64_t>(0, T - len[S.perm[i]]) : 0;
  return S;
}

at::Tensor checked_lengths(const c10::optional<at::Tensor>& lengths_, int64_t B, int64_t T) {
  const at::Tensor lengths = value_or_none(lengths_);
  if (!lengths.defined()) return lengths;
  TORCH_CHECK(lengths.dim() == 1 && lengths.size(0) == B && lengths.scalar_type() == at::kLong && lengths.is_cpu(),
              "rnn_train: lengths must be a (B,) = (", B, ",) int64 CPU tensor, got ", lengths.sizes(), " ",
              lengths.scalar_type(), " on ", lengths.device(), " (lengths.to(torch.int64).cpu())");
  const at::Tensor l = lengths.contiguous();
  const int64_t lo = B == 0 ? 0 : l.min().item<int64_t>(), hi = B == 0 ? 0 : l.max().item<int64_t>();
  TORCH_CHECK(lo >= 0 && hi <= T, "rnn_train: every length must lie in [0, T] = [0, ", T, "], got lengths from ", lo,
              " to ", hi, " (lengths.clamp(0, T))");
  return l;
}

// Processing step s of a chunk of slots b0 .. b0 + nb - 1: its time index t, the next step's, and how
// many of the chunk's slots (a prefix) are active at s, at s + 1 and at s - 1.
struct StepRows {
  int64_t t, next, n, n_next, before;
};

StepRows step_rows(const Slots& S, int64_t s, int64_t T, bool backwards, int64_t b0, int64_t nb) {
  const auto in_chunk = [&](int64_t active) { return std::clamp<int64_t>(active - b0, 0, nb); };
  const int64_t t = backwards ? T - 1 - s : s;
  return {t, backwards ? t - 1 : t + 1, in_chunk(S.active[s]), s < T - 1 ? in_chunk(S.active[s + 1]) : 0,
          s > 0 ? in_chunk(S.active[s - 1]) : 0};
}

// One direction of the LSTM forward pass (see lstm_train_forward), in slot order (see Slots): slot
// i's rows of acts, cs, tcs, xh (T, B, .) are row perm[i]'s. `x0` (B, F): a repeated input's one
// step (RepeatVector's stride-0 view), projected once (W3's decoder: each step's product then has
// K = H instead of F + H), or undefined, when `xp` holds the (B, T, F) rows. h, c (B, H): the
// states in slot order, from h0 / c0 to the final ones (a padded step keeps them); the output of a
// padded step is left as it is (zeros).
struct LstmRun {
  int64_t B, T, F, H;
  const float* xp;
  float *g, *cs, *tcs, *rows, *out, *h, *c;
  int64_t ld_out;
  bool backwards;
};

// What a direction's steps read, made once per call: [W_ih^T; W_hh^T], a repeated input's projection
// (b + x0 W_ih^T, (B, 4H), batch order) and the bias the gate pass adds (zeros after that projection).
struct LstmPrep {
  at::Tensor wt, xproj, bias;
  bool repeated;
};

LstmPrep lstm_prep(const at::Tensor& x0, const at::Tensor& w_ih, const at::Tensor& w_hh, const at::Tensor& bias) {
  const bool repeated = x0.defined();
  return {joint_transposed(w_ih, w_hh), repeated ? at::addmm(bias, x0, w_ih.t()).contiguous() : at::Tensor(),
          repeated ? at::zeros_like(bias) : bias, repeated};
}

// The steps of slots b0 .. b1 - 1 (a chunk of the batch; chunks touch disjoint rows of every buffer).
void lstm_steps(const LstmRun& L, const Slots& S, const LstmPrep& P, int64_t b0, int64_t b1) {
  const int64_t B = L.B, T = L.T, F = L.F, H = L.H, GH = 4 * H, K = F + H, nb = b1 - b0;
  const float* x0 = P.repeated ? L.xp : nullptr;  // (B, F) then
  const float* b_gates = P.bias.data_ptr<float>();
  const int m = static_cast<int>(GH), k = static_cast<int>(P.repeated ? H : K), ldr = static_cast<int>(K);
  const float one = 1.0f, zero = 0.0f;
  for (int64_t s = 0; s < T; ++s) {
    const auto [t, next, n, n_next, before] = step_rows(S, s, T, L.backwards, b0, nb);
    float* r = L.rows + (t * B + b0) * K;  // the chunk's rows
    for (int64_t i = 0; i < n; ++i) {
      const int64_t slot = b0 + i, b = S.perm[slot];
      const float* xr = x0 ? x0 + b * F : L.xp + (b * T + t) * F;
      std::memcpy(r + i * K, xr, F * sizeof(float));
      if (i >= before) std::memcpy(r + i * K + F, L.h + slot * H, H * sizeof(float));  // a row starting here
    }
    if (n < nb) std::memset(r + n * K, 0, (nb - n) * K * sizeof(float));  // padded rows: zeros (the products read them)
    float* gt = L.g + (t * B + b0) * GH;
    // column-major: G_t^T (4H x n) = [W_ih; W_hh] (wt as 4H x K) @ [x_t, h]^T (K x n); for a repeated
    // input, G_t^T = xproj^T + W_hh (wt's last H rows) @ h^T
    if (P.repeated)
      for (int64_t i = 0; i < n; ++i)
        std::memcpy(gt + i * GH, P.xproj.data_ptr<float>() + S.perm[b0 + i] * GH, GH * sizeof(float));
    const float* a = P.repeated ? P.wt.data_ptr<float>() + F * GH : P.wt.data_ptr<float>();
    const int n_ = static_cast<int>(n);
    if (n > 0 && H > 0)
      sgemm_("N", "N", &m, &n_, &k, &one, a, &m, P.repeated ? r + F : r, &ldr, P.repeated ? &one : &zero, gt, &m);
    for (int64_t i = 0; i < n; ++i) {  // h goes into the next step's row, or the state of a row that stops here
      const int64_t slot = b0 + i;
      float* h = i < n_next ? L.rows + (next * B + slot) * K + F : L.h + slot * H;
      float* args[6] = {gt + i * GH, L.c + slot * H, L.cs + (t * B + slot) * H, L.tcs + (t * B + slot) * H, h,
                        L.out + (S.perm[slot] * T + t) * L.ld_out};
      if (kAVX512) gates_avx512(args[0], b_gates, args[1], args[2], args[3], args[4], args[5], H);
      else gates_scalar(args[0], b_gates, args[1], args[2], args[3], args[4], args[5], H);
    }
  }
}

// rows (B, H) of src in slot order -> batch order (dst[perm[i]] = src[i]), or the reverse
void permute_rows(const float* src, float* dst, const std::vector<int64_t>& perm, int64_t H, bool to_batch) {
  for (int64_t i = 0; i < static_cast<int64_t>(perm.size()); ++i) {
    const int64_t a = to_batch ? i : perm[i], b = to_batch ? perm[i] : i;
    std::memcpy(dst + b * H, src + a * H, H * sizeof(float));
  }
}

std::vector<at::Tensor> lstm_train_forward(const at::Tensor& x, at::TensorList w_ih, at::TensorList w_hh,
                                           const c10::List<c10::optional<at::Tensor>>& b_ih,
                                           const c10::List<c10::optional<at::Tensor>>& b_hh, const at::Tensor& h0_,
                                           const at::Tensor& c0_, const c10::List<bool>& backwards,
                                           const c10::optional<at::Tensor>& lengths_) {
  const int64_t D = check_forward("lstm_train_forward", x, w_ih, w_hh, b_ih, b_hh, backwards);
  const int64_t B = x.size(0), T = x.size(1), F = x.size(2), H = w_hh[0].size(1), GH = 4 * H, K = F + H;
  check_states("lstm_train_forward", h0_, D, B, H, "h0");
  check_states("lstm_train_forward", c0_, D, B, H, "c0");
  const at::Tensor lengths = checked_lengths(lengths_, B, T);
  const auto opts = x.options();
  const bool repeated = T > 1 && x.stride(1) == 0;  // every step the same input (RepeatVector's expand)
  const at::Tensor x0 = repeated ? x.select(1, 0).contiguous() : at::Tensor();
  const at::Tensor xc = repeated ? x0 : x.contiguous(), h0 = h0_.contiguous(), c0 = c0_.contiguous();
  at::Tensor out = lengths.defined() ? at::zeros({B, T, D * H}, opts) : at::empty({B, T, D * H}, opts);
  at::Tensor h_n = at::empty({D, B, H}, opts), c_n = at::empty({D, B, H}, opts);
  at::Tensor acts = at::empty({D, T, B, GH}, opts);
  at::Tensor cs = at::empty({D, T, B, H}, opts), tcs = at::empty({D, T, B, H}, opts);
  at::Tensor xh = at::empty({D, T, B, K}, opts);  // step t's rows [x_t, h the step started from], in slot order
  for (int64_t d = 0; d < D; ++d) check_weights("lstm_train", 4, w_ih[d], w_hh[d], F, H, d);
  std::vector<Slots> S(D);
  std::vector<std::vector<float>> h(D, std::vector<float>(B * H)), c(D, std::vector<float>(B * H));  // slot order
  std::vector<LstmPrep> P;
  for (int64_t d = 0; d < D; ++d) {
    const at::Tensor bias = summed_bias(b_ih.get(d), b_hh.get(d), GH, opts);
    S[d] = slot_order(lengths, B, T, backwards.get(d));
    permute_rows(h0[d].data_ptr<float>(), h[d].data(), S[d].perm, H, false);
    permute_rows(c0[d].data_ptr<float>(), c[d].data(), S[d].perm, H, false);
    P.push_back(lstm_prep(x0, w_ih[d], w_hh[d], bias));
  }
  const int64_t work = B * T * 4 * H * (F + H);  // multiply-adds of the recurrence
  for_each_chunk(D, B, work, [&](int64_t d, int64_t b0, int64_t b1) {
    const LstmRun L{B, T, F, H, xc.data_ptr<float>(), acts[d].data_ptr<float>(), cs[d].data_ptr<float>(),
                    tcs[d].data_ptr<float>(), xh[d].data_ptr<float>(), out.data_ptr<float>() + d * H, h[d].data(),
                    c[d].data(), D * H, backwards.get(d)};
    lstm_steps(L, S[d], P[d], b0, b1);
  });
  for (int64_t d = 0; d < D; ++d) {
    permute_rows(h[d].data(), h_n[d].data_ptr<float>(), S[d].perm, H, true);
    permute_rows(c[d].data(), c_n[d].data_ptr<float>(), S[d].perm, H, true);
  }
  return {out, h_n, c_n, acts, cs, tcs, xh};
}

// The backward pass overwrites `acts` with the gates' gradients (the caller runs it once per forward).
std::vector<at::Tensor> lstm_train_backward(const c10::optional<at::Tensor>& grad_out_,
                                            const c10::optional<at::Tensor>& grad_h_,
                                            const c10::optional<at::Tensor>& grad_c_, at::TensorList w_ih,
                                            at::TensorList w_hh, const at::Tensor& c0_, at::Tensor acts,
                                            const at::Tensor& cs, const at::Tensor& tcs, const at::Tensor& xh,
                                            const c10::List<bool>& backwards, bool need_dx, bool repeated,
                                            const c10::optional<at::Tensor>& lengths_) {
  const int64_t D = static_cast<int64_t>(w_ih.size());
  TORCH_CHECK(acts.dim() == 4 && acts.size(0) == D && xh.dim() == 4 && xh.size(0) == D && w_hh.size() == w_ih.size() &&
              backwards.size() == w_ih.size() && acts.is_contiguous(),
              "lstm_train_backward: expects what lstm_train_forward returned, for ", D, " direction(s); got acts ",
              acts.sizes(), ", xh ", xh.sizes(), ", ", w_hh.size(), " w_hh and ", backwards.size(), " backwards");
  const int64_t T = acts.size(1), B = acts.size(2), H = w_hh[0].size(1), GH = 4 * H, K = xh.size(3), F = K - H;
  const at::Tensor lengths = checked_lengths(lengths_, B, T);
  const auto opts = acts.options();
  const at::Tensor grad_out = checked_grad_out("lstm_train_backward", grad_out_, B, T, D * H);
  at::Tensor dh0 = at::zeros({D, B, H}, opts), dc0 = at::zeros({D, B, H}, opts), db = at::zeros({D, GH}, opts);
  const at::Tensor gh = value_or_none(grad_h_), gc = value_or_none(grad_c_);
  if (gh.defined()) dh0.copy_(gh);
  if (gc.defined()) dc0.copy_(gc);
  const at::Tensor c0 = c0_.contiguous();
  // dX per direction (summed after: the directions may run at once)
  std::vector<at::Tensor> dxs(need_dx ? D : 0);
  for (auto& t : dxs) t = at::empty({B, T, F}, opts);  // every row written (padded ones get dG = 0)
  std::vector<at::Tensor> results(3 + 3 * D);
  for (int64_t d = 0; d < D; ++d) check_weights("lstm_train", 4, w_ih[d], w_hh[d], F, H, d);
  const int64_t work = B * T * 4 * H * (F + H);  // multiply-adds of the recurrence
  std::vector<Slots> S(D);
  std::vector<std::vector<float>> dh(D), dc(D), c_first(D);  // slot order
  std::vector<at::Tensor> w(D);
  for (int64_t d = 0; d < D; ++d) {
    S[d] = slot_order(lengths, B, T, backwards.get(d));
    for (auto* v : {&dh[d], &dc[d], &c_first[d]}) v->resize(B * H);
    permute_rows(dh0[d].data_ptr<float>(), dh[d].data(), S[d].perm, H, false);  // the final states' gradients
    permute_rows(dc0[d].data_ptr<float>(), dc[d].data(), S[d].perm, H, false);
    permute_rows(c0[d].data_ptr<float>(), c_first[d].data(), S[d].perm, H, false);
    w[d] = w_hh[d].contiguous();  // (4H, H), read as W_hh^T (H x 4H) column-major
  }
  ChunkSums db_parts(D, B, GH);  // the chunks' bias gradients, into db[d] after them
  for_each_chunk(D, B, work, [&](int64_t d, int64_t b0, int64_t b1) {
    const Slots& Sd = S[d];
    const float *c_all = cs[d].data_ptr<float>(), *tc = tcs[d].data_ptr<float>();
    const float* go = grad_out.defined() ? grad_out.data_ptr<float>() + d * H : nullptr;
    float* a = acts[d].data_ptr<float>();
    float* dbl = db_parts.part(d, b0);
    const int m = static_cast<int>(H), k = static_cast<int>(GH);
    const float one = 1.0f, zero = 0.0f;
    const bool bw = backwards.get(d);
    const int64_t nb = b1 - b0;
    for (int64_t s = T - 1; s >= 0; --s) {
      const auto [t, next, n, n_next, before] = step_rows(Sd, s, T, bw, b0, nb);
      float* at_ = a + (t * B + b0) * GH;  // the chunk's gate activations, replaced by their gradients
      for (int64_t i = 0; i < n; ++i) {
        const int64_t slot = b0 + i;
        const float* cprev = s == Sd.first[slot] ? c_first[d].data() + slot * H : c_all + ((bw ? t + 1 : t - 1) * B + slot) * H;
        const float* gor = go ? go + (Sd.perm[slot] * T + t) * D * H : nullptr;
        float *dhr = dh[d].data() + slot * H, *dcr = dc[d].data() + slot * H;
        if (kAVX512) grad_avx512(at_ + i * GH, cprev, tc + (t * B + slot) * H, gor, dhr, dcr, dbl, H);
        else grad_scalar(at_ + i * GH, cprev, tc + (t * B + slot) * H, gor, dhr, dcr, dbl, H);
      }
      if (n < nb) std::memset(at_ + n * GH, 0, (nb - n) * GH * sizeof(float));  // padded rows: no gradient
      // column-major: dh^T (H x n) = W_hh^T (H x 4H) @ dG_t^T (4H x n); a padded row's dh passes through
      const int n_ = static_cast<int>(n);
      if (n > 0 && H > 0)
        sgemm_("N", "N", &m, &n_, &k, &one, w[d].data_ptr<float>(), &m, at_, &k, &zero, dh[d].data() + b0 * H, &m);
    }
  });
  for (int64_t d = 0; d < D; ++d) {  // the products over all steps: after every chunk, on MKL's threads
    db_parts.add_into(d, db[d].data_ptr<float>());
    permute_rows(dh[d].data(), dh0[d].data_ptr<float>(), S[d].perm, H, true);
    permute_rows(dc[d].data(), dc0[d].data_ptr<float>(), S[d].perm, H, true);
    const at::Tensor dg2 = acts[d].view({T * B, GH});
    // [dW_ih, dW_hh] = dG^T [X, H_prev]: one product over all T * B rows, made as (K, 4H) (MKL was
    // 2.5x faster that way round for F = 8) and transposed; a repeated input x0 (the same every
    // step): dW_ih = (sum_t dG_t)^T x0, a product over B rows
    const at::Tensor rows = xh[d].view({T * B, K});
    at::Tensor* r = results.data() + 3 + 3 * d;
    if (repeated) {
      const at::Tensor x0 = rows.narrow(0, 0, B).narrow(1, 0, F);  // (B, F): step 0's inputs (slot order, as dG)
      r[0] = at::mm(x0.t(), acts[d].sum(0)).t().contiguous();
      r[1] = at::mm(rows.narrow(1, F, H).t(), dg2).t().contiguous();
    } else {
      const at::Tensor dw = at::mm(rows.t(), dg2).t();  // (4H, K)
      r[0] = dw.narrow(1, 0, F).contiguous();
      r[1] = dw.narrow(1, F, H).contiguous();
    }
    r[2] = db[d];
    if (need_dx) {  // dX = dG W_ih, rows (t, slot), into dx's rows (perm[slot], t)
      const at::Tensor part = at::mm(dg2, w_ih[d]);
      const float* pp = part.data_ptr<float>();
      float* dxp = dxs[d].data_ptr<float>();
      for (int64_t t = 0; t < T; ++t)
        for (int64_t i = 0; i < B; ++i)
          std::memcpy(dxp + (S[d].perm[i] * T + t) * F, pp + (t * B + i) * F, F * sizeof(float));
    }
  }
  results[0] = !need_dx ? at::empty({0}, opts) : D == 1 ? dxs[0] : dxs[0].add_(dxs[1]);
  results[1] = dh0;
  results[2] = dc0;
  return results;
}

// ---- GRU (torch's and Keras 3's default reset_after: n = tanh(x W_n + b_in + r * (h U_n + b_hn))) ----

// One GRU step of one row, 16 units at column j: xw (3H) holds x_t W_ih^T + b_ih and gets r, z, n;
// hw (3H) h U^T (without b_hh, added here); hn (H) gets h U_n^T + b_hn; h (H) the state the step
// started from; nh, out (H) the new state (the next step's) and the output.
__attribute__((target("avx512f"), always_inline)) inline void gru16(float* xw, const float* hw, const float* bh,
                                                                   float* hn, const float* h, float* nh, float* out,
                                                                   int64_t H, int64_t j) {
  const __mmask16 m = seqlayers_native::tail_mask(H - j);
  const __m512 r = sigmoid16_sat(_mm512_add_ps(_mm512_maskz_loadu_ps(m, xw + j), plus16(m, hw, bh, j)));
  const __m512 z = sigmoid16_sat(_mm512_add_ps(_mm512_maskz_loadu_ps(m, xw + H + j), plus16(m, hw, bh, H + j)));
  const __m512 hnl = plus16(m, hw, bh, 2 * H + j);
  const __m512 n = seqlayers_native::tanh16(_mm512_fmadd_ps(r, hnl, _mm512_maskz_loadu_ps(m, xw + 2 * H + j)));
  _mm512_mask_storeu_ps(xw + j, m, r);
  _mm512_mask_storeu_ps(xw + H + j, m, z);
  _mm512_mask_storeu_ps(xw + 2 * H + j, m, n);
  _mm512_mask_storeu_ps(hn + j, m, hnl);
  const __m512 hj = _mm512_fmadd_ps(z, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, h + j), n), n);  // z h + (1 - z) n
  _mm512_mask_storeu_ps(nh + j, m, hj);
  _mm512_mask_storeu_ps(out + j, m, hj);
}

__attribute__((target("avx512f")))
void gru_avx512(float* xw, const float* hw, const float* bh, float* hn, const float* h, float* nh, float* out,
                int64_t H) {
  for (int64_t j = 0; j < H; j += 16) gru16(xw, hw, bh, hn, h, nh, out, H, j);
}

__attribute__((target_clones("avx2", "default")))
void gru_scalar(float* xw, const float* hw, const float* bh, float* hn, const float* h, float* nh, float* out,
                int64_t H) {
  for (int64_t j = 0; j < H; ++j) {
    const float r = sigmoid_sat(xw[j] + hw[j] + bh[j]), z = sigmoid_sat(xw[H + j] + hw[H + j] + bh[H + j]);
    const float hnl = hw[2 * H + j] + bh[2 * H + j], n = tanh_r(xw[2 * H + j] + r * hnl);
    xw[j] = r;
    xw[H + j] = z;
    xw[2 * H + j] = n;
    hn[j] = hnl;
    nh[j] = z * h[j] + (1.0f - z) * n;
    out[j] = nh[j];
  }
}

// One GRU step of one row backwards: a (3H) the step's r, z, n, replaced by the recurrent side's
// pre-activation gradients [dr, dz, dn * r]; hn (H) h U_n^T + b_hn, replaced by dn (the input side's
// n gradient; its r and z ones equal the recurrent side's); hp (H) the state the step started from;
// go (H) the output's gradient or null; dh (H) the gradient reaching h_t, replaced by its direct part
// to h_{t-1} (dh z; the product with U follows); db (4H) accumulates [dr, dz, dn, dn * r].
__attribute__((target_clones("avx512f", "avx2", "default")))
void gru_grad(float* __restrict a, float* __restrict hn, const float* __restrict hp, const float* __restrict go,
              float* __restrict dh, float* __restrict db, int64_t H) {
  for (int64_t j = 0; j < H; ++j) {
    const float r = a[j], z = a[H + j], n = a[2 * H + j];
    const float d = dh[j] + (go ? go[j] : 0.0f);
    const float dn = d * (1.0f - z) * (1.0f - n * n);
    const float dr = dn * hn[j] * r * (1.0f - r), dz = d * (hp[j] - n) * z * (1.0f - z);
    a[j] = dr;
    a[H + j] = dz;
    a[2 * H + j] = dn * r;
    hn[j] = dn;
    dh[j] = d * z;
    db[j] += dr;
    db[H + j] += dz;
    db[2 * H + j] += dn;
    db[3 * H + j] += dn * r;
  }
}

// One direction of the GRU forward pass (see gru_train_forward), for rows b0 .. b1 - 1 (a chunk of the
// batch): acts, hn, hp its (T, B, .) buffers, acts already holding every step's x W_ih^T + b_ih; wt
// (H, 3H) U^T.
struct GruRun {
  int64_t B, T, H;
  const float *wt, *b_hh;
  float *hs, *g, *hn, *hp, *out;  // hs (B, H): the states in slot order, from h0 to h_n
  int64_t ld_out;
  bool backwards;
};

// A chunk's steps, slots b0 .. b1 - 1, rows in slot order (see Slots; a padded step keeps the state and
// outputs zeros).
void gru_steps(const GruRun& L, const Slots& S, int64_t b0, int64_t b1) {
  const int64_t B = L.B, T = L.T, H = L.H, GH = 3 * H, nb = b1 - b0;
  std::vector<float> hw(nb * GH);
  const int m = static_cast<int>(GH), k = static_cast<int>(H);
  const float one = 1.0f, zero = 0.0f;
  for (int64_t s = 0; s < T; ++s) {
    const auto [t, next, n, n_next, before] = step_rows(S, s, T, L.backwards, b0, nb);
    float* h = L.hp + (t * B + b0) * H;  // the chunk's state at this step's start
    for (int64_t i = before; i < n; ++i) std::memcpy(h + i * H, L.hs + (b0 + i) * H, H * sizeof(float));  // rows starting
    if (n < nb) std::memset(h + n * H, 0, (nb - n) * H * sizeof(float));  // padded rows: zeros (the products read them)
    // column-major: hw^T (3H x n) = U (wt as 3H x H) @ h^T (H x n)
    const int n_ = static_cast<int>(n);
    if (n > 0 && H > 0) sgemm_("N", "N", &m, &n_, &k, &one, L.wt, &m, h, &k, &zero, hw.data(), &m);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t slot = b0 + i;
      float* nh = i < n_next ? L.hp + (next * B + slot) * H : L.hs + slot * H;  // the next step's start, or the state
      float* args[3] = {L.g + (t * B + slot) * GH, L.hn + (t * B + slot) * H, L.out + (S.perm[slot] * T + t) * L.ld_out};
      if (kAVX512) gru_avx512(args[0], hw.data() + i * GH, L.b_hh, args[1], h + i * H, nh, args[2], H);
      else gru_scalar(args[0], hw.data() + i * GH, L.b_hh, args[1], h + i * H, nh, args[2], H);
    }
  }
}

// rows (T * B, F) of x in (time, slot) order (slot order = batch order without lengths)
at::Tensor time_major_rows(const at::Tensor& x, const Slots& S, bool by_length) {
  const int64_t B = x.size(0), T = x.size(1), F = x.size(2);
  const at::Tensor xs = by_length ? x.index_select(0, at::tensor(S.perm, at::TensorOptions().dtype(at::kLong))) : x;
  return xs.transpose(0, 1).contiguous().view({T * B, F});
}

std::vector<at::Tensor> gru_train_forward(const at::Tensor& x, at::TensorList w_ih, at::TensorList w_hh,
                                          const c10::List<c10::optional<at::Tensor>>& b_ih,
                                          const c10::List<c10::optional<at::Tensor>>& b_hh, const at::Tensor& h0_,
                                          const c10::List<bool>& backwards, const c10::optional<at::Tensor>& lengths_) {
  const int64_t D = check_forward("gru_train_forward", x, w_ih, w_hh, b_ih, b_hh, backwards);
  const int64_t B = x.size(0), T = x.size(1), F = x.size(2), H = w_hh[0].size(1);
  check_states("gru_train_forward", h0_, D, B, H, "h0");
  const at::Tensor lengths = checked_lengths(lengths_, B, T);
  const auto opts = x.options();
  std::vector<Slots> S(D);
  for (int64_t d = 0; d < D; ++d) S[d] = slot_order(lengths, B, T, backwards.get(d));  // one order: by length
  const at::Tensor x2 = time_major_rows(x, S[0], lengths.defined()), h0 = h0_.contiguous();  // rows (t, slot)
  at::Tensor out = lengths.defined() ? at::zeros({B, T, D * H}, opts) : at::empty({B, T, D * H}, opts);
  at::Tensor h_n = at::empty({D, B, H}, opts);
  at::Tensor acts = at::empty({D, T, B, 3 * H}, opts), hn = at::empty({D, T, B, H}, opts);
  at::Tensor hp = at::empty({D, T, B, H}, opts);
  for (int64_t d = 0; d < D; ++d) check_weights("gru_train", 3, w_ih[d], w_hh[d], F, H, d);
  const int64_t work = B * T * 3 * H * (F + H);  // multiply-adds of the recurrence
  std::vector<at::Tensor> wt(D), b_hh_(D);
  std::vector<std::vector<float>> hs(D, std::vector<float>(B * H));  // the states, slot order
  for (int64_t d = 0; d < D; ++d) {  // every step's input projection (plus b_ih) in one GEMM, into the kept gates
    at::Tensor a2 = acts[d].view({T * B, 3 * H});
    at::addmm_out(a2, bias_or_zeros(b_ih.get(d), 3 * H, opts), x2, w_ih[d].t());
    const at::Tensor u = w_hh[d].contiguous();
    wt[d] = at::empty({H, 3 * H}, opts);  // (H, 3H): U^T
    seqlayers_native::transpose_tiled(u.data_ptr<float>(), 3 * H, H, wt[d].data_ptr<float>());
    b_hh_[d] = bias_or_zeros(b_hh.get(d), 3 * H, opts);
    permute_rows(h0[d].data_ptr<float>(), hs[d].data(), S[d].perm, H, false);
  }
  for_each_chunk(D, B, work, [&](int64_t d, int64_t b0, int64_t b1) {
    const GruRun L{B, T, H, wt[d].data_ptr<float>(), b_hh_[d].data_ptr<float>(), hs[d].data(),
                   acts[d].data_ptr<float>(), hn[d].data_ptr<float>(), hp[d].data_ptr<float>(),
                   out.data_ptr<float>() + d * H, D * H, backwards.get(d)};
    gru_steps(L, S[d], b0, b1);
  });
  for (int64_t d = 0; d < D; ++d) permute_rows(hs[d].data(), h_n[d].data_ptr<float>(), S[d].perm, H, true);
  return {out, h_n, x2, acts, hn, hp};
}

// The backward pass overwrites `acts` and `hn` with the gates' gradients (the caller runs it once).
std::vector<at::Tensor> gru_train_backward(const c10::optional<at::Tensor>& grad_out_,
                                           const c10::optional<at::Tensor>& grad_h_, at::TensorList w_ih,
                                           at::TensorList w_hh, const at::Tensor& x2, at::Tensor acts, at::Tensor hn,
                                           const at::Tensor& hp, const c10::List<bool>& backwards, bool need_dx,
                                           const c10::optional<at::Tensor>& lengths_) {
  const int64_t D = static_cast<int64_t>(w_ih.size());
  TORCH_CHECK(acts.dim() == 4 && acts.size(0) == D && acts.is_contiguous() && hn.is_contiguous() && x2.dim() == 2 &&
              w_hh.size() == w_ih.size() && backwards.size() == w_ih.size(),
              "gru_train_backward: expects what gru_train_forward returned, for ", D, " direction(s); got acts ",
              acts.sizes(), ", x2 ", x2.sizes(), ", ", w_hh.size(), " w_hh and ", backwards.size(), " backwards");
  const int64_t T = acts.size(1), B = acts.size(2), H = w_hh[0].size(1), GH = 3 * H, F = x2.size(1);
  const at::Tensor lengths = checked_lengths(lengths_, B, T);
  const auto opts = acts.options();
  const at::Tensor grad_out = checked_grad_out("gru_train_backward", grad_out_, B, T, D * H);
  at::Tensor dh0 = at::zeros({D, B, H}, opts), db = at::zeros({D, 4 * H}, opts);
  const at::Tensor gh = value_or_none(grad_h_);
  if (gh.defined()) dh0.copy_(gh);
  std::vector<at::Tensor> dxs(D);  // dX per direction (summed after: the directions may run at once)
  std::vector<at::Tensor> results(2 + 4 * D);
  for (int64_t d = 0; d < D; ++d) check_weights("gru_train", 3, w_ih[d], w_hh[d], F, H, d);
  const int64_t work = B * T * 3 * H * (F + H);  // multiply-adds of the recurrence
  std::vector<at::Tensor> u(D);
  std::vector<Slots> S(D);
  std::vector<std::vector<float>> dh(D, std::vector<float>(B * H));  // slot order
  for (int64_t d = 0; d < D; ++d) {
    u[d] = w_hh[d].contiguous();  // (3H, H), read as U^T (H x 3H) column-major
    S[d] = slot_order(lengths, B, T, backwards.get(d));
    permute_rows(dh0[d].data_ptr<float>(), dh[d].data(), S[d].perm, H, false);  // the final state's gradient
  }
  ChunkSums db_parts(D, B, 4 * H);  // the chunks' bias gradients, into db[d] after them
  for_each_chunk(D, B, work, [&](int64_t d, int64_t b0, int64_t b1) {
    const Slots& Sd = S[d];
    const float* go = grad_out.defined() ? grad_out.data_ptr<float>() + d * H : nullptr;
    float *a = acts[d].data_ptr<float>(), *hnp = hn[d].data_ptr<float>(), *dhp = dh[d].data() + b0 * H;
    const float* hpp = hp[d].data_ptr<float>();
    float* dbl = db_parts.part(d, b0);
    const int64_t nb = b1 - b0;
    const int m = static_cast<int>(H), k = static_cast<int>(GH);
    const float one = 1.0f;
    for (int64_t s = T - 1; s >= 0; --s) {
      const auto [t, next, n, n_next, before] = step_rows(Sd, s, T, backwards.get(d), b0, nb);
      float* at_ = a + (t * B + b0) * GH;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t slot = b0 + i;
        gru_grad(at_ + i * GH, hnp + (t * B + slot) * H, hpp + (t * B + slot) * H,
                 go ? go + (Sd.perm[slot] * T + t) * D * H : nullptr, dhp + i * H, dbl, H);
      }
      if (n < nb) {  // padded rows: no gradient (a padded row's dh passes through)
        std::memset(at_ + n * GH, 0, (nb - n) * GH * sizeof(float));
        std::memset(hnp + (t * B + b0 + n) * H, 0, (nb - n) * H * sizeof(float));
      }
      // column-major: dh^T (H x n) += U^T (H x 3H) @ dG_h^T (3H x n)
      const int n_ = static_cast<int>(n);
      if (n > 0 && H > 0) sgemm_("N", "N", &m, &n_, &k, &one, u[d].data_ptr<float>(), &m, at_, &k, &one, dhp, &m);
    }
  });
  for (int64_t d = 0; d < D; ++d) {  // the products over all steps: after every chunk, on MKL's threads
    db_parts.add_into(d, db[d].data_ptr<float>());
    permute_rows(dh[d].data(), dh0[d].data_ptr<float>(), S[d].perm, H, true);
    const at::Tensor gh2 = acts[d].view({T * B, GH}), rz = gh2.narrow(1, 0, 2 * H), dn = hn[d].view({T * B, H});
    const at::Tensor hp2 = hp[d].view({T * B, H});
    // dW_ih = [dr, dz, dn]^T X and dW_hh = [dr, dz, dn r]^T H_prev, each made as (K, 3H) and transposed
    at::Tensor dw_ih = at::empty({GH, F}, opts);
    dw_ih.narrow(0, 0, 2 * H).copy_(at::mm(x2.t(), rz).t());
    dw_ih.narrow(0, 2 * H, H).copy_(at::mm(x2.t(), dn).t());
    at::Tensor* r = results.data() + 2 + 4 * d;
    r[0] = dw_ih;
    r[1] = at::mm(hp2.t(), gh2).t().contiguous();
    r[2] = db[d].narrow(0, 0, GH).clone();                                   // db_ih: [dr, dz, dn]
    r[3] = at::cat({db[d].narrow(0, 0, 2 * H), db[d].narrow(0, 3 * H, H)});  // db_hh: [dr, dz, dn r]
    if (need_dx)  // dX = [dr, dz] W_ih[r, z] + dn W_ih[n], in rows (t, slot)
      dxs[d] = at::mm(rz, w_ih[d].narrow(0, 0, 2 * H)).addmm_(dn, w_ih[d].narrow(0, 2 * H, H));
  }
  if (need_dx) {  // rows (t, slot) -> dx (B, T, F) in batch order
    const at::Tensor dx2 = D == 1 ? dxs[0] : dxs[0].add_(dxs[1]), dx_bt = dx2.view({T, B, F}).transpose(0, 1);
    results[0] = !lengths.defined() ? dx_bt.contiguous()
                 : at::empty({B, T, F}, opts).index_copy_(0, at::tensor(S[0].perm, at::TensorOptions().dtype(at::kLong)),
                                                          dx_bt);
  } else {
    results[0] = at::empty({0}, opts);
  }
  results[1] = dh0;
  return results;
}

// ---- SimpleRNN: h_t = act(x_t W_ih^T + b_ih + b_hh + h_{t-1} W_hh^T), act tanh or relu ----

// y = act(y) in place for n floats (the loop_math.h tanh); the saved outputs are what the backward reads
__attribute__((target_clones("avx512f", "avx2", "default")))
void activate(float* __restrict y, float* __restrict out, int64_t n, bool relu) {
  for (int64_t i = 0; i < n; ++i) {
    y[i] = relu ? (y[i] < 0.0f ? 0.0f : y[i]) : tanh_r(y[i]);  // relu keeps a NaN, as torch.relu
    out[i] = y[i];
  }
}

// One step of one row backwards: y (H) the step's output, replaced by the pre-activation gradient
// (which db accumulates); go (H) the output's gradient or null; dh (H) the gradient reaching h_t.
__attribute__((target_clones("avx512f", "avx2", "default")))
void activation_grad(float* __restrict y, const float* __restrict go, const float* __restrict dh, float* __restrict db,
                     int64_t H, bool relu) {
  for (int64_t j = 0; j < H; ++j) {
    const float d = dh[j] + (go ? go[j] : 0.0f);
    const float g = relu ? (y[j] > 0.0f ? d : 0.0f) : d * (1.0f - y[j] * y[j]);
    y[j] = g;
    db[j] += g;
  }
}

std::vector<at::Tensor> simple_rnn_train_forward(const at::Tensor& x, at::TensorList w_ih, at::TensorList w_hh,
                                                 const c10::List<c10::optional<at::Tensor>>& b_ih,
                                                 const c10::List<c10::optional<at::Tensor>>& b_hh,
                                                 const at::Tensor& h0_, const c10::List<bool>& backwards, bool relu) {
  const int64_t D = check_forward("simple_rnn_train_forward", x, w_ih, w_hh, b_ih, b_hh, backwards);
  const int64_t B = x.size(0), T = x.size(1), F = x.size(2), H = w_hh[0].size(1);
  check_states("simple_rnn_train_forward", h0_, D, B, H, "h0");
  const auto opts = x.options();
  const at::Tensor x2 = x.transpose(0, 1).contiguous().view({T * B, F}), h0 = h0_.contiguous();  // rows (t, b)
  at::Tensor out = at::empty({B, T, D * H}, opts), h_n = at::empty({D, B, H}, opts);
  at::Tensor ys = at::empty({D, T, B, H}, opts), hp = at::empty({D, T, B, H}, opts);
  for (int64_t d = 0; d < D; ++d) check_weights("simple_rnn_train", 1, w_ih[d], w_hh[d], F, H, d);
  const int64_t work = B * T * H * (F + H);  // multiply-adds of the recurrence
  std::vector<at::Tensor> wt(D);
  for (int64_t d = 0; d < D; ++d) {
    const at::Tensor bias = summed_bias(b_ih.get(d), b_hh.get(d), H, opts);
    at::Tensor y2 = ys[d].view({T * B, H});
    at::addmm_out(y2, bias, x2, w_ih[d].t());  // every step's input projection, into the kept outputs
    const at::Tensor u = w_hh[d].contiguous();
    wt[d] = at::empty({H, H}, opts);  // W_hh^T
    seqlayers_native::transpose_tiled(u.data_ptr<float>(), H, H, wt[d].data_ptr<float>());
  }
  for_each_chunk(D, B, work, [&](int64_t d, int64_t b0, int64_t b1) {  // rows b0 .. b1 - 1
    float *y = ys[d].data_ptr<float>(), *hpp = hp[d].data_ptr<float>(), *o = out.data_ptr<float>() + d * H;
    const int64_t nb = b1 - b0;
    const int m = static_cast<int>(H), n = static_cast<int>(nb);
    const float one = 1.0f;
    const bool bw = backwards.get(d);
    for (int64_t s = 0; s < T; ++s) {
      const int64_t t = bw ? T - 1 - s : s, prev = bw ? t + 1 : t - 1;
      const float* h = s == 0 ? h0[d].data_ptr<float>() + b0 * H : y + (prev * B + b0) * H;
      std::memcpy(hpp + (t * B + b0) * H, h, nb * H * sizeof(float));
      float* yt = y + (t * B + b0) * H;
      // column-major: Y_t^T (H x nb) += W_hh (wt as H x H) @ h^T (H x nb)
      if (nb > 0 && H > 0) sgemm_("N", "N", &m, &n, &m, &one, wt[d].data_ptr<float>(), &m, h, &m, &one, yt, &m);
      for (int64_t i = 0; i < nb; ++i) activate(yt + i * H, o + ((b0 + i) * T + t) * D * H, H, relu);
    }
    const float* last = T > 0 ? y + ((bw ? 0 : T - 1) * B + b0) * H : h0[d].data_ptr<float>() + b0 * H;
    std::memcpy(h_n[d].data_ptr<float>() + b0 * H, last, nb * H * sizeof(float));
  });
  return {out, h_n, x2, ys, hp};
}

// The backward pass overwrites `ys` with the pre-activation gradients (the caller runs it once).
std::vector<at::Tensor> simple_rnn_train_backward(const c10::optional<at::Tensor>& grad_out_,
                                                  const c10::optional<at::Tensor>& grad_h_, at::TensorList w_ih,
                                                  at::TensorList w_hh, const at::Tensor& x2, at::Tensor ys,
                                                  const at::Tensor& hp, const c10::List<bool>& backwards, bool relu,
                                                  bool need_dx) {
  const int64_t D = static_cast<int64_t>(w_ih.size());
  TORCH_CHECK(ys.dim() == 4 && ys.size(0) == D && ys.is_contiguous() && x2.dim() == 2 && w_hh.size() == w_ih.size() &&
              backwards.size() == w_ih.size(),
              "simple_rnn_train_backward: expects what simple_rnn_train_forward returned, for ", D,
              " direction(s); got ys ", ys.sizes(), ", x2 ", x2.sizes(), ", ", w_hh.size(), " w_hh");
  const int64_t T = ys.size(1), B = ys.size(2), H = ys.size(3), F = x2.size(1);
  const auto opts = ys.options();
  const at::Tensor grad_out = checked_grad_out("simple_rnn_train_backward", grad_out_, B, T, D * H);
  at::Tensor dh = at::zeros({D, B, H}, opts), db = at::zeros({D, H}, opts);
  const at::Tensor gh = value_or_none(grad_h_);
  if (gh.defined()) dh.copy_(gh);
  std::vector<at::Tensor> dxs(D);  // dX per direction (summed after: the directions may run at once)
  std::vector<at::Tensor> results(2 + 3 * D);
  const int64_t work = B * T * H * (F + H);  // multiply-adds of the recurrence
  std::vector<at::Tensor> u(D);
  for (int64_t d = 0; d < D; ++d) u[d] = w_hh[d].contiguous();  // (H, H), read as W_hh^T column-major
  ChunkSums db_parts(D, B, H);  // the chunks' bias gradients, into db[d] after them
  for_each_chunk(D, B, work, [&](int64_t d, int64_t b0, int64_t b1) {  // rows b0 .. b1 - 1
    const float* go = grad_out.defined() ? grad_out.data_ptr<float>() + d * H : nullptr;
    float *y = ys[d].data_ptr<float>(), *dhp = dh[d].data_ptr<float>() + b0 * H;
    float* dbl = db_parts.part(d, b0);
    const int64_t nb = b1 - b0;
    const int m = static_cast<int>(H), n = static_cast<int>(nb);
    const float one = 1.0f, zero = 0.0f;
    for (int64_t s = T - 1; s >= 0; --s) {
      const int64_t t = backwards.get(d) ? T - 1 - s : s;
      float* yt = y + (t * B + b0) * H;
      for (int64_t i = 0; i < nb; ++i)
        activation_grad(yt + i * H, go ? go + ((b0 + i) * T + t) * D * H : nullptr, dhp + i * H, dbl, H, relu);
      // column-major: dh^T (H x nb) = W_hh^T (H x H) @ dY_t^T (H x nb)
      if (nb > 0 && H > 0) sgemm_("N", "N", &m, &n, &m, &one, u[d].data_ptr<float>(), &m, yt, &m, &zero, dhp, &m);
    }
  });
  for (int64_t d = 0; d < D; ++d) {  // the products over all steps: after every chunk, on MKL's threads
    db_parts.add_into(d, db[d].data_ptr<float>());
    const at::Tensor g2 = ys[d].view({T * B, H});
    at::Tensor* r = results.data() + 2 + 3 * d;
    r[0] = at::mm(x2.t(), g2).t().contiguous();                      // dW_ih (H, F)
    r[1] = at::mm(hp[d].view({T * B, H}).t(), g2).t().contiguous();  // dW_hh (H, H)
    r[2] = db[d];                                                    // db (H,): b_ih's and b_hh's
    if (need_dx) dxs[d] = at::mm(g2, w_ih[d]);
  }
  const at::Tensor dx2 = !need_dx ? at::Tensor() : D == 1 ? dxs[0] : dxs[0].add_(dxs[1]);
  results[0] = need_dx ? dx2.view({T, B, F}).transpose(0, 1).contiguous() : at::empty({0}, opts);
  results[1] = dh;
  return results;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(seqlayers_native, m) {
  m.def("lstm_train_forward(Tensor x, Tensor[] w_ih, Tensor[] w_hh, Tensor?[] b_ih, Tensor?[] b_hh, Tensor h0, "
        "Tensor c0, bool[] backwards, Tensor? lengths=None) -> Tensor[]");
  m.def("lstm_train_backward(Tensor? grad_out, Tensor? grad_h, Tensor? grad_c, Tensor[] w_ih, Tensor[] w_hh, "
        "Tensor c0, Tensor(a!) acts, Tensor cs, Tensor tcs, Tensor xh, bool[] backwards, bool need_dx, "
        "bool repeated=False, Tensor? lengths=None) -> Tensor[]");
  m.def("gru_train_forward(Tensor x, Tensor[] w_ih, Tensor[] w_hh, Tensor?[] b_ih, Tensor?[] b_hh, Tensor h0, "
        "bool[] backwards, Tensor? lengths=None) -> Tensor[]");
  m.def("gru_train_backward(Tensor? grad_out, Tensor? grad_h, Tensor[] w_ih, Tensor[] w_hh, Tensor x2, "
        "Tensor(a!) acts, Tensor(b!) hn, Tensor hp, bool[] backwards, bool need_dx, Tensor? lengths=None) -> Tensor[]");
  m.def("simple_rnn_train_forward(Tensor x, Tensor[] w_ih, Tensor[] w_hh, Tensor?[] b_ih, Tensor?[] b_hh, "
        "Tensor h0, bool[] backwards, bool relu) -> Tensor[]");
  m.def("simple_rnn_train_backward(Tensor? grad_out, Tensor? grad_h, Tensor[] w_ih, Tensor[] w_hh, Tensor x2, "
        "Tensor(a!) ys, Tensor hp, bool[] backwards, bool relu, bool need_dx) -> Tensor[]");
}

TORCH_LIBRARY_IMPL(seqlayers_native, CPU, m) {
  m.impl("lstm_train_forward", &lstm_train_forward);
  m.impl("lstm_train_backward", &lstm_train_backward);
  m.impl("gru_train_forward", &gru_train_forward);
  m.impl("gru_train_backward", &gru_train_backward);
  m.impl("simple_rnn_train_forward", &simple_rnn_train_forward);
  m.impl("simple_rnn_train_backward", &simple_rnn_train_backward);
}
