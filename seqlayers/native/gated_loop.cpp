// LSTM and GRU inference on CPU, float32: per step, the input projection and the recurrent product
// of the valid rows into one cache-warm gate buffer, then the gates fused in one vectorised pass (or,
// on AVX-512 for an LSTM or GRU reset_after small enough, products and gates in one pass: lstm_fused,
// gru_fused, no gate buffer), the output written straight into the batch-first output.
//
// Registered as torch.ops.seqlayers_native.gated_rnn_forward(x, kind, w_ih, w_hh, b_ih, b_hh, h0, c0,
// mask, backwards, time_order, zero_output, return_sequences, blas_only) -> Tensor[]:
//   x        (B, T, F) float32
//   kind     0: LSTM (torch gate order i, f, g, o), 1: GRU reset_after (r, z, n; cuDNN's and Keras 3's
//            default), 2: GRU reset_before (the original GRU: n = tanh(x W_n + b_n + (r * h) U_n))
//   w_ih, w_hh, b_ih, b_hh, h0, c0, backwards, time_order: one entry per direction (D = 1 or 2), torch's
//            layout: w_ih (G*H, F), w_hh (G*H, H), biases (G*H,) or None, states (B, H) or None (zeros);
//            c0 only for the LSTM. GRU reset_before has one bias (b_ih) and b_hh None.
//   mask     (B, T) bool or None: Keras's semantics (processing order = reversed input for a backward
//            direction): a masked step keeps the states and outputs the previous output (zeros before
//            the first valid step), or zeros with zero_output. The recurrent product runs over the
//            active rows only, so a padded step costs (almost) nothing.
//   returns  [out (B, T, D*H) (direction d in columns d*H..(d+1)*H; processing order, or time order
//            where time_order[d]) or an empty tensor without return_sequences, then per direction
//            last (B, H) (the output of the last processed step), h (B, H)(, c (B, H) for the LSTM)]
//
// Per step and direction, for the active rows: on AVX-512 CPUs an LSTM with F + H <= 160 runs
// lstm_fused, [x_t, h] @ [W_ih; W_hh]^T and the cell update in one pass per 16 units (no gate
// buffer), a GRU (reset_after) with F + H <= 213 gru_fused, the same for its gates (for an input
// repeated in time, whose projection is made once, H alone counts: `fusable`). Otherwise the
// LSTM's [x_t, h] @ [W_ih; W_hh]^T as one product into a (rows, G*H) buffer; the GRU's x_t @ W_ih^T
// there and h @ W_hh^T into a second buffer (its reset gate multiplies it) (the hand-written AVX-512
// kernel of loop_math.h for a single row, else MKL's sgemm), then one vectorised pass over H adding
// the biases and computing every gate, the new state and the output.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <string>
#include <vector>

#include "head.h"
#include "loop_math.h"

namespace {

using seqlayers_native::Head;
using seqlayers_native::head_rows;
using seqlayers_native::recurrent_avx512;
using seqlayers_native::recurrent_sgemm;
using seqlayers_native::plus16;
using seqlayers_native::sigmoid_r;
using seqlayers_native::tanh_r;

enum Kind : int64_t { kLSTM = 0, kGRU = 1, kGRUResetBefore = 2 };

// The LSTM's cell update of 16 units at column j from their pre-activations (biases in) pi, pf, pg,
// po: c updated in place, the new h stored into hn and (unless null) out. What the gate pass
// (lstm16) and lstm_fused's cell update (lstm_cell16) share.
__attribute__((target("avx512f"), always_inline)) inline void lstm_update16(__m512 pi, __m512 pf, __m512 pg, __m512 po,
                                                                         float* c, float* hn, float* out, int64_t j,
                                                                         __mmask16 m) {
  const __m512 i = seqlayers_native::sigmoid16(pi), f = seqlayers_native::sigmoid16(pf);
  const __m512 n = seqlayers_native::tanh16(pg), o = seqlayers_native::sigmoid16(po);
  const __m512 cj = _mm512_fmadd_ps(f, _mm512_maskz_loadu_ps(m, c + j), _mm512_mul_ps(i, n));
  _mm512_mask_storeu_ps(c + j, m, cj);
  const __m512 hj = _mm512_mul_ps(o, seqlayers_native::tanh16(cj));
  _mm512_mask_storeu_ps(hn + j, m, hj);
  if (out) _mm512_mask_storeu_ps(out + j, m, hj);
}

// The GRU's (reset_after) update of 16 units at column j from r's and z's pre-activations (both
// parts and biases in), n's input part xn and recurrent part hn_pre (n = tanh(xn + r hn_pre)): the
// new h = z h + (1 - z) n from h (read at j), stored into hn (may be h) and out unless null.
__attribute__((target("avx512f"), always_inline)) inline void gru_update16(__m512 pr, __m512 pz, __m512 xn,
                                                                        __m512 hn_pre, const float* h, float* hn,
                                                                        float* out, int64_t j, __mmask16 m) {
  const __m512 r = seqlayers_native::sigmoid16(pr), z = seqlayers_native::sigmoid16(pz);
  const __m512 n = seqlayers_native::tanh16(_mm512_fmadd_ps(r, hn_pre, xn));
  const __m512 hj = _mm512_fmadd_ps(z, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, h + j), n), n);  // z h + (1 - z) n
  _mm512_mask_storeu_ps(hn + j, m, hj);
  if (out) _mm512_mask_storeu_ps(out + j, m, hj);
}

// One LSTM unit block of 16 at column j of a row: gates g (4H) plus their bias b (4H), c and h (H)
// updated in place, h also stored into out (the output sequence's row) unless null.
__attribute__((target("avx512f"), always_inline)) inline void lstm16(const float* g, const float* b, float* c,
                                                                    float* h, float* out, int64_t H, int64_t j) {
  const __mmask16 m = seqlayers_native::tail_mask(H - j);
  lstm_update16(plus16(m, g, b, j), plus16(m, g, b, H + j), plus16(m, g, b, 2 * H + j), plus16(m, g, b, 3 * H + j),
                c, h, out, j, m);
}

// g + b (4H): the step's gate pre-activations (i, f, g, o); c, h (H) updated in place. Two blocks per
// iteration: the polynomials are chains of dependent FMAs, and two independent ones keep both FMA
// ports busy (one at a time, the pass was latency-bound).
__attribute__((target("avx512f")))
void lstm_gates_avx512(const float* g, const float* b, float* c, float* h, float* out, int64_t H) {
  int64_t j = 0;
  for (; j + 16 < H; j += 32) {
    lstm16(g, b, c, h, out, H, j);
    lstm16(g, b, c, h, out, H, j + 16);
  }
  if (j < H) lstm16(g, b, c, h, out, H, j);
}

// xw + bx (3H): x W + b_ih (r, z, n); hw + bh (3H): h U + b_hh; h (H) updated in place (and stored
// into out unless null).
__attribute__((target("avx512f")))
void gru_gates_avx512(const float* xw, const float* bx, const float* hw, const float* bh, float* h, float* out,
                      int64_t H) {
  for (int64_t j = 0; j < H; j += 16) {
    const __mmask16 m = seqlayers_native::tail_mask(H - j);
    const __m512 xr = plus16(m, xw, bx, j), hr = plus16(m, hw, bh, j);
    const __m512 xz = plus16(m, xw, bx, H + j), hz = plus16(m, hw, bh, H + j);
    const __m512 xn = plus16(m, xw, bx, 2 * H + j), hn = plus16(m, hw, bh, 2 * H + j);
    gru_update16(_mm512_add_ps(xr, hr), _mm512_add_ps(xz, hz), xn, hn, h, h, out, j, m);
  }
}

const bool kAVX512 = __builtin_cpu_supports("avx512f");

