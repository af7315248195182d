// Node-API addon: NHWC float32 convolutions (forward with fused bias + ReLU, data gradient, weight
// gradient) on oneDNN, working in place on memory that JavaScript owns (views of the wasm heap).
//
// Every call is synchronous on the calling (main) thread; oneDNN parallelises inside it with
// OpenMP on the thread count set by setThreads. Activations stay NHWC (no reorders of large
// tensors); filters are reordered between TensorFlow.js's HWIO and whatever layout oneDNN's
// fastest implementation wants, which costs little (filters are small).
#include <node_api.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "batchnorm.h"

namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

dnnl::engine& cpu() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& strm() {
  static dnnl::stream s(cpu());
  return s;
}

/** Geometry of one 2D convolution, as the JavaScript side passes it (17 int32). */
struct Geometry {
  int n, h, w, c, kh, kw, o, ho, wo, sh, sw, dh, dw, pt, pl, pb, pr;
  std::string key() const {
    char b[256];
    snprintf(b, sizeof b, "%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d", n, h, w, c, kh, kw, o, ho, wo, sh, sw, dh, dw, pt,
             pl, pb, pr);
    return b;
  }
  memory::desc src(tag t = tag::nhwc) const { return {{n, c, h, w}, dt::f32, t}; }
  memory::desc dst(tag t = tag::nhwc) const { return {{n, o, ho, wo}, dt::f32, t}; }
  memory::desc wei(tag t) const { return {{o, c, kh, kw}, dt::f32, t}; }
  memory::desc bias() const { return {{o}, dt::f32, tag::x}; }
  memory::dims strides() const { return {sh, sw}; }
  memory::dims dilates() const { return {dh - 1, dw - 1}; }
  memory::dims padL() const { return {pt, pl}; }
  memory::dims padR() const { return {pb, pr}; }
};

struct JsError {
  std::string message;
};

size_t srcSize(const Geometry& g) { return size_t(g.n) * g.h * g.w * g.c; }
size_t dstSize(const Geometry& g) { return size_t(g.n) * g.ho * g.wo * g.o; }
size_t weiSize(const Geometry& g) { return size_t(g.kh) * g.kw * g.c * g.o; }

/**
 * Runs its scope on one OpenMP thread when the work is small. Splitting a tiny convolution or pass
 * costs a wake-up of every thread per call, and on a busy machine a wait for a time slice each: a
 * small-tile training test ran 10x slower on two threads than on one. The choice depends only on the
 * geometry, so a given convolution always runs (and is built) on the same thread count.
 */
struct ThreadsFor {
  int saved = omp_get_max_threads();
  explicit ThreadsFor(double work) {
    if (work < 4e6) omp_set_num_threads(1);
  }
  ~ThreadsFor() { omp_set_num_threads(saved); }
};

/** Multiply-adds of a convolution (any direction). */
double convWork(const Geometry& g) { return double(g.n) * g.ho * g.wo * g.o * g.c * g.kh * g.kw; }

/** Forward primitive descriptor (also the hint every backward primitive needs). */
dnnl::convolution_forward::primitive_desc forwardPd(const Geometry& g, bool bias, bool relu, dnnl::prop_kind kind) {
  auto d = bias ? dnnl::convolution_forward::desc(kind, dnnl::algorithm::convolution_direct, g.src(), g.wei(tag::any), g.bias(),
                                                  g.dst(), g.strides(), g.dilates(), g.padL(), g.padR())
                : dnnl::convolution_forward::desc(kind, dnnl::algorithm::convolution_direct, g.src(), g.wei(tag::any), g.dst(),
                                                  g.strides(), g.dilates(), g.padL(), g.padR());
  dnnl::primitive_attr attr;
  if (relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(ops);
  }
  return dnnl::convolution_forward::primitive_desc(d, attr, cpu());
}

/**
 * Offsets, in a blocked oneDNN layout, of every element of a filter in HWIO order. oneDNN's own
 * reorder from HWIO (jit:uni) measured 1-2 ms for a 16x16x3x3 filter, more than the convolution;
 * a precomputed gather/scatter is microseconds.
 */
