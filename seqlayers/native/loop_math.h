// What the native recurrent loops share: the vectorised tanh/sigmoid, the packed weight panels and the
// recurrent product.
//
// tanh: the rational approximation used by Eigen (and hence XLA) for float32: the input clamped to
// +-7.90531, x * P(x^2) / Q(x^2) with odd degree-13 / even degree-6 polynomials, x itself for
// |x| < 4e-4. Measured against float64 tanh on 2e6 points in [-12, 12]: max abs error 2.7e-7
// (torch.tanh: 3.1e-8); the AVX-512 version below (rcp14 + a Newton step for the division): 2.9e-7.
// sigmoid(x) = 0.5 + 0.5 tanh(x / 2): 1.8e-7 (torch.sigmoid: 8.9e-8). tests/layers/test_rnn_native.py
// measures both on the path this CPU takes and pins them below 3e-7 and 2e-7. Written as scalar code without
// branches, so that GCC vectorises every loop that calls them; `target_clones` compiles those loops
// for AVX-512, AVX2 and baseline x86-64 and picks one at load time.
#pragma once

#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>
#include <vector>

extern "C" {
// Fortran BLAS (column-major), exported by libtorch_cpu's MKL.
void sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
            const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
            const float* beta, float* c, const int* ldc);
}

namespace seqlayers_native {

// A std::vector's storage aligned to 64 bytes (a cache line, a zmm register; the allocator's own is 16).
template <typename T>
struct CacheAligned {
  using value_type = T;
  CacheAligned() = default;
  template <typename U>
  CacheAligned(const CacheAligned<U>&) {}  // NOLINT: the rebinding converting constructor
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64))); }
  void deallocate(T* p, std::size_t) { ::operator delete(p, std::align_val_t(64)); }
  template <typename U>
  bool operator==(const CacheAligned<U>&) const { return true; }
  template <typename U>
  bool operator!=(const CacheAligned<U>&) const { return false; }
};
using Floats = std::vector<float, CacheAligned<float>>;

// body(d, b0, b1) for each direction d < D and chunk [b0, b1) of the batch's B rows (an RNN's rows
// are independent: each chunk runs every step for its rows). With more than one torch thread and at
// least `work` multiply-adds, the directions and chunks of at least kMinRows rows run at once on
// torch's OpenMP threads, MKL single-threaded inside each, with the caller's thread-local state
// (grad mode, inference mode, autocast). Measured on 2 threads: W2's BiLSTM inference op 4.13 ms
// with the directions one after the other (each per-step product on MKL's 2 threads; one direction
// alone 2.03 ms); W1's LSTM training 0.58x -> 0.48x of plain PyTorch with the batch in two chunks
// (the products had been on MKL's threads, the gate passes on one). Otherwise one call per direction
// with the whole batch. (at::parallel_for needs the library compiled with -fopenmp: loader.py.)
template <typename Body>
void for_each_chunk(int64_t D, int64_t B, int64_t work, const Body& body) {
  constexpr int64_t kMinWork = int64_t(1) << 21, kMinRows = 8;
  const int64_t threads = at::get_num_threads();
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(threads / std::max<int64_t>(D, 1), B / kMinRows));
  if (threads < 2 || work < kMinWork || at::in_parallel_region() || D * chunks < 2) {
    for (int64_t d = 0; d < D; ++d) body(d, int64_t(0), B);
    return;
  }
  const at::ThreadLocalState state;
  at::parallel_for(0, D * chunks, 1, [&](int64_t begin, int64_t end) {
    const at::ThreadLocalStateGuard guard(state);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t d = task / chunks, c = task % chunks;
      body(d, B * c / chunks, B * (c + 1) / chunks);
    }
  });
}

__attribute__((always_inline)) inline float tanh_r(float a) {
  const float v = a > 7.90531110763549805f ? 7.90531110763549805f
                                            : (a < -7.90531110763549805f ? -7.90531110763549805f : a);
  const float x2 = v * v;
  float p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
  p = x2 * p + -8.60467152213735e-11f;
  p = x2 * p + 5.12229709037114e-08f;
  p = x2 * p + 1.48572235717979e-05f;
  p = x2 * p + 6.37261928875436e-04f;
  p = x2 * p + 4.89352455891786e-03f;
  p = v * p;
  float q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
  q = x2 * q + 2.26843463243900e-03f;
  q = x2 * q + 4.89352518554385e-03f;
  const float r = p / q;
  return (a < 0.0004f && a > -0.0004f) ? a : r;
}

__attribute__((always_inline)) inline float sigmoid_r(float a) { return 0.5f + 0.5f * tanh_r(0.5f * a); }