// The LSTM's product and gates in one pass (B > 1 as well as a stream's single row): the weights
// [W_ih^T; W_hh^T] packed by unit blocks (pack_unit_panels), so that a 64-column panel holds the
// four gates (i, f, g, o) of 16 units; R rows' pre-activations for them accumulate in 4R zmm
// registers, go through a small L1 tile to the cell update, and the gate buffer (W1: 128 KiB per
// step, written by sgemm and read back by the gate pass) never exists. The new h goes to hn
// (another buffer than a's rows, which the other unit blocks still read), c is updated in place.
// W1's op (64 rows, K = 136, `python -m benchmarks.native_ab`): 0.955x of sgemm + the gate pass. The
// cell update's arithmetic (3 sigmoids and 2 tanh per unit, both FMA ports busy, ~10 us of a ~60 us
// step) costs the same in either place: the saving is the buffer's traffic and sgemm's overhead.
struct LstmStep {
  const float* const* a;     // a[r]: the row [x_t, h] (K floats; or h alone after a repeated input's projection)
  const float* const* init;  // init[r]: the row's precomputed projection (4H, torch's gate order) to start
                             // from, or null: start from the bias
  const float* bias;         // (4H) b_ih + b_hh, or zeros
  float* const* c;           // c[r] (H), updated in place
  float* const* hn;          // hn[r] (H): the new h
  float* const* out;         // out[r] (H): the new h once more (the output sequence's row), or null
  int64_t H;
};

// The R rows of a tile through `cell` (the cell update of lstm_rows / gru_rows), two at a time
// (independent chains for both FMA ports)
template <int R, typename Cell>
__attribute__((target("avx512f"), always_inline)) inline void tile_rows(const Cell& cell) {
  int r = 0;
  for (; r + 1 < R; r += 2) cell(r), cell(r + 1);
  if (r < R) cell(r);
}

// The cell update of 16 units u0.. of one row from its pre-activations g = [i, f, g, o] (16 each,
// the biases in): c updated, h stored into hn (and out unless null).
__attribute__((target("avx512f"), always_inline)) inline void lstm_cell16(const float* g, float* c, float* hn,
                                                                       float* out, int64_t u0, __mmask16 m) {
  lstm_update16(_mm512_load_ps(g), _mm512_load_ps(g + 16), _mm512_load_ps(g + 32), _mm512_load_ps(g + 48), c,
                hn, out, u0, m);
}

// Rows b .. b+R of the panel of units u0 .. u0+16 (K rows of 64 floats): the pre-activations
// from init (or the bias) plus a @ panel in 4R accumulators, then the cell update.
template <int R>
__attribute__((target("avx512f")))
void lstm_rows(const LstmStep& S, int64_t b, const float* panel, int64_t K, int64_t u0) {
  const int64_t H = S.H;
  const __mmask16 m = seqlayers_native::tail_mask(H - u0);
  __m512 acc[R][4];
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < 4; ++q)
      acc[r][q] = _mm512_maskz_loadu_ps(m, (S.init ? S.init[b + r] : S.bias) + q * H + u0);
  seqlayers_native::panel_product<R, 4>(acc, S.a + b, panel, K);
  // the cell update from a copy of the accumulators in L1, two rows at a time (straight from the 4R
  // registers, which the compiler spilled, it cost the same: 14.4 against 14.6 us of a W1 step in a
  // C++ driver of these kernels)
  alignas(64) float tile[R][64];
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < 4; ++q) _mm512_store_ps(tile[r] + 16 * q, acc[r][q]);
  tile_rows<R>([&](int r) __attribute__((always_inline, target("avx512f"))) {
    lstm_cell16(tile[r], S.c[b + r], S.hn[b + r], S.out[b + r], u0, m);
  });
}

constexpr int64_t kMaxFusedK = 160;

// An LSTM of F features and H units runs lstm_fused (where the hand-written kernels run at all):
// [x_t, h] of at most kMaxFusedK floats. Past that the panel leaves L1 and MKL's sgemm plus the gate
// pass was faster (W2's F + H = 228: 1.05-1.07x of it).
inline bool lstm_fusable(int64_t F, int64_t H) { return F + H <= kMaxFusedK; }

// One step of n rows: every unit block's panel in turn (at most kMaxFusedK x 64 floats, 40 KiB: it
// stays in L1 while the rows pass over it), the rows in groups of up to 6 of balanced sizes (8 rows
// as 4 + 4, not 6 + 2: loop_math.h's row_groups).
void lstm_fused(const LstmStep& S, int64_t n, const float* panel, int64_t stride, int64_t K) {
  for (int64_t u0 = 0; u0 < S.H; u0 += 16, panel += stride)
    seqlayers_native::row_groups(n, [&](auto R, int64_t b) { lstm_rows<decltype(R)::value>(S, b, panel, K, u0); });
}

// The GRU's (reset_after) step in one pass, as lstm_fused: per 16 units, a panel of 48 columns [r,
// z, n] over the F rows of W_ih^T then the H rows of W_hh^T (pack_unit_panels, G = 3); R rows accumulate r
// and z over both, n's input part (xn) over x_t and its recurrent part (hn) over h in 4R zmm
// registers, then the update n = tanh(xn + r * hn), h' = n + z (h - n) from an L1 tile.
struct GruStep {
  const float* const* x;     // x[r]: x_t (F floats), or null after a repeated input's projection
  const float* const* h;     // h[r]: the state (H floats)
  const float* const* init;  // init[r]: a repeated input's x W_ih^T + b_ih (3H), or null
  const float* bias;         // (4H) the accumulators' start: [b_ir + b_hr, b_iz + b_hz, b_in, b_hn],
                             // or with init [b_hr, b_hz, 0, b_hn]
  float* const* hn;          // hn[r] (H): the new h
  float* const* out;         // out[r] (H): the new h once more, or null
  int64_t F, H;
  int64_t Kh;                // h's rows of the product: H, or 0 from a zero state (Loop::h_zero)
};

__attribute__((target("avx512f"), always_inline)) inline void gru_cell16(const float* g, const float* h, float* hn,
                                                                      float* out, int64_t u0, __mmask16 m) {
  gru_update16(_mm512_load_ps(g), _mm512_load_ps(g + 16), _mm512_load_ps(g + 32), _mm512_load_ps(g + 48), h,
               hn, out, u0, m);
}

// acc[r][0] (r), acc[r][1] (z) and acc[r][N] (N = 2: n's input part, 3: its recurrent part) +=
// v[r] (K floats) @ K rows of a unit block's 48-column GRU panel
template <int R, int N>
__attribute__((target("avx512f"), always_inline)) inline void gru_part(__m512 (&acc)[R][4], const float* const* v,
                                                                      const float* panel, int64_t K) {
  for (int64_t k = 0; k < K; ++k) {
    const float* wk = panel + k * 48;
    const __m512 w0 = _mm512_loadu_ps(wk), w1 = _mm512_loadu_ps(wk + 16), w2 = _mm512_loadu_ps(wk + 32);
    for (int r = 0; r < R; ++r) {
      const __m512 x = _mm512_set1_ps(v[r][k]);
      acc[r][0] = _mm512_fmadd_ps(x, w0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(x, w1, acc[r][1]);
      acc[r][N] = _mm512_fmadd_ps(x, w2, acc[r][N]);
    }
  }
}

template <int R>
__attribute__((target("avx512f")))
void gru_rows(const GruStep& S, int64_t b, const float* panel, int64_t u0) {
  const int64_t F = S.x ? S.F : 0, H = S.H;
  const __mmask16 m = seqlayers_native::tail_mask(H - u0);
  __m512 acc[R][4];
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < 4; ++q) {
      acc[r][q] = _mm512_maskz_loadu_ps(m, S.bias + q * H + u0);
      if (S.init && q < 3) acc[r][q] = _mm512_add_ps(acc[r][q], _mm512_maskz_loadu_ps(m, S.init[b + r] + q * H + u0));
    }
  if (F > 0) gru_part<R, 2>(acc, S.x + b, panel, F);  // x_t's part: r, z and xn
  gru_part<R, 3>(acc, S.h + b, panel + F * 48, S.Kh);  // h's part: r, z and hn
  alignas(64) float tile[R][64];  // through L1, as lstm_rows
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < 4; ++q) _mm512_store_ps(tile[r] + 16 * q, acc[r][q]);
  tile_rows<R>([&](int r) __attribute__((always_inline, target("avx512f"))) {
    gru_cell16(tile[r], S.h[b + r], S.hn[b + r], S.out[b + r], u0, m);
  });
}

// A GRU (reset_after) of F features and H units runs gru_fused where the hand-written kernels run:
// its unit block's panel, (F + H) x 48 floats, within lstm_fused's budget (kMaxFusedK x 64).
inline bool gru_fusable(int64_t F, int64_t H) { return (F + H) * 48 <= kMaxFusedK * 64; }

