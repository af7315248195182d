// Fused batch-norm passes over NHWC float32 tensors (channels innermost), for the onednn backend.
// Per-channel sums run in double, split into one contiguous block of rows per OpenMP thread and
// added in thread order: the same bits for the same thread count, whatever the scheduling.
#pragma once
#include <omp.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace bn {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define BN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define BN_CLONES
#endif

/**
 * v where the ReLU gate is open (> 0), else +0, as a bit mask: the same bits as a select, but it
 * vectorises, where GCC compiles the select to a branch that a ReLU gate mispredicts half the time
 * (9x slower per gradient pass).
 */
static inline float openOr0(float gate, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  bits &= -uint32_t(gate > 0.f);
  std::memcpy(&v, &bits, sizeof bits);
  return v;
}

/** acc[c] += sum over rows of f(row, c), acc[C + c] += sum of g(row, c). */
BN_CLONES static void momentsRows(const float* x, const float* gate, const float* y, int64_t r0, int64_t r1, int c, double* acc) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * c;
    if (!gate && !y) {
      for (int d = 0; d < c; ++d) {
        const double v = xr[d];
        acc[d] += v;
        acc[c + d] += v * v;
      }
    } else {
      // Gradient moments: dz = gate > 0 ? dy : 0 (gate absent: dz = dy); sums of dz and dz * y.
      const float* yr = y + r * c;
      if (gate) {
        const float* gr = gate + r * c;
        for (int d = 0; d < c; ++d) {
          const float dz = openOr0(gr[d], xr[d]);
          acc[d] += dz;
          acc[c + d] += double(dz) * yr[d];
        }
      } else {
        for (int d = 0; d < c; ++d) {
          acc[d] += xr[d];
          acc[c + d] += double(xr[d]) * yr[d];
        }
      }
    }
  }
}

/**
 * Means over rows of x and x^2 (or, with y, of dz and dz * y): out[0..c) and out[c..2c).
 */
inline void moments(const float* x, const float* gate, const float* y, int64_t rows, int c, float* out) {
  const int threads = omp_get_max_threads();
  std::vector<double> partial(size_t(threads) * 2 * c, 0.0);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), n = omp_get_num_threads();
    const int64_t r0 = rows * t / n, r1 = rows * (t + 1) / n;
    momentsRows(x, gate, y, r0, r1, c, partial.data() + size_t(t) * 2 * c);
  }
  for (int k = 0; k < 2 * c; ++k) {
    double s = 0;
    for (int t = 0; t < threads; ++t) s += partial[size_t(t) * 2 * c + k];
    out[k] = float(s / double(rows));
  }
}

BN_CLONES static void applyRows(const float* x, const float* scale, const float* shift, bool relu, float* out, int64_t r0, int64_t r1, int c) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * c;
    float* o = out + r * c;
    if (relu)
      for (int d = 0; d < c; ++d) {
        const float v = xr[d] * scale[d] + shift[d];
        o[d] = v > 0.f ? v : 0.f;
      }
    else
      for (int d = 0; d < c; ++d) o[d] = xr[d] * scale[d] + shift[d];
  }
}

/** out = [relu](x * scale + shift), per channel. */
inline void apply(const float* x, const float* scale, const float* shift, bool relu, float* out, int64_t rows, int c) {
#pragma omp parallel
  {
    const int t = omp_get_thread_num(), n = omp_get_num_threads();
    applyRows(x, scale, shift, relu, out, rows * t / n, rows * (t + 1) / n, c);
  }
}

BN_CLONES static void gradRows(const float* dy, const float* gate, const float* y, const float* a, const float* b, const float* k, float* out,
                               int64_t r0, int64_t r1, int c) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* dr = dy + r * c;
    const float* yr = y + r * c;
    float* o = out + r * c;
    if (gate) {
      const float* gr = gate + r * c;
      for (int d = 0; d < c; ++d) o[d] = openOr0(gr[d], dr[d]) * a[d] + yr[d] * b[d] + k[d];
    } else {
      for (int d = 0; d < c; ++d) o[d] = dr[d] * a[d] + yr[d] * b[d] + k[d];
    }
  }
}

/** out = dz * a + y * b + k with dz = gate > 0 ? dy : 0 (gate absent: dz = dy). */
inline void grad(const float* dy, const float* gate, const float* y, const float* a, const float* b, const float* k, float* out, int64_t rows, int c) {
#pragma omp parallel
  {
    const int t = omp_get_thread_num(), n = omp_get_num_threads();
    gradRows(dy, gate, y, a, b, k, out, rows * t / n, rows * (t + 1) / n, c);
  }
}

}  // namespace bn