std::vector<int32_t> hwioOffsets(const Geometry& g, const memory::desc& md) {
  const dnnl_memory_desc_t& d = md.data;
  if (d.format_kind != dnnl_blocked) throw JsError{"unexpected (non-blocked) filter layout"};
  const auto& b = d.format_desc.blocking;
  int64_t block[4] = {1, 1, 1, 1};
  for (int j = 0; j < b.inner_nblks; ++j) block[b.inner_idxs[j]] *= b.inner_blks[j];
  std::vector<int32_t> out(weiSize(g));
  size_t k = 0;
  for (int h = 0; h < g.kh; ++h)
    for (int w = 0; w < g.kw; ++w)
      for (int i = 0; i < g.c; ++i)
        for (int o = 0; o < g.o; ++o) {
          const int64_t idx[4] = {o, i, h, w};  // logical dims of the weights desc: O, I, H, W
          int64_t off = d.offset0;
          for (int a = 0; a < 4; ++a) off += (idx[a] / block[a]) * b.strides[a];
          // Inner blocks, outermost first: a mixed-radix number over each dimension's remainder.
          int64_t inner = 0, rest[4] = {block[0], block[1], block[2], block[3]};
          for (int j = 0; j < b.inner_nblks; ++j) {
            int a = b.inner_idxs[j];
            rest[a] /= b.inner_blks[j];
            inner = inner * b.inner_blks[j] + (idx[a] % block[a]) / rest[a] % b.inner_blks[j];
          }
          out[k++] = static_cast<int32_t>(off + inner);
        }
  return out;
}

/** A filter in TensorFlow.js's HWIO layout and its copy in the layout a primitive wants. */
struct FilterLayout {
  memory::desc user, want;
  bool same;
  std::vector<int32_t> offsets;
  std::vector<float> buf;
  FilterLayout(const Geometry& g, const memory::desc& want) : user(g.wei(tag::hwio)), want(want), same(user == want) {
    if (same) return;
    offsets = hwioOffsets(g, want);
    buf.assign(want.get_size() / sizeof(float), 0.f);  // padding stays zero
  }
  /** oneDNN memory over the filter in the primitive's layout (copied from `hwio` when needed). */
  memory in(const float* hwio) {
    if (same) return memory(user, cpu(), const_cast<float*>(hwio));
    for (size_t k = 0; k < offsets.size(); ++k) buf[offsets[k]] = hwio[k];
    return memory(want, cpu(), buf.data());
  }
  memory out(float* hwio) { return same ? memory(user, cpu(), hwio) : memory(want, cpu(), buf.data()); }
  void finish(float* hwio) {
    if (same) return;
    for (size_t k = 0; k < offsets.size(); ++k) hwio[k] = buf[offsets[k]];
  }
};

struct Forward {
  dnnl::convolution_forward prim;
  FilterLayout filter;
  std::string impl;
  Forward(const dnnl::convolution_forward::primitive_desc& pd, const Geometry& g)
      : prim(pd), filter(g, pd.weights_desc()), impl(pd.impl_info_str()) {}
};

struct BackwardData {
  dnnl::convolution_backward_data prim;
  FilterLayout filter;
  std::string impl;
  BackwardData(const dnnl::convolution_backward_data::primitive_desc& pd, const Geometry& g)
      : prim(pd), filter(g, pd.weights_desc()), impl(pd.impl_info_str()) {}
};

struct BackwardWeights {
  dnnl::convolution_backward_weights prim;
  FilterLayout filter;
  std::string impl;
  BackwardWeights(const dnnl::convolution_backward_weights::primitive_desc& pd, const Geometry& g)
      : prim(pd), filter(g, pd.diff_weights_desc()), impl(pd.impl_info_str()) {}
};

// Primitives per geometry: a network has a few dozen distinct convolutions, each built once.
std::map<std::string, std::unique_ptr<Forward>> forwards;
std::map<std::string, std::unique_ptr<BackwardData>> backwardDatas;
std::map<std::string, std::unique_ptr<BackwardWeights>> backwardWeights;

// ---- Node-API plumbing ----

#define CHECK(call)                                               \
  do {                                                            \
    if ((call) != napi_ok) throw JsError{"Node-API call failed: " #call}; \
  } while (0)

float* floats(napi_env env, napi_value v, size_t want, const char* what) {
  bool is = false;
  CHECK(napi_is_typedarray(env, v, &is));
  if (!is) throw JsError{std::string(what) + " must be a Float32Array"};
  napi_typedarray_type type;
  size_t length;
  void* data;
  CHECK(napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr));
  if (type != napi_float32_array) throw JsError{std::string(what) + " must be a Float32Array"};
  if (length != want) throw JsError{std::string(what) + " has " + std::to_string(length) + " elements, expected " + std::to_string(want)};
  return static_cast<float*>(data);
}

Geometry geometry(napi_env env, napi_value v) {
  napi_typedarray_type type;
  size_t length;
  void* data;
  CHECK(napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr));
  if (type != napi_int32_array || length != 17) throw JsError{"geometry must be an Int32Array of 17"};
  Geometry g;
  std::memcpy(&g, data, sizeof g);
  return g;
}