// Whether a layer's steps run lstm_fused / gru_fused, where Fp is the number of input rows its panels
// hold: F, or 0 for an input repeated in time (its projection is made once, the panels hold W_hh^T
// only: W3's decoder, F = H = 128, runs them with K = 128, where it had run MKL's sgemm over h and
// the gate pass: own / sgemm 0.97-0.99x on its op, benchmarks.native_ab)
inline bool fusable(int64_t kind, int64_t Fp, int64_t H) {
  return (kind == kLSTM && lstm_fusable(Fp, H)) || (kind == kGRU && gru_fusable(Fp, H));
}

void gru_fused(const GruStep& S, int64_t n, const float* panel) {
  const int64_t stride = (S.F + S.H) * 48;
  for (int64_t u0 = 0; u0 < S.H; u0 += 16, panel += stride)
    seqlayers_native::row_groups(n, [&](auto R, int64_t b) { gru_rows<decltype(R)::value>(S, b, panel, u0); });
}

// The unit-block panels of lstm_fused (G = 4) and gru_fused (G = 3), packed straight from w_ih
// (G*H, F) and w_hh (G*H, H): the block of units 16p .. 16p+15 holds Fp + H rows (Fp = F, or 0 for
// an input repeated in time, whose projection is made apart), row k = input k's weights into gate
// 0's units 16p .., then gate 1's, ... (16 each, zeros past H): [W_ih^T; W_hh^T]'s columns of those
// units, read from the weights by 16 x 16 register transposes (no transposed copy of the weights first:
// making and re-reading one had taken ~50 of a W3 encoder call's ~160 us of fixed cost).
inline int64_t unit_packed_size(int64_t K, int64_t H, int64_t G) { return (H + 15) / 16 * K * 16 * G; }

// dst[k * ld + j] = src[j * lds + k] for j < nj, k < nk; zeros for nj <= j < 16
__attribute__((target("avx512f")))
void transpose_rows16(const float* src, int64_t lds, int64_t nj, int64_t nk, float* dst, int64_t ld) {
  int64_t k0 = 0;
  if (nj == 16)
    for (; k0 + 16 <= nk; k0 += 16) seqlayers_native::transpose16(src + k0, lds, dst + k0 * ld, ld);
  for (int64_t k = k0; k < nk; ++k)
    for (int64_t j = 0; j < 16; ++j) dst[k * ld + j] = j < nj ? src[j * lds + k] : 0.0f;
}

void pack_unit_panels(const float* w_ih, int64_t F, int64_t Fp, const float* w_hh, int64_t H, int64_t G, float* dst) {
  const int64_t ld = 16 * G;
  for (int64_t u0 = 0; u0 < H; u0 += 16, dst += (Fp + H) * ld) {
    const int64_t nj = std::min<int64_t>(16, H - u0);
    for (int64_t q = 0; q < G; ++q) {
      if (Fp) transpose_rows16(w_ih + (q * H + u0) * F, F, nj, F, dst + 16 * q, ld);
      transpose_rows16(w_hh + (q * H + u0) * H, H, nj, H, dst + Fp * ld + 16 * q, ld);
    }
  }
}

__attribute__((target("avx512f")))
void activation16(const float* x, float* o, int64_t rem, bool sigmoid) {
  const __mmask16 m = seqlayers_native::tail_mask(rem);
  const __m512 v = _mm512_maskz_loadu_ps(m, x);
  _mm512_mask_storeu_ps(o, m, sigmoid ? seqlayers_native::sigmoid16(v) : seqlayers_native::tanh16(v));
}

__attribute__((target_clones("avx2", "default")))
void lstm_gates_scalar(const float* g, const float* b, float* c, float* h, float* out, int64_t H) {
  for (int64_t j = 0; j < H; ++j) {
    const float i = sigmoid_r(g[j] + b[j]), f = sigmoid_r(g[H + j] + b[H + j]), n = tanh_r(g[2 * H + j] + b[2 * H + j]),
                o = sigmoid_r(g[3 * H + j] + b[3 * H + j]);
    const float cj = f * c[j] + i * n;
    c[j] = cj;
    h[j] = o * tanh_r(cj);
  }
  if (out) std::memcpy(out, h, H * sizeof(float));
}

void lstm_gates(const float* g, const float* b, float* c, float* h, float* out, int64_t H) {
  if (kAVX512) lstm_gates_avx512(g, b, c, h, out, H); else lstm_gates_scalar(g, b, c, h, out, H);
}

__attribute__((target_clones("avx2", "default")))
void gru_gates_scalar(const float* xw, const float* bx, const float* hw, const float* bh, float* h, float* out,
                      int64_t H) {
  for (int64_t j = 0; j < H; ++j) {
    const float r = sigmoid_r((xw[j] + bx[j]) + (hw[j] + bh[j]));
    const float z = sigmoid_r((xw[H + j] + bx[H + j]) + (hw[H + j] + bh[H + j]));
    const float n = tanh_r((xw[2 * H + j] + bx[2 * H + j]) + r * (hw[2 * H + j] + bh[2 * H + j]));
    h[j] = z * h[j] + (1.0f - z) * n;
  }
  if (out) std::memcpy(out, h, H * sizeof(float));
}

void gru_gates(const float* xw, const float* bx, const float* hw, const float* bh, float* h, float* out, int64_t H) {
  if (kAVX512) gru_gates_avx512(xw, bx, hw, bh, h, out, H); else gru_gates_scalar(xw, bx, hw, bh, h, out, H);
}

// reset_before, first half: g (3H) holds x W + b + [h U_r, h U_z, 0]: r, z in place; rh = r * h.
__attribute__((target_clones("avx512f", "avx2", "default")))
void gru_rz(float* g, const float* h, float* rh, int64_t H) {
  for (int64_t j = 0; j < H; ++j) {
    const float r = sigmoid_r(g[j]);
    g[H + j] = sigmoid_r(g[H + j]);
    rh[j] = r * h[j];
  }
}

// reset_before, second half: g[2H..3H) now holds x W_n + b_n + (r h) U_n.
__attribute__((target_clones("avx512f", "avx2", "default")))
void gru_update(const float* g, float* h, int64_t H) {
  for (int64_t j = 0; j < H; ++j) {
    const float z = g[H + j], n = tanh_r(g[2 * H + j]);
    h[j] = z * h[j] + (1.0f - z) * n;
  }
}

constexpr int64_t kMaxOwnWidth = 4096;  // G*H up to this: the AVX-512 kernel (W_hh^T of H=1024 LSTM = 16 MiB is not)
constexpr int64_t kMaxOwnWorkThreaded = int64_t(1) << 23;
// Up to this many rows the hand-written product (not lstm_fused) beats MKL's sgemm: since the products overwrite
// their buffers (beta 0), only a single row does (LSTM(128), T=100, F=8, whole call, own / sgemm,
// alternated in one process: B=1 0.94x, GRU B=1 0.90x; B=2 1.18x, 4 1.02x, 8 1.17x, 24 1.04x,
// 64 1.03x, where sgemm against itself, alternated the same way, reads 1.02-1.04x: the order's bias;
// it was 24 rows before, when both accumulated into a bias-filled buffer)
constexpr int64_t kMaxOwnRows = 1;
constexpr int64_t kMaxOwnFloats = int64_t(384) * 1024;  // 1.5 MiB of packed weights

struct Loop {  // one direction's run
  int64_t kind, B, T, F, H, G;
  const float* x;       // (B, T, F)
  const float* wit;     // (F, G*H): W_ih^T (MKL's path)
  const float* b_in;    // (G*H): the bias joining the input projection (LSTM b_ih + b_hh, GRU b_ih), or null
  const float* wt;      // (H, G*H): W_hh^T (MKL's path)
  const seqlayers_native::Packed* pw;  // W_ih^T, W_hh^T packed (see Prepared)
  const float* b_hh;    // (G*H) GRU reset_after's recurrent bias, or null
  float* h;             // the state (B rows of H, ld_h apart; the output at valid steps)
  float* h2;            // the second state buffer (as h) lstm_fused / gru_fused write a step's new h into, or null
  int64_t ld_h;         // H, or the LSTM's padded rows [x_t, h] (see run_direction)
  float* c;             // (B, H) the LSTM's cell, or null
  float* out;           // the output sequence's first column for this direction, or null
  int64_t ld_out;       // floats between time steps of the output (D*H)
  float* last;          // (B, H)
  const bool* mask;     // (B, T) or null
  bool backwards, time_order, zero_output, own_kernel;
  Head head;            // a following Dense computed in the fused steps (its y in place of out, then null)
  const float* xproj;   // (B, G*H) b_in + x_0 @ W_ih^T when every step's input is the same (a RepeatVector), or null
  bool h_zero;          // the state starts at zero (no h0 given): the first step's product skips h (h @ W_hh^T = 0)
};