// The same tanh on 16 floats with AVX-512, the division replaced by rcp14 and one Newton step
// (relative error ~2^-28): vdivps was the gates' bottleneck (5 per LSTM unit and step).
__attribute__((target("avx512f"), always_inline)) inline __m512 tanh16(__m512 a) {
  // the clamp with `a` as the SECOND operand: min/max_ps return it when either is NaN, so a NaN stays
  // NaN (as in torch.tanh and the scalar code) instead of becoming +-1
  const __m512 v = _mm512_max_ps(_mm512_set1_ps(-7.90531110763549805f),
                                 _mm512_min_ps(_mm512_set1_ps(7.90531110763549805f), a));
  const __m512 x2 = _mm512_mul_ps(v, v);
  __m512 p = _mm512_fmadd_ps(x2, _mm512_set1_ps(-2.76076847742355e-16f), _mm512_set1_ps(2.00018790482477e-13f));
  p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(-8.60467152213735e-11f));
  p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(5.12229709037114e-08f));
  p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(1.48572235717979e-05f));
  p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(6.37261928875436e-04f));
  p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(4.89352455891786e-03f));
  p = _mm512_mul_ps(v, p);
  __m512 q = _mm512_fmadd_ps(x2, _mm512_set1_ps(1.19825839466702e-06f), _mm512_set1_ps(1.18534705686654e-04f));
  q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(2.26843463243900e-03f));
  q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(4.89352518554385e-03f));
  const __m512 r0 = _mm512_rcp14_ps(q);
  const __m512 r1 = _mm512_fmadd_ps(r0, _mm512_fnmadd_ps(q, r0, _mm512_set1_ps(1.0f)), r0);  // Newton step
  // no special case for |a| < 4e-4 (the scalar code's, Eigen's): there p / q = a (1 - 1.3e-7), an
  // absolute error under 1e-10, and the test and blend were 3 of the ~20 instructions
  return _mm512_mul_ps(p, r1);
}

__attribute__((target("avx512f"), always_inline)) inline __m512 sigmoid16(__m512 a) {
  const __m512 half = _mm512_set1_ps(0.5f);
  return _mm512_fmadd_ps(half, tanh16(_mm512_mul_ps(half, a)), half);
}

// e^a on 16 floats: a = n ln2 + r (|r| <= ln2 / 2, ln2 in two parts), e^r by Cephes's polynomial
// (within float32 rounding: a softmax of [a, 0] through it, a over [-87, 0], was within 2.0e-7
// relative of float64's; tests/models/test_fusion.py pins the fused softmax against torch's), times
// 2^n (scalef); 0 below -103.9 (where e^a underflows float32; e^-inf = 0), +inf above 88.73, a NaN
// stays NaN (the clamp with `a` second, the comparison unordered-true).
__attribute__((target("avx512f"), always_inline)) inline __m512 exp16(__m512 a) {
  const __m512 lo = _mm512_set1_ps(-103.9f);
  const __m512 x = _mm512_max_ps(lo, _mm512_min_ps(_mm512_set1_ps(88.73f), a));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(1.9875691500e-4f), r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a, lo, _CMP_NLT_UQ), _mm512_scalef_ps(p, n));
}

// body(std::integral_constant<int, R>(), b) for the R = r (1 <= r <= Max) given at run time
template <int Max, typename Body>
inline void with_rows(int64_t r, int64_t b, const Body& body) {
  if constexpr (Max > 1) {
    if (r < Max) return with_rows<Max - 1>(r, b, body);
  }
  body(std::integral_constant<int, Max>(), b);
}

// body(R, b) for the n rows in groups b .. b+R-1 of up to Max rows (6: the products' 4 x 6 zmm
// accumulators), of balanced sizes (8 rows as 4 + 4, not 6 + 2), R a std::integral_constant<int, R>:
// the hand-written kernels take their rows per call as a template parameter (R rows' accumulators live
// in registers).
template <int Max = 6, typename Body>
inline void row_groups(int64_t n, const Body& body) {
  const int64_t groups = (n + Max - 1) / Max;
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t b = n * g / groups;
    with_rows<Max>(n * (g + 1) / groups - b, b, body);
  }
}

// A (K x N) weight matrix (a column range of a row-major one) packed for the AVX-512 product: panels
// of 64 columns, each K x 64 contiguous (the last one zero-padded), so the panel a product streams
// is sequential in memory and stays in L1/L2 while every group of rows passes over it.
constexpr int64_t kPanel = 64;

struct Packed {  // a view of packed panels (see pack_panels)
  const float* data = nullptr;
  int64_t K = 0, N = 0;
};

inline int64_t packed_size(int64_t K, int64_t N) { return (N + kPanel - 1) / kPanel * K * kPanel; }