template <size_t N>
void args(napi_env env, napi_callback_info info, napi_value (&out)[N]) {
  size_t argc = N;
  CHECK(napi_get_cb_info(env, info, &argc, out, nullptr, nullptr));
  if (argc < N) throw JsError{"expected " + std::to_string(N) + " arguments"};
}

template <typename F>
napi_value guarded(napi_env env, F f) {
  try {
    return f();
  } catch (const JsError& e) {
    napi_throw_error(env, nullptr, e.message.c_str());
  } catch (const dnnl::error& e) {
    napi_throw_error(env, nullptr, (std::string("oneDNN: ") + e.what()).c_str());
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
  }
  return nullptr;
}

napi_value str(napi_env env, const std::string& s) {
  napi_value v;
  napi_create_string_utf8(env, s.c_str(), s.size(), &v);
  return v;
}


/** conv2d(x, w, bias | null, y, geometry, relu): y = [relu](conv(x, w) + bias). Returns the implementation's name. */
napi_value Conv2d(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value a[6];
    args(env, info, a);
    Geometry g = geometry(env, a[4]);
    ThreadsFor threads(convWork(g));
    napi_valuetype bt;
    CHECK(napi_typeof(env, a[2], &bt));
    bool hasBias = bt != napi_null && bt != napi_undefined;
    bool relu = false;
    CHECK(napi_get_value_bool(env, a[5], &relu));
    float* x = floats(env, a[0], srcSize(g), "x");
    float* w = floats(env, a[1], weiSize(g), "filter");
    float* b = hasBias ? floats(env, a[2], g.o, "bias") : nullptr;
    float* y = floats(env, a[3], dstSize(g), "y");
    std::string key = g.key() + (hasBias ? ",b" : ",-") + (relu ? ",r" : ",-");
    auto& f = forwards[key];
    if (!f) f = std::make_unique<Forward>(forwardPd(g, hasBias, relu, dnnl::prop_kind::forward_inference), g);
    memory src(g.src(), cpu(), x), dst(g.dst(), cpu(), y);
    memory wei = f->filter.in(w);
    std::unordered_map<int, memory> m{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}};
    if (hasBias) m.emplace(DNNL_ARG_BIAS, memory(g.bias(), cpu(), b));
    f->prim.execute(strm(), m);
    strm().wait();
    return str(env, f->impl);
  });
}

/** conv2dBackwardData(dy, w, dx, geometry): dx = gradient of conv(x, w) with respect to x. */
napi_value Conv2dBackwardData(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value a[4];
    args(env, info, a);
    Geometry g = geometry(env, a[3]);
    ThreadsFor threads(convWork(g));
    float* dy = floats(env, a[0], dstSize(g), "dy");
    float* w = floats(env, a[1], weiSize(g), "filter");
    float* dx = floats(env, a[2], srcSize(g), "dx");
    auto& f = backwardDatas[g.key()];
    if (!f) {
      auto hint = forwardPd(g, false, false, dnnl::prop_kind::forward_training);
      dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, g.src(), g.wei(tag::any), g.dst(), g.strides(),
                                             g.dilates(), g.padL(), g.padR());
      f = std::make_unique<BackwardData>(dnnl::convolution_backward_data::primitive_desc(d, cpu(), hint), g);
    }
    memory diffDst(g.dst(), cpu(), dy), diffSrc(g.src(), cpu(), dx);
    memory wei = f->filter.in(w);
    f->prim.execute(strm(), {{DNNL_ARG_DIFF_DST, diffDst}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DIFF_SRC, diffSrc}});
    strm().wait();
    return str(env, f->impl);
  });
}

/** conv2dBackwardWeights(x, dy, dw, geometry): dw = gradient of conv(x, w) with respect to w (HWIO). */
napi_value Conv2dBackwardWeights(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value a[4];
    args(env, info, a);
    Geometry g = geometry(env, a[3]);
    ThreadsFor threads(convWork(g));
    float* x = floats(env, a[0], srcSize(g), "x");
    float* dy = floats(env, a[1], dstSize(g), "dy");
    float* dw = floats(env, a[2], weiSize(g), "dw");
    auto& f = backwardWeights[g.key()];
    if (!f) {
      auto hint = forwardPd(g, false, false, dnnl::prop_kind::forward_training);
      dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, g.src(), g.wei(tag::any), g.dst(),
                                                g.strides(), g.dilates(), g.padL(), g.padR());
      f = std::make_unique<BackwardWeights>(dnnl::convolution_backward_weights::primitive_desc(d, cpu(), hint), g);
    }
    memory src(g.src(), cpu(), x), diffDst(g.dst(), cpu(), dy);
    memory diffWei = f->filter.out(dw);
    f->prim.execute(strm(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, diffDst}, {DNNL_ARG_DIFF_WEIGHTS, diffWei}});
    f->filter.finish(dw);
    strm().wait();
    return str(env, f->impl);
  });
}