// o[i] (N of its floats) += a[i] (K floats) @ w (K x N, row stride G*H), for the n rows given, or
// with accumulate false o[i] = a[i] @ w (o not read: the biases join in the gate pass instead of
// being copied into o first, which wrote W1's 128 KiB gate buffer once more per step);
// `which` names w's packed copy (0: W_ih^T, 1: W_hh^T or [U_r, U_z]^T, 2: U_n^T; -1: none).
void product(const Loop& L, int64_t n, const float* const* a, int64_t K, const float* w, int64_t N,
             float* const* o, int which, std::vector<float>& scratch, bool accumulate = true) {
  if (L.own_kernel && which >= 0 && n <= kMaxOwnRows) recurrent_avx512(n, a, L.pw[which], o, accumulate);
  else recurrent_sgemm(n, a, w, K, N, L.G * L.H, o, scratch, accumulate);
}

// One step's input projection of the n active rows: gr[i] = x_t @ W_ih^T (+ b_in with bias_in_buffer;
// the precomputed b_in + x_0 @ W_ih^T of a repeated input). The input projection is done here, step by step, on
// the cache-warm (n, G*H) buffer: one GEMM over all steps first wrote and re-read a (T, B, G*H)
// buffer (13 MB on W1), which cost more than the products themselves.
void project(const Loop& L, int64_t n, int64_t t, const int64_t* rows, float* const* gr,
             std::vector<const float*>& xr, std::vector<float>& scratch, bool bias_in_buffer) {
  const int64_t GH = L.G * L.H;
  if (L.xproj) {  // the same input at every step: its projection was made once
    for (int64_t i = 0; i < n; ++i) std::memcpy(gr[i], L.xproj + rows[i] * GH, GH * sizeof(float));
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    if (bias_in_buffer && L.b_in) std::memcpy(gr[i], L.b_in, GH * sizeof(float));
    else if (bias_in_buffer) std::memset(gr[i], 0, GH * sizeof(float));
    xr[i] = L.x + (rows[i] * L.T + t) * L.F;
  }
  product(L, n, xr.data(), L.F, L.wit, GH, gr, 0, scratch, bias_in_buffer);
}

// Whether this run's steps go through lstm_fused or gru_fused (their packed panels are there).
bool runs_fused(const Loop& L) {
  return L.own_kernel && fusable(L.kind, L.xproj ? 0 : L.F, L.H);
}

// The per-row pointers lstm_fused / gru_fused take, one entry per active row, and the GRU's
// accumulator start (GruStep::bias).
struct FusedRows {
  std::vector<const float*> a, h, init;
  std::vector<float*> c, hn, out, y;  // y: the head's output rows of the step
  seqlayers_native::Floats gru_bias;
  FusedRows(const Loop& L, int64_t B) : a(B), h(B), init(B), c(B), hn(B), out(B), y(L.head.y ? B : 0) {
    if (B == 0 || L.kind != kGRU) return;
    const int64_t H = L.H;  // [b_ir + b_hr, b_iz + b_hz, b_in, b_hn]; a repeated input's projection holds b_ih
    gru_bias.assign(4 * H, 0.0f);
    for (int64_t j = 0; j < 3 * H; ++j) {
      const float bi = L.b_in && !L.xproj ? L.b_in[j] : 0.0f, bh = L.b_hh ? L.b_hh[j] : 0.0f;
      if (j < 2 * H) gru_bias[j] = bi + bh;
      else gru_bias[j] = bi, gru_bias[j + H] = bh;
    }
  }
};

// One LSTM step of the n active rows through lstm_fused (`bias`: b_ih + b_hh, or zeros): x_t copied
// into each row [x_t, h] of `state` (unless a repeated input's projection starts the gates), the new
// h written into `next`.
template <typename OutRow>
void lstm_step(const Loop& L, int64_t n, int64_t t, const int64_t* rows, const float* bias, float* state, float* next,
               FusedRows& R, const OutRow& out_row, bool skip_h) {
  const int64_t F = L.F, H = L.H;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t b = rows[i];
    float* row = state + b * L.ld_h;  // the row's h; its x_t in the F floats before
    if (L.xproj) {
      R.a[i] = row;
      R.init[i] = L.xproj + b * 4 * H;
    } else {
      std::memcpy(row - F, L.x + (b * L.T + t) * F, F * sizeof(float));
      R.a[i] = row - F;
    }
    R.c[i] = L.c + b * H;
    R.hn[i] = next + b * L.ld_h;
    R.out[i] = out_row(b);
  }
  const seqlayers_native::Packed& w = L.pw[1];  // (F + H) x 64 per panel (H x 64 after a repeated input's projection)
  const LstmStep S{R.a.data(), L.xproj ? R.init.data() : nullptr, bias, R.c.data(), R.hn.data(), R.out.data(), H};
  lstm_fused(S, n, w.data, w.K * seqlayers_native::kPanel, skip_h ? w.K - H : w.K);  // [x_t] or [x_t, h] rows
}

// One step of the n active rows through lstm_fused or gru_fused, from `state` into `next`; then the
// rows without work this step (a mask's) keep their state in `next` too, and the two swap.
template <typename OutRow>
void fused_step(const Loop& L, int64_t n, int64_t t, int64_t pos, const int64_t* rows, const float* bias,
                float*& state, float*& next, FusedRows& R, const OutRow& out_row, bool skip_h) {
  if (L.kind == kLSTM) {
    lstm_step(L, n, t, rows, bias, state, next, R, out_row, skip_h);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t b = rows[i];
      R.a[i] = L.x + (b * L.T + t) * L.F;
      R.h[i] = state + b * L.ld_h;
      R.init[i] = L.xproj ? L.xproj + b * 3 * L.H : nullptr;
      R.hn[i] = next + b * L.ld_h;
      R.out[i] = out_row(b);
    }
    const GruStep S{L.xproj ? nullptr : R.a.data(), R.h.data(), L.xproj ? R.init.data() : nullptr,
                    R.gru_bias.data(), R.hn.data(), R.out.data(), L.xproj ? 0 : L.F, L.H, skip_h ? 0 : L.H};
    gru_fused(S, n, L.pw[1].data);
  }
  if (L.head.y) {  // the Dense's outputs of the step, from the new h rows
    for (int64_t i = 0; i < n; ++i) R.y[i] = L.head.y + (rows[i] * L.T + pos) * L.head.U;
    head_rows(L.head, L.H, n, R.hn.data(), R.y.data());
  }
  if (L.mask)
    for (int64_t b = 0, i = 0; b < L.B; ++b) {
      if (i < n && rows[i] == b) { ++i; continue; }
      std::memcpy(next + b * L.ld_h, state + b * L.ld_h, L.H * sizeof(float));
    }
  std::swap(state, next);
}

// Which loop the last run took (last_loop(), for tests and benchmarks: a kernel silently not chosen
// gives the same values through another path, so only this can tell).
enum LoopTaken : int { kNone = 0, kGatePass = 1, kLstmFused = 2, kGruFused = 3 };
std::atomic<int> g_last_loop{kNone};

