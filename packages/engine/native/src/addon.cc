// Node-API addon: NHWC float32 convolutions (forward with fused bias + ReLU, data gradient, weight
// gradient) on oneDNN, working in place on memory that JavaScript owns (views of the wasm heap).
//
// Every call is synchronous on the calling (main) thread; oneDNN parallelises inside it with
// OpenMP on the thread count set by setThreads. Activations stay NHWC (no reorders of large
// tensors); filters are reordered between TensorFlow.js's HWIO and whatever layout oneDNN's
// fastest implementation wants, which costs little (filters are small).
#include <node_api.h>
#include <omp.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

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

/** A filter in TensorFlow.js's HWIO layout and its copy in the layout a primitive wants. */
struct FilterLayout {
  memory::desc user, want;
  bool same;
  std::unique_ptr<dnnl::reorder> toWant, toUser;
  std::vector<float> buf;
  FilterLayout(const Geometry& g, const memory::desc& want, bool forward) : user(g.wei(tag::hwio)), want(want), same(user == want) {
    if (same) return;
    buf.resize(want.get_size() / sizeof(float));
    if (forward)
      toWant = std::make_unique<dnnl::reorder>(dnnl::reorder::primitive_desc(cpu(), user, cpu(), want));
    else
      toUser = std::make_unique<dnnl::reorder>(dnnl::reorder::primitive_desc(cpu(), want, cpu(), user));
  }
  /** oneDNN memory over the filter in the primitive's layout (reordered from `hwio` when needed). */
  memory in(float* hwio) {
    memory u(user, cpu(), hwio);
    if (same) return u;
    memory w(want, cpu(), buf.data());
    toWant->execute(strm(), u, w);
    return w;
  }
  memory out(float* hwio) { return same ? memory(user, cpu(), hwio) : memory(want, cpu(), buf.data()); }
  void finish(memory& m, float* hwio) {
    if (same) return;
    memory u(user, cpu(), hwio);
    toUser->execute(strm(), m, u);
  }
};

struct Forward {
  dnnl::convolution_forward prim;
  FilterLayout filter;
  std::string impl;
  Forward(const dnnl::convolution_forward::primitive_desc& pd, const Geometry& g)
      : prim(pd), filter(g, pd.weights_desc(), true), impl(pd.impl_info_str()) {}
};

struct BackwardData {
  dnnl::convolution_backward_data prim;
  FilterLayout filter;
  std::string impl;
  BackwardData(const dnnl::convolution_backward_data::primitive_desc& pd, const Geometry& g)
      : prim(pd), filter(g, pd.weights_desc(), true), impl(pd.impl_info_str()) {}
};

struct BackwardWeights {
  dnnl::convolution_backward_weights prim;
  FilterLayout filter;
  std::string impl;
  BackwardWeights(const dnnl::convolution_backward_weights::primitive_desc& pd, const Geometry& g)
      : prim(pd), filter(g, pd.diff_weights_desc(), false), impl(pd.impl_info_str()) {}
};

// Primitives per geometry: a network has a few dozen distinct convolutions, each built once.
std::map<std::string, std::unique_ptr<Forward>> forwards;
std::map<std::string, std::unique_ptr<BackwardData>> backwardDatas;
std::map<std::string, std::unique_ptr<BackwardWeights>> backwardWeights;

// ---- Node-API plumbing ----

struct JsError {
  std::string message;
};

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

size_t srcSize(const Geometry& g) { return size_t(g.n) * g.h * g.w * g.c; }
size_t dstSize(const Geometry& g) { return size_t(g.n) * g.ho * g.wo * g.o; }
size_t weiSize(const Geometry& g) { return size_t(g.kh) * g.kw * g.c * g.o; }

/** conv2d(x, w, bias | null, y, geometry, relu): y = [relu](conv(x, w) + bias). Returns the implementation's name. */
napi_value Conv2d(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value a[6];
    args(env, info, a);
    Geometry g = geometry(env, a[4]);
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
    f->filter.finish(diffWei, dw);
    strm().wait();
    return str(env, f->impl);
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
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof *props, props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