/**
 * maxPoolGrad(x, dy, dx, geometry [n, h, w, c, fh, fw, ho, wo, sh, sw, pt, pl]): each output's
 * gradient goes to the first maximum of its window in row-major order (ties as tfjs's cpu backend
 * breaks them); windows that overlap add up. Rows run in parallel only when windows cannot overlap
 * between rows, so the result never depends on the thread count.
 */
napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value a[4];
    args(env, info, a);
    napi_typedarray_type type;
    size_t length;
    void* data;
    CHECK(napi_get_typedarray_info(env, a[3], &type, &length, &data, nullptr, nullptr));
    if (type != napi_int32_array || length != 12) throw JsError{"pool geometry must be an Int32Array of 12"};
    const int32_t* p = static_cast<const int32_t*>(data);
    const int n = p[0], h = p[1], w = p[2], c = p[3], fh = p[4], fw = p[5], ho = p[6], wo = p[7], sh = p[8], sw = p[9], pt = p[10], pl = p[11];
    const float* x = floats(env, a[0], size_t(n) * h * w * c, "x");
    const float* dy = floats(env, a[1], size_t(n) * ho * wo * c, "dy");
    float* dx = floats(env, a[2], size_t(n) * h * w * c, "dx");
    std::memset(dx, 0, sizeof(float) * size_t(n) * h * w * c);
    ThreadsFor threads(double(n) * h * w * c * 4);
    const bool rowsDisjoint = sh >= fh;
    const int rows = n * ho;
#pragma omp parallel for schedule(static) if (rowsDisjoint)
    for (int r = 0; r < rows; ++r) {
      const int b = r / ho, yr = r % ho;
      std::vector<int64_t> at(c);
      std::vector<float> best(c);
      for (int yc = 0; yc < wo; ++yc) {
        std::fill(at.begin(), at.end(), -1);
        std::fill(best.begin(), best.end(), -INFINITY);
        for (int i = 0; i < fh; ++i) {
          const int xr = yr * sh - pt + i;
          if (xr < 0 || xr >= h) continue;
          for (int j = 0; j < fw; ++j) {
            const int xc = yc * sw - pl + j;
            if (xc < 0 || xc >= w) continue;
            const int64_t base = ((int64_t(b) * h + xr) * w + xc) * c;
            for (int d = 0; d < c; ++d)
              if (x[base + d] > best[d]) {
                best[d] = x[base + d];
                at[d] = base + d;
              }
          }
        }
        const float* g = dy + ((int64_t(b) * ho + yr) * wo + yc) * c;
        for (int d = 0; d < c; ++d)
          if (at[d] >= 0) dx[at[d]] += g[d];
      }
    }
    return nullptr;
  });
}

/** Optional Float32Array argument (null or undefined: nullptr). */
float* optionalFloats(napi_env env, napi_value v, size_t want, const char* what) {
  napi_valuetype t;
  CHECK(napi_typeof(env, v, &t));
  return t == napi_null || t == napi_undefined ? nullptr : floats(env, v, want, what);
}

int64_t rowsOf(napi_env env, napi_value v, int32_t c, size_t* size) {
  napi_typedarray_type type;
  CHECK(napi_get_typedarray_info(env, v, &type, size, nullptr, nullptr, nullptr));
  if (c < 1 || *size % c) throw JsError{"tensor size is not a multiple of the channel count"};
  return int64_t(*size / c);
}

/** bnMoments(x, c, out[2c]): per-channel means of x and x^2 over all other axes. */
napi_value BnMoments(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value a[3];
    args(env, info, a);
    int32_t c;
    CHECK(napi_get_value_int32(env, a[1], &c));
    size_t size;
    int64_t rows = rowsOf(env, a[0], c, &size);
    ThreadsFor threads(double(size) * 4);
    bn::moments(floats(env, a[0], size, "x"), nullptr, nullptr, rows, c, floats(env, a[2], 2 * size_t(c), "out"));
    return nullptr;
  });
}