void run_loop(const Loop& L) {
  const int64_t B = L.B, T = L.T, H = L.H, GH = L.G * L.H;
  std::vector<int64_t> rows(B);
  std::vector<const float*> hr(B), xr(B);
  std::vector<float*> gr(B), aux(B);
  const bool fused = runs_fused(L);  // lstm_fused / gru_fused: no gate buffers
  g_last_loop.store(!fused ? kGatePass : L.kind == kLSTM ? kLstmFused : kGruFused, std::memory_order_relaxed);
  std::vector<float> gates(fused ? 0 : B * GH), hw(L.kind == kGRU && !fused ? B * GH : 0),
      rh(L.kind == kGRUResetBefore ? B * H : 0);
  std::vector<float> scratch;
  std::vector<char> seen(B, 0);
  const std::vector<float> zeros(GH, 0.0f);
  // the biases the gate pass adds (the input's already in a repeated input's projection)
  const float* bias_x = L.b_in && !L.xproj ? L.b_in : zeros.data();
  const float* bias_h = L.b_hh ? L.b_hh : zeros.data();
  if (!fused)
    for (int64_t b = 0; b < B; ++b) gr[b] = gates.data() + b * GH;  // the active rows, compacted
  FusedRows fused_rows(L, fused ? B : 0);
  float *state = L.h, *next = L.h2;  // the fused steps' two state buffers, swapped after each step
  // without a mask every row's output is its new h: the gate pass stores it there itself (LSTM, GRU reset_after)
  const bool direct = L.out && !L.mask && L.kind != kGRUResetBefore;
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = L.backwards ? T - 1 - s : s;  // the input step processed now
    const bool skip_h = s == 0 && L.h_zero;  // every active row's state is still the zero h0
    const int64_t pos = L.time_order ? t : s;  // where this step's output goes
    const auto out_row = [&](int64_t b) { return direct ? L.out + (b * T + pos) * L.ld_out : nullptr; };
    int64_t n = 0;
    for (int64_t b = 0; b < B; ++b) {
      if (L.mask && !L.mask[b * T + t]) continue;  // a masked row does no work at this step
      rows[n] = b;
      hr[n] = state + b * L.ld_h;
      ++n;
    }
    if (fused) {
      fused_step(L, n, t, pos, rows.data(), bias_x, state, next, fused_rows, out_row, skip_h);
    } else if (L.kind == kLSTM) {
      if (L.xproj) {  // a repeated input: gates = xproj + h @ W_hh^T (the last H rows of wt)
        project(L, n, t, rows.data(), gr.data(), xr, scratch, true);
        if (!skip_h) product(L, n, hr.data(), H, L.wt + L.F * GH, GH, gr.data(), -1, scratch);
      } else {
        // the LSTM's rows are [x_t, h] (F + H floats) and its weights [W_ih^T; W_hh^T]: the input
        // projection and the recurrent product are ONE product per step, with K = F + H
        for (int64_t i = 0; i < n; ++i) {
          hr[i] -= L.F;
          std::memcpy(const_cast<float*>(hr[i]), L.x + (rows[i] * T + t) * L.F, L.F * sizeof(float));
        }
        if (skip_h)  // gates = x_t @ W_ih^T (wt's first F rows), through sgemm: the packed panels span K = F + H
          product(L, n, hr.data(), L.F, L.wt, GH, gr.data(), -1, scratch, false);
        else
          product(L, n, hr.data(), L.F + H, L.wt, GH, gr.data(), 1, scratch, false);  // gates = [x_t, h] @ [W_ih; W_hh]^T
      }
      for (int64_t i = 0; i < n; ++i) {  // + b (bias_x: zeros after a repeated input's projection, which holds it)
        const int64_t b = rows[i];
        lstm_gates(gr[i], bias_x, L.c + b * H, state + b * L.ld_h, out_row(b), H);
      }
    } else if (L.kind == kGRU) {
      project(L, n, t, rows.data(), gr.data(), xr, scratch, false);  // xw = x_t @ W^T (or a repeated input's xw + b_ih)
      for (int64_t i = 0; i < n; ++i) aux[i] = hw.data() + i * GH;
      product(L, n, hr.data(), H, L.wt, GH, aux.data(), 1, scratch, false);  // hw = h @ U^T
      for (int64_t i = 0; i < n; ++i)
        gru_gates(gr[i], bias_x, aux[i], bias_h, state + rows[i] * L.ld_h, out_row(rows[i]), H);
    } else {
      project(L, n, t, rows.data(), gr.data(), xr, scratch, true);
      product(L, n, hr.data(), H, L.wt, 2 * H, gr.data(), 1, scratch);  // [r, z] += h @ [U_r, U_z]^T
      std::vector<const float*>& rr = hr;  // (reused: the rows of r * h)
      for (int64_t i = 0; i < n; ++i) {
        float* rhi = rh.data() + i * H;
        gru_rz(gr[i], state + rows[i] * L.ld_h, rhi, H);
        rr[i] = rhi;
        aux[i] = gr[i] + 2 * H;
      }
      product(L, n, rr.data(), H, L.wt + 2 * H, H, aux.data(), 2, scratch);  // n-gate += (r * h) @ U_n^T
      for (int64_t i = 0; i < n; ++i) gru_update(gr[i], state + rows[i] * L.ld_h, H);
    }
    for (int64_t i = 0; i < n; ++i) seen[rows[i]] = 1;
    if (direct && s < T - 1) continue;  // the outputs are written; `last` only after the last step
    for (int64_t b = 0; b < B; ++b) {
      const bool valid = !L.mask || L.mask[b * T + t];
      const bool copy = valid || (!L.zero_output && seen[b]);  // masked: the previous output (= h) or zeros
      float* dst[2] = {L.out && !direct ? L.out + (b * T + pos) * L.ld_out : nullptr,
                       s == T - 1 ? L.last + b * H : nullptr};
      for (float* d : dst) {
        if (!d) continue;
        if (copy) std::memcpy(d, state + b * L.ld_h, H * sizeof(float)); else std::memset(d, 0, H * sizeof(float));
      }
    }
  }
  if (state != L.h)  // after an odd number of fused steps (lstm_fused, gru_fused) the state is in the second buffer
    for (int64_t b = 0; b < B; ++b) std::memcpy(L.h + b * L.ld_h, state + b * L.ld_h, H * sizeof(float));
}

at::Tensor opt_or_zeros(const c10::optional<at::Tensor>& t, int64_t B, int64_t H) {
  if (t.has_value() && t->defined()) {
    TORCH_CHECK(t->sizes() == at::IntArrayRef({B, H}) && t->scalar_type() == at::kFloat,
                "gated_rnn_forward: each initial state must be (B, H) = (", B, ", ", H, ") float32, got ",
                t->sizes(), " ", t->scalar_type());
    return t->contiguous().clone();
  }
  return at::zeros({B, H}, at::kFloat);
}

// One direction's weights as the loop reads them, made once per call (or once per stream: the
// tensors travel to Python as a list, see gated_rnn_prepare):
//   wit (F, GH) W_ih^T; wt (H, GH) W_hh^T, the LSTM's (F + H, GH) [W_ih^T; W_hh^T]; bias_in (GH) or
//   undefined; b_hh (GH, GRU reset_after) or undefined; panels: the packed copies (empty without
//   AVX-512, or where no hand-written kernel runs: gated_rnn_forward's `pack`): by unit blocks where
//   fusable (pack_unit_panels: [W_ih^T; W_hh^T] by unit blocks, W_ih^T left out for a repeated input), else
//   by columns (loop_math.h's panels): the LSTM's [W_ih^T; W_hh^T] (K = F + H), the GRU's [W_ih^T,
//   W_hh^T or [U_r, U_z]^T, U_n^T (reset_before)]. Where only the fused steps run (prepare's
//   `transposed` false), wit is w_ih.t() (a view) and wt undefined.
struct Prepared {
  at::Tensor wit, wt, bias_in, b_hh, panels;
};

std::array<seqlayers_native::Packed, 3> panel_views(int64_t kind, int64_t F, int64_t H, const at::Tensor& panels,
                                                    bool repeated) {
  std::array<seqlayers_native::Packed, 3> v{};
  if (!panels.defined() || panels.numel() == 0) return v;
  const int64_t G = kind == kLSTM ? 4 : 3, lead = kind == kLSTM ? F : 0, Fp = repeated ? 0 : F;
  const int64_t split = kind == kGRUResetBefore ? 2 * H : G * H;
  const float* p = panels.data_ptr<float>();
  if (fusable(kind, Fp, H)) {  // pack_unit_panels's layout, Fp + H rows
    v[1] = {p, Fp + H, G * H};
    return v;
  }
  if (kind != kLSTM) {
    v[0] = {p, F, G * H};
    p += seqlayers_native::packed_size(F, G * H);
  }
  v[1] = {p, lead + H, split};
  p += seqlayers_native::packed_size(lead + H, split);
  if (split < G * H) v[2] = {p, H, G * H - split};
  return v;
}