// Columns c0..c1 of the row-major (K x ldw) matrix w into dst (packed_size(K, c1 - c0) floats).
inline Packed pack_panels(const float* w, int64_t ldw, int64_t K, int64_t c0, int64_t c1, float* dst) {
  const int64_t N = c1 - c0, panels = (N + kPanel - 1) / kPanel;
  std::memset(dst, 0, packed_size(K, N) * sizeof(float));
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t width = N - p * kPanel < kPanel ? N - p * kPanel : kPanel;
    for (int64_t k = 0; k < K; ++k) std::memcpy(dst + (p * K + k) * kPanel, w + k * ldw + c0 + p * kPanel, width * sizeof(float));
  }
  return Packed{dst, K, N};
}

// A 16 x 16 block: dst[i * ldd + j] = src[j * lds + i], in registers (unpack, shuffle, then two
// rounds of 128-bit lane shuffles).
__attribute__((target("avx512f"))) inline void transpose16(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * lds);
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[4 + i], 0x88);
    t[4 + i] = _mm512_shuffle_f32x4(r[i], r[4 + i], 0xdd);
    t[8 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0x88);
    t[12 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0xdd);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
    r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xdd);
    r[4 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0x88);
    r[12 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0xdd);
  }
  for (int i = 0; i < 16; ++i) _mm512_storeu_ps(dst + i * ldd, r[i]);
}

// dst (C x R, row-major) = src^T for a row-major (R x C) src, in 16 x 16 tiles (both sides
// cache-friendly: torch's cat of two transposed views took 130 of the inference loop's 200 us of
// weight preparation for an LSTM with F = H = 128, and 170 us per training call on W3); the full
// tiles by transpose16 on AVX-512 CPUs (512 x 128: 19.5 -> 16.2 us in a C++ driver: it is memory-bound)
inline void transpose_tiled(const float* src, int64_t R, int64_t C, float* dst) {
  constexpr int64_t kTile = 16;
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  for (int64_t r0 = 0; r0 < R; r0 += kTile)
    for (int64_t c0 = 0; c0 < C; c0 += kTile) {
      const int64_t r1 = std::min(R, r0 + kTile), c1 = std::min(C, c0 + kTile);
      if (avx512 && r1 - r0 == kTile && c1 - c0 == kTile) {
        transpose16(src + r0 * C + c0, C, dst + c0 * R + r0, R);
        continue;
      }
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t r = r0; r < r1; ++r) dst[c * R + r] = src[r * C + c];
    }
}

inline __mmask16 tail_mask(int64_t rem) {
  return rem >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (rem > 0 ? rem : 0)) - 1);
}

// a[k] + b[k] for the 16 floats at k (masked): a gate's pre-activation plus its bias
__attribute__((target("avx512f"), always_inline)) inline __m512 plus16(__mmask16 m, const float* a, const float* b,
                                                                      int64_t k) {
  return _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + k), _mm512_maskz_loadu_ps(m, b + k));
}

// acc[r][q] += h[r][k] * the panel's row k, columns 16q .. 16q+16, over k < K: R rows' Q quarters of
// a 64-column panel in R x Q zmm accumulators, one broadcast of h per row and k (the inner loop of
// every hand-written product here: rows_avx512, rnn_loop.cpp's rnn_rows, gated_loop.cpp's lstm_rows)
template <int R, int Q>
__attribute__((target("avx512f"), always_inline)) inline void panel_product(__m512 (&acc)[R][Q], const float* const* h,
                                                                           const float* panel, int64_t K) {
  for (int64_t k = 0; k < K; ++k) {
    const float* wk = panel + k * kPanel;
    __m512 w[Q];
    for (int q = 0; q < Q; ++q) w[q] = _mm512_loadu_ps(wk + 16 * q);
    for (int r = 0; r < R; ++r) {
      const __m512 hb = _mm512_set1_ps(h[r][k]);
      for (int q = 0; q < Q; ++q) acc[r][q] = _mm512_fmadd_ps(hb, w[q], acc[r][q]);
    }
  }
}