/** bnGradMoments(dy, gate | null, y, c, out[2c]): means of dz and dz * y, dz = gate > 0 ? dy : 0. */
napi_value BnGradMoments(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value a[5];
    args(env, info, a);
    int32_t c;
    CHECK(napi_get_value_int32(env, a[3], &c));
    size_t size;
    int64_t rows = rowsOf(env, a[0], c, &size);
    ThreadsFor threads(double(size) * 4);
    bn::moments(floats(env, a[0], size, "dy"), optionalFloats(env, a[1], size, "gate"), floats(env, a[2], size, "y"), rows, c,
                floats(env, a[4], 2 * size_t(c), "out"));
    return nullptr;
  });
}

/** bnApply(x, scale, shift, relu, out): out = [relu](x * scale + shift). */
napi_value BnApply(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value a[5];
    args(env, info, a);
    napi_typedarray_type type;
    size_t c;
    CHECK(napi_get_typedarray_info(env, a[1], &type, &c, nullptr, nullptr, nullptr));
    size_t size;
    int64_t rows = rowsOf(env, a[0], int32_t(c), &size);
    bool relu;
    CHECK(napi_get_value_bool(env, a[3], &relu));
    ThreadsFor threads(double(size) * 4);
    bn::apply(floats(env, a[0], size, "x"), floats(env, a[1], c, "scale"), floats(env, a[2], c, "shift"), relu, floats(env, a[4], size, "out"), rows,
              int(c));
    return nullptr;
  });
}

/** bnGrad(dy, gate | null, y, a, b, k, out): out = dz * a + y * b + k, dz = gate > 0 ? dy : 0. */
napi_value BnGrad(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value a[7];
    args(env, info, a);
    napi_typedarray_type type;
    size_t c;
    CHECK(napi_get_typedarray_info(env, a[3], &type, &c, nullptr, nullptr, nullptr));
    size_t size;
    int64_t rows = rowsOf(env, a[0], int32_t(c), &size);
    ThreadsFor threads(double(size) * 4);
    bn::grad(floats(env, a[0], size, "dy"), optionalFloats(env, a[1], size, "gate"), floats(env, a[2], size, "y"), floats(env, a[3], c, "a"),
             floats(env, a[4], c, "b"), floats(env, a[5], c, "k"), floats(env, a[6], size, "out"), rows, int(c));
    return nullptr;
  });
}

/** setThreads(n): OpenMP threads for every later call (from this thread). */
napi_value SetThreads(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value a[1];
    args(env, info, a);
    int32_t n = 1;
    CHECK(napi_get_value_int32(env, a[0], &n));
    if (n < 1) throw JsError{"threads must be at least 1"};
    omp_set_dynamic(0);
    omp_set_num_threads(n);
    return nullptr;
  });
}

/** info(): { version, isa, threads }. */
napi_value Info(napi_env env, napi_callback_info) {
  return guarded(env, [&]() -> napi_value {
    napi_value o;
    CHECK(napi_create_object(env, &o));
    const dnnl_version_t* v = dnnl_version();
    std::string version = std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
    CHECK(napi_set_named_property(env, o, "version", str(env, version)));
    const char* isas[] = {"all", "sse41", "avx", "avx2", "avx2_vnni", "avx512_core", "avx512_core_vnni", "avx512_core_bf16", "avx512_core_amx"};
    dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
    std::string name;
    switch (isa) {
      case dnnl::cpu_isa::sse41: name = isas[1]; break;
      case dnnl::cpu_isa::avx: name = isas[2]; break;
      case dnnl::cpu_isa::avx2: name = isas[3]; break;
      case dnnl::cpu_isa::avx2_vnni: name = isas[4]; break;
      case dnnl::cpu_isa::avx512_core: name = isas[5]; break;
      case dnnl::cpu_isa::avx512_core_vnni: name = isas[6]; break;
      case dnnl::cpu_isa::avx512_core_bf16: name = isas[7]; break;
      case dnnl::cpu_isa::avx512_core_amx: name = isas[8]; break;
      default: name = "other";
    }
    CHECK(napi_set_named_property(env, o, "isa", str(env, name)));
    napi_value t;
    CHECK(napi_create_int32(env, omp_get_max_threads(), &t));
    CHECK(napi_set_named_property(env, o, "threads", t));
    return o;
  });
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"conv2d", nullptr, Conv2d, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2dBackwardData", nullptr, Conv2dBackwardData, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2dBackwardWeights", nullptr, Conv2dBackwardWeights, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"maxPoolGrad", nullptr, MaxPoolGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bnMoments", nullptr, BnMoments, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bnGradMoments", nullptr, BnGradMoments, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bnApply", nullptr, BnApply, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bnGrad", nullptr, BnGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof *props, props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