// dst (C x R, row-major) = src^T for a contiguous (R x C) src (loop_math.h's tiled transpose)
void transpose_into(const at::Tensor& src, float* dst) {
  seqlayers_native::transpose_tiled(src.data_ptr<float>(), src.size(0), src.size(1), dst);
}

// transposed: also W_ih^T and W_hh^T as MKL's path reads them (wit, wt); false where only the fused
// steps will run (panels by unit blocks, made straight from the weights; wit is then w_ih.t(), a view
// for a repeated input's at::addmm, and wt undefined)
Prepared prepare(int64_t kind, const at::Tensor& w_ih, const at::Tensor& w_hh, const c10::optional<at::Tensor>& b_ih,
                 const c10::optional<at::Tensor>& b_hh, bool pack, bool repeated = false, bool transposed = true) {
  const int64_t G = kind == kLSTM ? 4 : 3, H = w_hh.size(1), F = w_ih.size(1);
  TORCH_CHECK(w_ih.dim() == 2 && w_ih.size(0) == G * H && w_hh.sizes() == at::IntArrayRef({G * H, H}) &&
              w_ih.scalar_type() == at::kFloat && w_hh.scalar_type() == at::kFloat,
              "gated_rnn: w_ih must be (G*H, F) and w_hh (G*H, H) float32 with G = ", G,
              ", the same H in each direction; got w_ih ", w_ih.sizes(), " ", w_ih.scalar_type(), " and w_hh ",
              w_hh.sizes(), " ", w_hh.scalar_type());
  const bool has_bi = b_ih.has_value() && b_ih->defined(), has_bh = b_hh.has_value() && b_hh->defined();
  Prepared P;
  if (has_bi) P.bias_in = b_ih->contiguous();
  if (kind == kLSTM && has_bh) P.bias_in = has_bi ? (P.bias_in + *b_hh).contiguous() : b_hh->contiguous();
  if (kind == kGRU && has_bh) P.b_hh = b_hh->contiguous();
  const int64_t lead = kind == kLSTM ? F : 0, split = kind == kGRUResetBefore ? 2 * H : G * H;
  const int64_t Fp = repeated ? 0 : F;  // the input rows the unit-block panels hold (see fusable)
  const bool unit_blocks = pack && fusable(kind, Fp, H);
  if (unit_blocks) {  // for lstm_fused / gru_fused
    const at::Tensor wi = w_ih.contiguous(), wh = w_hh.contiguous();
    P.panels = at::empty({unit_packed_size(Fp + H, H, G)}, w_ih.options());
    pack_unit_panels(wi.data_ptr<float>(), F, Fp, wh.data_ptr<float>(), H, G, P.panels.data_ptr<float>());
    if (!transposed) {
      P.wit = w_ih.t();
      return P;
    }
  }
  P.wt = at::empty({lead + H, G * H}, w_ih.options());  // [W_ih^T; W_hh^T] (LSTM) or W_hh^T
  if (kind == kLSTM) {
    transpose_into(w_ih.contiguous(), P.wt.data_ptr<float>());
    P.wit = P.wt.narrow(0, 0, F);  // W_ih^T: the first F rows
  } else {
    P.wit = at::empty({F, G * H}, w_ih.options());
    transpose_into(w_ih.contiguous(), P.wit.data_ptr<float>());
  }
  transpose_into(w_hh.contiguous(), P.wt.data_ptr<float>() + lead * G * H);
  if (unit_blocks) return P;
  if (!pack) {
    P.panels = at::empty({0}, w_ih.options());
    return P;
  }
  int64_t total = seqlayers_native::packed_size(lead + H, split);
  if (kind != kLSTM) total += seqlayers_native::packed_size(F, G * H);
  if (split < G * H) total += seqlayers_native::packed_size(H, G * H - split);
  P.panels = at::empty({total}, w_ih.options());
  float* p = P.panels.data_ptr<float>();
  if (kind != kLSTM) {
    seqlayers_native::pack_panels(P.wit.data_ptr<float>(), G * H, F, 0, G * H, p);
    p += seqlayers_native::packed_size(F, G * H);
  }
  seqlayers_native::pack_panels(P.wt.data_ptr<float>(), G * H, lead + H, 0, split, p);
  p += seqlayers_native::packed_size(lead + H, split);
  if (split < G * H) seqlayers_native::pack_panels(P.wt.data_ptr<float>(), G * H, H, split, G * H, p);
  return P;
}

bool use_own_kernel(bool blas_only, int64_t B, int64_t G, int64_t F, int64_t H) {
  // the packed weights must stay in L2: at H=512 (4 MiB of LSTM weights) MKL's sgemm was faster
  // (B=16, T=100: 29 vs 39 ms per call, docs/performance.md scaling)
  return !blas_only && G * H <= kMaxOwnWidth && (F + H) * G * H <= kMaxOwnFloats && __builtin_cpu_supports("avx512f") &&
         (at::get_num_threads() == 1 || B * G * H * H <= kMaxOwnWorkThreaded);
}

// The shape of one direction's run: x (B, T, F) contiguous; h, c, last (B, H) contiguous.
struct Dims {
  int64_t B, T, F, H;
};

// One direction over x from the states h and c (the LSTM's; both updated in place), writing `out`
// (or not, when null) and `last` (B, H). Raw pointers and memcpy only: a streamed step is ~4 us of
// arithmetic, and each tensor op around it (a copy_, a narrow) cost ~0.5-1 us more.
void run_direction(int64_t kind, const float* x, Dims s, const Prepared& P, bool own, float* h, float* c, float* out,
                   int64_t ld_out, float* last, const bool* mask, bool backwards, bool time_order, bool zero_output,
                   const float* xproj = nullptr, Head head = {}, bool h_zero = false) {
  const int64_t B = s.B, T = s.T, F = s.F, H = s.H, G = kind == kLSTM ? 4 : 3;
  // the LSTM's state lives in rows [x_t, h], twice (lstm_fused reads one and writes the other),
  // each h 64-byte aligned (x_t right before it; the rows padded to 16 floats): its stores in the
  // cell update and the rows' broadcasts do not split cache lines
  const auto up16 = [](int64_t n) { return (n + 15) / 16 * 16; };
  const int64_t h_off = kind == kLSTM ? up16(F) : 0, ld_h = kind == kLSTM ? h_off + up16(H) : H;
  seqlayers_native::Floats xh(kind == kLSTM ? 2 * B * ld_h : 0), h2(kind == kGRU ? B * H : 0);  // (gru_fused's other buffer)
  float* state = h;
  if (kind == kLSTM) {
    for (int64_t b = 0; b < B; ++b) std::memcpy(xh.data() + b * ld_h + h_off, h + b * H, H * sizeof(float));
    state = xh.data() + h_off;
  }
  const auto views = panel_views(kind, F, H, P.panels, xproj != nullptr);
  const auto ptr = [](const at::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; };
  // (without wt, as prepare leaves it where only the fused steps run, the MKL path's pointers are null)
  Loop L{kind, B, T, F, H, G, x, P.wt.defined() ? P.wit.data_ptr<float>() : nullptr, ptr(P.bias_in), ptr(P.wt), views.data(),
         ptr(P.b_hh), state, kind == kLSTM ? state + B * ld_h : (kind == kGRU ? h2.data() : nullptr), ld_h, c, out, ld_out, last, mask, backwards, time_order, zero_output,
         own && P.panels.numel() > 0, head, xproj, h_zero};
  if (B > 0 && T > 0 && H > 0) {
    run_loop(L);
  } else {  // no step runs (an empty batch): last_loop() says so, not the previous call's loop
    g_last_loop.store(kNone, std::memory_order_relaxed);
    if (B > 0 && H > 0) std::memcpy(last, h, B * H * sizeof(float));  // T = 0: nothing processed (the layers never call with T = 0)
  }
  if (kind == kLSTM)
    for (int64_t b = 0; b < B; ++b) std::memcpy(h + b * H, xh.data() + b * ld_h + h_off, H * sizeof(float));
}