// o[r][j0 .. j0+16Q) += h[r] (K floats) @ panel (K x 64, its first 16Q columns), for R <= 6 rows given
// by pointers (columns past N masked); with accumulate false, o = h @ panel (o not read). R rows times
// Q <= 4 16-float quarters live in up to 24 zmm accumulators; each k loads Q vectors of the panel's row
// and broadcasts one value of h per row (Q = 4: 10 loads per 24 FMAs). A last, narrower panel takes
// Q < 4, so no FMA runs on its zero padding (N = 200: 208 columns computed instead of 256).
template <int R, int Q>
__attribute__((target("avx512f")))
void rows_avx512(const float* const* h, const float* panel, int64_t K, int64_t j0, int64_t N, float* const* o,
                 bool accumulate) {
  __mmask16 m[Q];
  for (int q = 0; q < Q; ++q) m[q] = tail_mask(N - j0 - 16 * q);
  __m512 acc[R][Q];
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < Q; ++q)
      acc[r][q] = accumulate ? _mm512_maskz_loadu_ps(m[q], o[r] + j0 + 16 * q) : _mm512_setzero_ps();
  panel_product<R, Q>(acc, h, panel, K);
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < Q; ++q) _mm512_mask_storeu_ps(o[r] + j0 + 16 * q, m[q], acc[r][q]);
}

// One panel's columns for all n rows, in groups of up to 6 (row_groups).
template <int Q>
inline void panel_rows(int64_t n, const float* const* h, const float* panel, int64_t K, int64_t j0, int64_t N,
                       float* const* o, bool accumulate) {
  row_groups(n, [&](auto R, int64_t b) {
    rows_avx512<decltype(R)::value, Q>(h + b, panel, K, j0, N, o + b, accumulate);
  });
}

// o[r] (N floats) += h[r] (K floats) @ w (packed), for all n rows: panel by panel, groups of up to 6 rows
// (o[r] = h[r] @ w with accumulate false). Its one caller is gated_loop.cpp's product of a single row
// (GRU reset_before, and an LSTM or GRU past lstm_fused's / gru_fused's F + H); SimpleRNN inference
// (rnn_loop.cpp's rnn_step) walks the same panels itself, with the input projection and the activation
// in the same registers.
inline void recurrent_avx512(int64_t n, const float* const* h, const Packed& w, float* const* o, bool accumulate = true) {
  const int64_t K = w.K, N = w.N;
  for (int64_t j0 = 0, p = 0; j0 < N; j0 += kPanel, ++p) {
    const float* panel = w.data + p * K * kPanel;
    switch ((std::min<int64_t>(N - j0, kPanel) + 15) / 16) {  // the panel's quarters that hold columns
      case 1: panel_rows<1>(n, h, panel, K, j0, N, o, accumulate); break;
      case 2: panel_rows<2>(n, h, panel, K, j0, N, o, accumulate); break;
      case 3: panel_rows<3>(n, h, panel, K, j0, N, o, accumulate); break;
      default: panel_rows<4>(n, h, panel, K, j0, N, o, accumulate); break;
    }
  }
}

// The same product through MKL's sgemm: rows at a regular stride go straight in; others (a mask's
// active rows of h) are gathered into `scratch` (and output rows scattered back; the loops' compacted
// gate rows never need it).
inline void recurrent_sgemm(int64_t n, const float* const* h, const float* wt, int64_t K, int64_t N,
                            int64_t ldw, float* const* o, std::vector<float>& scratch, bool accumulate = true) {
  if (n == 0) return;
  const int64_t sh = n > 1 ? h[1] - h[0] : K, so = n > 1 ? o[1] - o[0] : N;
  bool regular_h = sh >= K, regular_o = so >= N;  // each side at one stride (the gate rows always are)
  for (int64_t r = 2; r < n; ++r) {
    regular_h = regular_h && h[r] - h[r - 1] == sh;
    regular_o = regular_o && o[r] - o[r - 1] == so;
  }
  const int m_ = static_cast<int>(N), n_ = static_cast<int>(n), k_ = static_cast<int>(K), lw = static_cast<int>(ldw);
  const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  scratch.resize(static_cast<size_t>(n * ((regular_h ? 0 : K) + (regular_o ? 0 : N))));
  float* hb = regular_h ? nullptr : scratch.data();
  float* ob = regular_o ? nullptr : scratch.data() + (regular_h ? 0 : n * K);
  for (int64_t r = 0; r < n; ++r) {  // gather what is not at one stride
    if (hb) std::memcpy(hb + r * K, h[r], K * sizeof(float));
    if (ob && accumulate) std::memcpy(ob + r * N, o[r], N * sizeof(float));
  }
  // column-major: o^T (N x n, ld so) = (wt as N x K, ld ldw) @ h^T (K x n, ld sh) (+ o^T)
  const int lh = static_cast<int>(hb ? K : sh), lo = static_cast<int>(ob ? N : so);
  sgemm_("N", "N", &m_, &n_, &k_, &one, wt, &lw, hb ? hb : h[0], &lh, &beta, ob ? ob : o[0], &lo);
  if (ob)
    for (int64_t r = 0; r < n; ++r) std::memcpy(o[r], ob + r * N, N * sizeof(float));
}

}  // namespace seqlayers_native
