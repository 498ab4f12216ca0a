// The thin Node-API surface over the engine. Each method converts arguments,
// calls one engine function and converts the result; every C++ exception
// becomes a JS Error (with `code` for the ones callers branch on).
#include <napi.h>

#include "convert.h"

#include <memory>
#include <string>

#include "first/engine.h"
#include "first/error.h"
#include "first/gguf.h"
#include "first/lora.h"
#include "first/model.h"
#include "first/quant.h"
#include "first/read_bandwidth.h"
#include "trainer.h"

namespace {

using first::Engine;
using first::Model;

using binding::float_array;
using binding::guard;
using binding::int32_array;
using binding::int_arg;

Napi::Value gguf_value(const Napi::Env& env, const first::GgufValue& v) {
  using T = first::GgufValueType;
  switch (v.type) {
    case T::STRING: return Napi::String::New(env, v.as_string());
    case T::BOOL: return Napi::Boolean::New(env, v.as_bool());
    case T::FLOAT32:
    case T::FLOAT64: return Napi::Number::New(env, v.as_float());
    case T::ARRAY: {
      const auto& arr = v.as_array();
      Napi::Array out = Napi::Array::New(env, arr.size());
      for (size_t i = 0; i < arr.size(); ++i) out.Set(static_cast<uint32_t>(i), gguf_value(env, arr[i]));
      return out;
    }
    case T::UINT64:
    case T::INT64: {
      double d = v.as_float();
      if (d > 9007199254740991.0 || d < -9007199254740991.0) {
        if (v.type == T::UINT64) return Napi::BigInt::New(env, static_cast<uint64_t>(std::get<uint64_t>(v.v)));
        return Napi::BigInt::New(env, v.as_int());
      }
      return Napi::Number::New(env, d);
    }
    default: return Napi::Number::New(env, static_cast<double>(v.as_int()));
  }
}

// setKernels(name): caps the kernel set process-wide ("scalar", "avx2", "avx512");
// returns the set now active, which is lower when the CPU lacks the one asked for.
Napi::Value SetKernels(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  first::KernelSet set;
  if (info.Length() < 1 || !info[0].IsString() || !first::parse_kernel_set(info[0].As<Napi::String>().Utf8Value().c_str(), &set))
    throw Napi::TypeError::New(env, "setKernels(name): name must be \"scalar\", \"avx2\" or \"avx512\"");
  first::set_kernel_limit(set);
  return Napi::String::New(env, first::kernel_isa());
}

// measureReadBandwidth(threads, mib = 512, passes = 5): how fast `threads`
// threads stream memory, for benchmarks to set decode speed against.
Napi::Value MeasureReadBandwidth(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto int_arg = [&](size_t i, int fallback, int lo, int hi, const char* name) {
    if (info.Length() <= i || info[i].IsUndefined()) return fallback;
    const double v = info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : -1;
    if (!(v >= lo && v <= hi) || v != static_cast<int>(v))
      throw Napi::TypeError::New(env, std::string("measureReadBandwidth: ") + name + " must be an integer " + std::to_string(lo) + ".." + std::to_string(hi));
    return static_cast<int>(v);
  };
  const int threads = int_arg(0, 1, 1, 256, "threads");
  const int mib = int_arg(1, 512, 1, 16384, "mib");
  const int passes = int_arg(2, 5, 1, 1000, "passes");
  return guard(env, [&]() -> Napi::Value {
    first::ThreadPool pool(threads);
    const first::ReadBandwidth bw = first::measure_read_bandwidth(pool, static_cast<size_t>(mib) << 20, passes);
    Napi::Object o = Napi::Object::New(env);
    o.Set("gbPerSecond", bw.gb_per_second);
    o.Set("bestGbPerSecond", bw.best_gb_per_second);
    o.Set("bytes", static_cast<double>(bw.bytes));
    o.Set("passes", bw.passes);
    o.Set("threads", threads);
    return o;
  });
}

// The kernel sets this CPU can run, best first.
Napi::Value KernelSets(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (first::KernelSet s : {first::KernelSet::Avx512, first::KernelSet::Avx2, first::KernelSet::Scalar})
    if (s <= first::best_kernel_set()) out.Set(i++, Napi::String::New(env, first::kernel_set_name(s)));
  return out;
}

Napi::Value ReadGguf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "readGguf(path): path must be a string");
  return guard(env, [&]() -> Napi::Value {
    auto f = first::open_model_file(info[0].As<Napi::String>().Utf8Value());
    Napi::Object out = Napi::Object::New(env);
    out.Set("version", f->version());
    out.Set("alignment", static_cast<double>(f->alignment()));
    out.Set("fileSize", static_cast<double>(f->file_size()));
    Napi::Object meta = Napi::Object::New(env);
    for (const auto& kv : f->metadata()) meta.Set(kv.first, gguf_value(env, kv.second));
    out.Set("metadata", meta);
    Napi::Array tensors = Napi::Array::New(env, f->tensors().size());
    uint32_t i = 0;
    for (const auto& t : f->tensors()) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", t.name);
      const first::TypeInfo* ti = first::type_info(static_cast<uint32_t>(t.type));
      o.Set("type", ti ? ti->name : "?");
      Napi::Array shape = Napi::Array::New(env, t.shape.size());
      for (uint32_t j = 0; j < t.shape.size(); ++j) shape.Set(j, static_cast<double>(t.shape[j]));
      o.Set("shape", shape);
      o.Set("offset", static_cast<double>(t.offset));
      o.Set("nBytes", static_cast<double>(t.n_bytes));
      tensors.Set(i++, o);
    }
    out.Set("tensors", tensors);
    return out;
  });
}

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Model", {InstanceMethod("config", &ModelWrap::Config)});
  }
  ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "new Model(path): path must be a string");
    model = guard(env, [&] { return std::shared_ptr<Model>(Model::load(info[0].As<Napi::String>().Utf8Value())); });
  }
  std::shared_ptr<Model> model;

 private:
  Napi::Value Config(const Napi::CallbackInfo& info) {
    const auto& c = model->config();
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("architecture", c.architecture);
    o.Set("nLayers", c.n_layers);
    o.Set("dModel", c.d_model);
    o.Set("nHeads", c.n_heads);
    o.Set("nKvHeads", c.n_kv_heads);
    o.Set("headDim", c.head_dim);
    o.Set("ffnDim", c.ffn_dim);
    o.Set("vocabSize", c.vocab_size);
    o.Set("contextLength", c.context_length);
    o.Set("ropeBase", c.rope_base);
    o.Set("rmsEps", c.rms_eps);
    o.Set("tiedOutput", c.tied_output);
    o.Set("weightBytes", static_cast<double>(model->weight_bytes()));
    o.Set("kernels", first::kernel_isa());
    return o;
  }
};

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Engine",
                       {
                           InstanceMethod("createSequence", &EngineWrap::CreateSequence),
                           InstanceMethod("freeSequence", &EngineWrap::FreeSequence),
                           InstanceMethod("forkSequence", &EngineWrap::ForkSequence),
                           InstanceMethod("sequenceLength", &EngineWrap::SequenceLength),
                           InstanceMethod("truncateSequence", &EngineWrap::TruncateSequence),
                           InstanceMethod("beginBatch", &EngineWrap::BeginBatch),
                           InstanceMethod("runLayer", &EngineWrap::RunLayer),
                           InstanceMethod("meanHidden", &EngineWrap::MeanHidden),
                           InstanceMethod("hiddenRows", &EngineWrap::HiddenRows),
                           InstanceMethod("logits", &EngineWrap::Logits),
                           InstanceMethod("commitBatch", &EngineWrap::CommitBatch),
                           InstanceMethod("kvStats", &EngineWrap::KvStats),
                           InstanceMethod("info", &EngineWrap::Info),
                           InstanceMethod("setLora", &EngineWrap::SetLora),
                           InstanceMethod("clearLora", &EngineWrap::ClearLora),
                           InstanceMethod("setDefaultAdapter", &EngineWrap::SetDefaultAdapter),
                       });
  }

  // new Engine(model, { threads, blockTokens, kvBlocks, maxSequences, contextLength })
  EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(env.GetInstanceData<Napi::FunctionReference>()->Value()))
      throw Napi::TypeError::New(env, "new Engine(model, options): model must be a Model");
    model_ = ModelWrap::Unwrap(info[0].As<Napi::Object>())->model;
    first::EngineOptions o;
    if (info.Length() > 1 && info[1].IsObject()) {
      Napi::Object opts = info[1].As<Napi::Object>();
      auto num = [&](const char* k, auto& field) {
        Napi::Value v = opts.Get(k);
        if (v.IsUndefined()) return;
        if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string("engine option ") + k + " must be a number");
        field = static_cast<std::remove_reference_t<decltype(field)>>(v.As<Napi::Number>().Int64Value());
      };
      num("threads", o.threads);
      num("blockTokens", o.block_tokens);
      num("kvBlocks", o.kv_blocks);
      num("maxSequences", o.max_sequences);
      num("contextLength", o.context_length);
    }
    engine_ = guard(env, [&] { return std::make_unique<Engine>(*model_, o); });
  }

 private:
  Napi::Value CreateSequence(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), guard(info.Env(), [&] { return engine_->create_sequence(); }));
  }
  Napi::Value FreeSequence(const Napi::CallbackInfo& info) {
    int s = int_arg(info, 0, "sequence");
    guard(info.Env(), [&] { engine_->free_sequence(s); });
    return info.Env().Undefined();
  }
  Napi::Value ForkSequence(const Napi::CallbackInfo& info) {
    int s = int_arg(info, 0, "sequence");
    return Napi::Number::New(info.Env(), guard(info.Env(), [&] { return engine_->fork_sequence(s); }));
  }
  Napi::Value SequenceLength(const Napi::CallbackInfo& info) {
    int s = int_arg(info, 0, "sequence");
    return Napi::Number::New(info.Env(), guard(info.Env(), [&] { return engine_->sequence_length(s); }));
  }
  Napi::Value TruncateSequence(const Napi::CallbackInfo& info) {
    int s = int_arg(info, 0, "sequence"), n = int_arg(info, 1, "length");
    guard(info.Env(), [&] { engine_->truncate_sequence(s, n); });
    return info.Env().Undefined();
  }
  // beginBatch([{ seq, tokens: Int32Array }])
  Napi::Value BeginBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "beginBatch(entries): entries must be an array");
    Napi::Array arr = info[0].As<Napi::Array>();
    std::vector<first::BatchEntry> entries(arr.Length());
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      Napi::Value ev = arr.Get(i);
      if (!ev.IsObject()) throw Napi::TypeError::New(env, "batch entries must be objects { seq, tokens }");
      Napi::Object e = ev.As<Napi::Object>();
      if (!e.Get("seq").IsNumber()) throw Napi::TypeError::New(env, "batch entry seq must be a number");
      entries[i].seq = e.Get("seq").As<Napi::Number>().Int32Value();
      auto toks = int32_array(env, e.Get("tokens"), "batch entry tokens");
      entries[i].tokens.assign(toks.begin(), toks.end());
      Napi::Value ad = e.Get("adapter");
      if (!ad.IsUndefined()) {
        if (!ad.IsNumber()) throw Napi::TypeError::New(env, "batch entry adapter must be a number");
        entries[i].adapter = ad.As<Napi::Number>().Int32Value();
      }
    }
    guard(env, [&] { engine_->begin_batch(entries); });
    return env.Undefined();
  }
  // runLayer(layer, entries: Int32Array | number[])
  Napi::Value RunLayer(const Napi::CallbackInfo& info) {
    int layer = int_arg(info, 0, "layer");
    if (info.Length() < 2) throw Napi::TypeError::New(info.Env(), "runLayer(layer, entries)");
    auto which = int32_array(info.Env(), info[1], "entries");
    guard(info.Env(), [&] { engine_->run_layer(layer, which); });
    return info.Env().Undefined();
  }
  // meanHidden(entry, out?: Float32Array) -> Float32Array(dModel)
  Napi::Value MeanHidden(const Napi::CallbackInfo& info) {
    int e = int_arg(info, 0, "entry");
    Napi::Float32Array out = float_out(info, 1, engine_->config().d_model);
    guard(info.Env(), [&] { engine_->mean_hidden(e, out.Data()); });
    return out;
  }
  Napi::Value HiddenRows(const Napi::CallbackInfo& info) {
    int e = int_arg(info, 0, "entry");
    size_t n = guard(info.Env(), [&] { return static_cast<size_t>(engine_->batch_tokens(e)); });
    Napi::Float32Array out = Napi::Float32Array::New(info.Env(), n * engine_->config().d_model);
    guard(info.Env(), [&] { engine_->hidden_rows(e, out.Data()); });
    return out;
  }
  // logits(lastOnly = true, out?: Float32Array) -> Float32Array(rows * vocab)
  Napi::Value Logits(const Napi::CallbackInfo& info) {
    bool last_only = info.Length() < 1 || info[0].IsUndefined() || info[0].ToBoolean().Value();
    size_t rows = static_cast<size_t>(engine_->logits_rows(last_only));
    Napi::Float32Array out = float_out(info, 1, rows * engine_->config().vocab_size);
    guard(info.Env(), [&] { engine_->logits(out.Data(), last_only); });
    return out;
  }
  Napi::Value CommitBatch(const Napi::CallbackInfo& info) {
    engine_->commit_batch();
    return info.Env().Undefined();
  }
  // kvStats(seq?) -> { usedBlocks, freeBlocks, blockBytes, blockTokens, sequenceBlocks?, layerBlocks? }
  Napi::Value KvStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      const first::KvCache& kv = engine_->kv();
      Napi::Object o = Napi::Object::New(env);
      o.Set("usedBlocks", static_cast<double>(kv.used_blocks()));
      o.Set("freeBlocks", static_cast<double>(kv.free_blocks()));
      o.Set("blockBytes", static_cast<double>(kv.block_bytes()));
      o.Set("blockTokens", kv.config().block_tokens);
      if (info.Length() > 0 && info[0].IsNumber()) {
        int s = info[0].As<Napi::Number>().Int32Value();
        o.Set("sequenceBlocks", static_cast<double>(kv.sequence_blocks(s)));
        Napi::Array per = Napi::Array::New(env, kv.config().n_layers);
        for (int l = 0; l < kv.config().n_layers; ++l)
          per.Set(static_cast<uint32_t>(l), static_cast<double>(kv.sequence_layer_blocks(s, l)));
        o.Set("layerBlocks", per);
      }
      return o;
    });
  }
  // setLora(layer, module, A: Float32Array [rank x in], B: Float32Array [out x rank], scale, adapter = 1)
  Napi::Value SetLora(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int layer = int_arg(info, 0, "layer");
    if (info.Length() < 5 || !info[1].IsString() || !info[2].IsTypedArray() || !info[3].IsTypedArray() || !info[4].IsNumber())
      throw Napi::TypeError::New(env, "setLora(layer, module, A, B, scale)");
    std::string module = info[1].As<Napi::String>().Utf8Value();
    auto a = info[2].As<Napi::Float32Array>();
    auto b = info[3].As<Napi::Float32Array>();
    float scale = info[4].As<Napi::Number>().FloatValue();
    int adapter = 1;
    if (info.Length() > 5 && !info[5].IsUndefined()) adapter = int_arg(info, 5, "adapter");
    guard(env, [&] {
      const auto& c = engine_->config();
      const first::LoraModule m = first::parse_lora_module(module);
      const int64_t in = m == first::LoraModule::O ? c.q_dim() : m == first::LoraModule::Down ? c.ffn_dim : c.d_model;
      if (a.ElementLength() == 0 || a.ElementLength() % in != 0)
        throw first::Error("LoRA A for " + module + " must hold rank x " + std::to_string(in) + " floats");
      const int64_t out = m == first::LoraModule::Q                                 ? c.q_dim()
                          : (m == first::LoraModule::K || m == first::LoraModule::V) ? c.kv_dim()
                          : (m == first::LoraModule::Gate || m == first::LoraModule::Up) ? c.ffn_dim
                                                                                         : c.d_model;
      const int64_t rank = static_cast<int64_t>(a.ElementLength()) / in;
      if (static_cast<int64_t>(b.ElementLength()) != out * rank)
        throw first::Error("LoRA B for " + module + " must hold " + std::to_string(out) + " x " + std::to_string(rank) + " floats");
      engine_->set_lora(layer, module, static_cast<int>(rank), a.Data(), b.Data(), scale, adapter);
    });
    return env.Undefined();
  }
  // setDefaultAdapter(adapter): the adapter of batch entries that name none (0: the base model).
  Napi::Value SetDefaultAdapter(const Napi::CallbackInfo& info) {
    int adapter = int_arg(info, 0, "adapter");
    guard(info.Env(), [&] { engine_->set_default_adapter(adapter); });
    return info.Env().Undefined();
  }
  Napi::Value ClearLora(const Napi::CallbackInfo& info) {
    engine_->clear_lora();
    return info.Env().Undefined();
  }
  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("threads", engine_->threads());
    o.Set("contextLength", engine_->context_length());
    o.Set("kernels", first::kernel_isa());
    o.Set("maxBlocks", static_cast<double>(engine_->kv().config().max_blocks));
    return o;
  }

  Napi::Float32Array float_out(const Napi::CallbackInfo& info, size_t i, size_t n) {
    if (info.Length() > i && !info[i].IsUndefined()) {
      if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
        throw Napi::TypeError::New(info.Env(), "output buffer must be a Float32Array");
      auto out = info[i].As<Napi::Float32Array>();
      if (out.ElementLength() < n)
        throw Napi::RangeError::New(info.Env(), "output buffer too small: need " + std::to_string(n) + " floats");
      return out;
    }
    return Napi::Float32Array::New(info.Env(), n);
  }

  std::shared_ptr<Model> model_;  // keeps the weights mapped while the engine lives
  std::unique_ptr<Engine> engine_;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Napi::Function model = ModelWrap::Define(env);
  // Per-environment (each worker thread loads its own copy of the addon).
  env.SetInstanceData(new Napi::FunctionReference(Napi::Persistent(model)));
  exports.Set("Model", model);
  exports.Set("Engine", EngineWrap::Define(env));
  exports.Set("readGguf", Napi::Function::New(env, ReadGguf));
  const std::string env_problem = first::kernel_env_problem();
  if (!env_problem.empty()) throw Napi::Error::New(env, env_problem);
  exports.Set("kernels", Napi::String::New(env, first::kernel_isa()));
  exports.Set("setKernels", Napi::Function::New(env, SetKernels));
  exports.Set("activeKernels", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Napi::String::New(info.Env(), first::kernel_isa());
  }));
  exports.Set("kernelSets", Napi::Function::New(env, KernelSets));
  exports.Set("measureReadBandwidth", Napi::Function::New(env, MeasureReadBandwidth));
  register_trainer(env, exports, [](const Napi::Value& v) -> std::shared_ptr<Model> {
    if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(v.Env().GetInstanceData<Napi::FunctionReference>()->Value()))
      return nullptr;
    return ModelWrap::Unwrap(v.As<Napi::Object>())->model;
  });
  return exports;
}

}  // namespace

NODE_API_MODULE(first_native, Init)