std::vector<at::Tensor> gated_rnn_forward(
    const at::Tensor& x_, int64_t kind, at::TensorList w_ih, at::TensorList w_hh,
    const c10::List<c10::optional<at::Tensor>>& b_ih, const c10::List<c10::optional<at::Tensor>>& b_hh,
    const c10::List<c10::optional<at::Tensor>>& h0, const c10::List<c10::optional<at::Tensor>>& c0,
    const c10::optional<at::Tensor>& mask_, const c10::List<bool>& backwards, const c10::List<bool>& time_order,
    bool zero_output, bool return_sequences, bool blas_only, const c10::optional<at::Tensor>& head_w_,
    const c10::optional<at::Tensor>& head_b_, bool head_softmax) {
  // float32 throughout: under torch.autocast("cpu") a repeated input's at::addmm came back bfloat16
  // (the guard is thread-local state, so it reaches the directions' threads too)
  const c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  TORCH_CHECK(x_.dim() == 3 && x_.scalar_type() == at::kFloat && x_.device().is_cpu(),
              "gated_rnn_forward: x must be a (B, T, F) float32 CPU tensor, got ", x_.sizes(), " ",
              x_.scalar_type(), " on ", x_.device());
  TORCH_CHECK(kind >= kLSTM && kind <= kGRUResetBefore, "gated_rnn_forward: kind must be 0, 1 or 2, got ", kind);
  const int64_t D = static_cast<int64_t>(w_ih.size());
  TORCH_CHECK(D >= 1 && w_hh.size() == w_ih.size() && b_ih.size() == w_ih.size() && b_hh.size() == w_ih.size() &&
              h0.size() == w_ih.size() && c0.size() == w_ih.size() && backwards.size() == w_ih.size() &&
              time_order.size() == w_ih.size(),
              "gated_rnn_forward: one entry per direction in every list; got ", D, " w_ih, ", w_hh.size(), " w_hh, ",
              b_ih.size(), " b_ih, ", b_hh.size(), " b_hh, ", h0.size(), " h0, ", c0.size(), " c0, ", backwards.size(),
              " backwards, ", time_order.size(), " time_order");
  const int64_t B = x_.size(0), T = x_.size(1), G = kind == kLSTM ? 4 : 3;
  const int64_t H = w_hh[0].size(1);
  at::Tensor mask;
  if (mask_.has_value() && mask_->defined()) {
    TORCH_CHECK(mask_->sizes() == at::IntArrayRef({B, T}) && mask_->scalar_type() == at::kBool,
                "gated_rnn_forward: mask must be (B, T) = (", B, ", ", T, ") bool, got ", mask_->sizes(), " ",
                mask_->scalar_type());
    mask = mask_->contiguous();
  }
  // a following Dense (head_w (U, D*H), head_b (U), then a softmax over its U outputs with head_softmax):
  // its (B, T, U) output is returned in place of the sequence, computed in the fused steps (Head) where
  // they run (one direction, no mask), else over the finished (B, T, D*H) output (head.h)
  const bool has_head = head_w_.has_value() && head_w_->defined();
  at::Tensor head_w, head_b;
  if (has_head) {
    head_w = *head_w_;  // any strides (the Dense's kernel.t()): copied once, into its form's layout or by addmm
    TORCH_CHECK(return_sequences, "gated_rnn_forward: a head needs return_sequences (it reads every step's "
                "output), got return_sequences false; pass return_sequences true, or no head_w");
    head_b = seqlayers_native::check_head("gated_rnn_forward", head_w, head_b_, D * H);
  }
  // every step's input the same tensor (stride 0 in time: RepeatVector's expand): projected once per
  // direction (W3's decoder: the product per step over K = H instead of F + H, 3 of 4 projections saved)
  const bool repeated = T > 1 && x_.stride(1) == 0;
  const int64_t Fp = repeated ? 0 : x_.size(2);  // the input rows of the unit-block panels (fusable)
  const bool own = use_own_kernel(blas_only, B, G, x_.size(2), H);
  const bool fused = own && fusable(kind, Fp, H);  // every step through lstm_fused / gru_fused
  const bool head_fused = has_head && fused && D == 1 && !mask.defined();
  const seqlayers_native::HeadWeights hw = head_fused ? seqlayers_native::HeadWeights(head_w, head_b, head_softmax)
                                                     : seqlayers_native::HeadWeights();
  at::Tensor out = return_sequences && !head_fused ? at::empty({B, T, D * H}, x_.options()) : at::empty({0}, x_.options());
  at::Tensor y = head_fused ? at::empty({B, T, head_w.size(0)}, x_.options()) : at::Tensor();
  std::vector<at::Tensor> results{out};
  const at::Tensor x = repeated ? x_.select(1, 0).contiguous() : x_.contiguous();
  // the panels only where a hand-written kernel runs: a single row's product, or lstm_fused /
  // gru_fused (packing W1's unit blocks takes ~30 us a call); other batches' masked steps with a single
  // active row take sgemm
  const bool pack = fused || (own && B <= kMaxOwnRows);
  for (int64_t d = 0; d < D; ++d)
    TORCH_CHECK(w_hh[d].size(1) == H && w_ih[d].dim() == 2 && w_ih[d].size(1) == x_.size(2),
                "gated_rnn_forward: every direction needs w_ih (G*H, F) with F = x's ", x_.size(2),
                " features and the same H = ", H, "; direction ", d, " has w_ih ", w_ih[d].sizes(), " and w_hh ",
                w_hh[d].sizes());
  const int64_t n_states = kind == kLSTM ? 3 : 2;  // per direction: last, h (, c)
  results.resize(1 + D * n_states);
  const int64_t F = x_.size(2);
  std::vector<Prepared> P;
  std::vector<at::Tensor> xproj(D);
  for (int64_t d = 0; d < D; ++d) {
    P.push_back(prepare(kind, w_ih[d], w_hh[d], b_ih.get(d), b_hh.get(d), pack, repeated, !fused));
    at::Tensor* r = results.data() + 1 + d * n_states;
    r[0] = at::empty({B, H}, x_.options());  // last
    r[1] = opt_or_zeros(h0.get(d), B, H);
    if (kind == kLSTM) r[2] = opt_or_zeros(c0.get(d), B, H);
    if (repeated) xproj[d] = P[d].bias_in.defined() ? at::addmm(P[d].bias_in, x, P[d].wit) : at::mm(x, P[d].wit);  // (B, G*H)
  }
  // the directions of a Bidirectional layer, and chunks of the batch (its rows are independent), run
  // at once when torch has more than one thread
  seqlayers_native::for_each_chunk(D, B, B * T * G * H * (F + H), [&](int64_t d, int64_t b0, int64_t b1) {
    const at::Tensor* r = results.data() + 1 + d * n_states;
    const auto rows = [&](const at::Tensor& t, int64_t width) { return t.defined() ? t.data_ptr<float>() + b0 * width : nullptr; };
    const Head head = head_fused ? hw.at(y.data_ptr<float>() + b0 * T * head_w.size(0)) : Head{};
    run_direction(kind, x.data_ptr<float>() + b0 * (repeated ? F : T * F), Dims{b1 - b0, T, F, H}, P[d], own,
                  rows(r[1], H), kind == kLSTM ? rows(r[2], H) : nullptr,
                  out.numel() > 0 ? out.data_ptr<float>() + b0 * T * D * H + d * H : nullptr, D * H, rows(r[0], H),
                  mask.defined() ? mask.data_ptr<bool>() + b0 * T : nullptr, backwards.get(d), time_order.get(d),
                  zero_output, repeated ? rows(xproj[d], G * H) : nullptr, head,
                  !(h0.get(d).has_value() && h0.get(d)->defined()));  // no h0: zeros, known to the first step
  });
  if (head_fused) {
    results[0] = y;
  } else if (has_head) {  // the steps ran without it: the Dense on the output
    results[0] = seqlayers_native::dense_on_sequence(out, head_w, head_b, head_softmax, blas_only);
  }
  return results;
}

// Streaming (models/streaming.py): the weights prepared once, then one call per step.
std::vector<at::Tensor> gated_rnn_prepare(int64_t kind, const at::Tensor& w_ih, const at::Tensor& w_hh,
                                          const c10::optional<at::Tensor>& b_ih, const c10::optional<at::Tensor>& b_hh) {
  TORCH_CHECK(kind >= kLSTM && kind <= kGRUResetBefore, "gated_rnn_prepare: kind must be 0, 1 or 2, got ", kind);
  const Prepared P = prepare(kind, w_ih, w_hh, b_ih, b_hh, __builtin_cpu_supports("avx512f"));
  const at::Tensor none = at::empty({0}, w_ih.options());
  return {P.wit, P.wt, P.bias_in.defined() ? P.bias_in : none, P.b_hh.defined() ? P.b_hh : none, P.panels};
}

// sum of a[i] * b[i]: 16 partial sums, so that the loop vectorises without reassociation flags
__attribute__((target_clones("avx512f", "avx2", "default")))
float dot(const float* a, const float* b, int64_t n) {
  float acc[16] = {0.0f};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; ++k) acc[k] += a[i + k] * b[i + k];
  float total = 0.0f;
  for (; i < n; ++i) total += a[i] * b[i];
  for (float v : acc) total += v;
  return total;
}

// y (B, U) = out (B, H) @ w^T + b for w (U, H): a streamed model's Dense on its recurrent layer's step,
// in this call (a separate F.linear cost ~3.5 us of a ~14 us step); torch's addmm for large heads.
at::Tensor head(const at::Tensor& out, const at::Tensor& w, const c10::optional<at::Tensor>& b) {
  TORCH_CHECK(w.dim() == 2 && w.size(1) == out.size(1) && w.scalar_type() == at::kFloat && w.is_contiguous(),
              "gated_rnn_step: head_w must be a contiguous (units, H) float32 with H = ", out.size(1), ", got ",
              w.sizes());
  const bool has_b = b.has_value() && b->defined();
  TORCH_CHECK(!has_b || (b->dim() == 1 && b->size(0) == w.size(0) && b->scalar_type() == at::kFloat &&
                         b->is_contiguous()),
              "gated_rnn_step: head_b must be a contiguous (units,) float32 with units = ", w.size(0), ", got ",
              b->sizes(), " ", b->scalar_type());
  const int64_t B = out.size(0), U = w.size(0), H = w.size(1);
  if (B * U * H > (int64_t(1) << 16)) return has_b ? at::addmm(*b, out, w.t()) : at::mm(out, w.t());
  at::Tensor y = at::empty({B, U}, out.options());
  const float *o = out.data_ptr<float>(), *wp = w.data_ptr<float>(), *bp = has_b ? b->data_ptr<float>() : nullptr;
  float* yp = y.data_ptr<float>();
  for (int64_t r = 0; r < B; ++r)
    for (int64_t u = 0; u < U; ++u) yp[r * U + u] = (bp ? bp[u] : 0.0f) + dot(o + r * H, wp + u * H, H);
  return y;
}

// x (B, F): one step from h (B, H) and c (the LSTM's), both updated in place; returns the output
// (B, H), or with head_w (U, H) (and head_b (U,)) the head's (B, U) = output @ head_w^T + head_b.
at::Tensor gated_rnn_step(const at::Tensor& x_, int64_t kind, at::TensorList prepared, at::Tensor& h,
                          const c10::optional<at::Tensor>& c_, bool blas_only, const c10::optional<at::Tensor>& head_w,
                          const c10::optional<at::Tensor>& head_b) {
  // float32 throughout: under torch.autocast("cpu") a large head's at::addmm came back bfloat16 (a small
  // head's own loop stayed float32)
  const c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  TORCH_CHECK(x_.dim() == 2 && x_.scalar_type() == at::kFloat && prepared.size() == 5,
              "gated_rnn_step: x must be (B, F) float32 and `prepared` what gated_rnn_prepare returned (5 tensors); ",
              "got x ", x_.sizes(), " ", x_.scalar_type(), " and ", prepared.size(), " tensors");
  const at::Tensor x = x_.is_contiguous() ? x_ : x_.contiguous();
  TORCH_CHECK(h.is_contiguous() && h.dim() == 2 && h.size(0) == x.size(0),
              "gated_rnn_step: h must be a contiguous (B, H) with B = ", x.size(0), " (x's), got ", h.sizes(),
              h.is_contiguous() ? "" : " (not contiguous)");
  const auto opt = [](const at::Tensor& t) { return t.numel() > 0 ? t : at::Tensor(); };
  const Prepared P{prepared[0], prepared[1], opt(prepared[2]), opt(prepared[3]), prepared[4]};
  at::Tensor c = kind == kLSTM && c_.has_value() ? *c_ : at::Tensor();
  TORCH_CHECK(kind != kLSTM || c.defined(), "gated_rnn_step: an LSTM needs its cell state c, got none");
  TORCH_CHECK(kind != kLSTM || (c.is_contiguous() && c.sizes() == h.sizes()),
              "gated_rnn_step: an LSTM's cell state c must be contiguous, shaped as h ", h.sizes(), ", got ",
              c.sizes(), c.is_contiguous() ? "" : " (not contiguous)");
  at::Tensor last = at::empty_like(h);
  const int64_t G = kind == kLSTM ? 4 : 3;
  TORCH_CHECK(P.wt.size(0) == (kind == kLSTM ? x.size(1) : 0) + h.size(1) && P.wt.size(1) == G * h.size(1),
              "gated_rnn_step: `prepared` holds weights for other shapes than x ", x.sizes(), " and h ", h.sizes());
  run_direction(kind, x.data_ptr<float>(), Dims{x.size(0), 1, x.size(1), h.size(1)}, P,
                use_own_kernel(blas_only, x.size(0), G, x.size(1), h.size(1)), h.data_ptr<float>(),
                c.defined() ? c.data_ptr<float>() : nullptr, nullptr, 0, last.data_ptr<float>(), nullptr, false, false,
                false);
  return head_w.has_value() && head_w->defined() ? head(last, *head_w, head_b) : last;
}

// "lstm_fused", "gru_fused", "gate_pass" (a product, MKL's or the hand-written single-row one, then the
// gate pass) or "none": the loop of the last LSTM/GRU inference call (gated_rnn_forward, gated_rnn_step)
std::string last_loop() {
  static const char* const names[] = {"none", "gate_pass", "lstm_fused", "gru_fused"};
  return names[g_last_loop.load(std::memory_order_relaxed)];
}

// The gates' activations on their own, as the loops compute them (AVX-512 where the CPU has it, else
// the scalar code): for the tests that measure their error against float64.
at::Tensor gate_activation(const at::Tensor& x_, bool sigmoid) {
  TORCH_CHECK(x_.scalar_type() == at::kFloat && x_.device().is_cpu(),
              "gate_activation: x must be a float32 CPU tensor, got ", x_.scalar_type(), " on ", x_.device());
  const at::Tensor x = x_.contiguous();
  at::Tensor out = at::empty_like(x);
  const float* xp = x.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const int64_t n = x.numel();
  if (kAVX512) {
    for (int64_t j = 0; j < n; j += 16) activation16(xp + j, op + j, n - j, sigmoid);
  } else {
    for (int64_t j = 0; j < n; ++j) op[j] = sigmoid ? sigmoid_r(xp[j]) : tanh_r(xp[j]);
  }
  return out;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(seqlayers_native, m) {
  m.def("gate_activation(Tensor x, bool sigmoid) -> Tensor");
  m.def("last_loop() -> str", &last_loop);
  m.def("gated_rnn_prepare(int kind, Tensor w_ih, Tensor w_hh, Tensor? b_ih, Tensor? b_hh) -> Tensor[]");
  m.def("gated_rnn_step(Tensor x, int kind, Tensor[] prepared, Tensor(a!) h, Tensor(b!)? c, bool blas_only=False, "
        "Tensor? head_w=None, Tensor? head_b=None) -> Tensor");
  m.def("gated_rnn_forward(Tensor x, int kind, Tensor[] w_ih, Tensor[] w_hh, Tensor?[] b_ih, Tensor?[] b_hh, "
        "Tensor?[] h0, Tensor?[] c0, Tensor? mask, bool[] backwards, bool[] time_order, bool zero_output, "
        "bool return_sequences, bool blas_only=False, Tensor? head_w=None, Tensor? head_b=None, "
        "bool head_softmax=False) -> Tensor[]");
}

TORCH_LIBRARY_IMPL(seqlayers_native, CPU, m) {
  m.impl("gated_rnn_forward", &gated_rnn_forward);
  m.impl("gate_activation", &gate_activation);
  m.impl("gated_rnn_prepare", &gated_rnn_prepare);
  m.impl("gated_rnn_step", &gated_rnn_step);
}
