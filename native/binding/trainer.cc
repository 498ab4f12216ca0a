// The thin Node-API surface over first::Trainer: argument conversion, one
// call into the trainer, result conversion; C++ errors become JS Errors.
#include "trainer.h"

#include "convert.h"

#include <cmath>
#include <string>
#include <vector>

#include "first/error.h"
#include "first/train.h"

namespace {

ModelUnwrapper& unwrapper() {
  static ModelUnwrapper fn;
  return fn;
}

using binding::float_array;
using binding::guard;
using binding::int32_array;
using binding::int_arg;
using binding::string_arg;

class TrainerWrap : public Napi::ObjectWrap<TrainerWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Trainer",
                       {
                           InstanceMethod("loraTensors", &TrainerWrap::LoraTensors),
                           InstanceMethod("getLora", &TrainerWrap::GetLora),
                           InstanceMethod("setLora", &TrainerWrap::SetLora),
                           InstanceMethod("loraGrad", &TrainerWrap::LoraGrad),
                           InstanceMethod("zeroGrad", &TrainerWrap::ZeroGrad),
                           InstanceMethod("begin", &TrainerWrap::Begin),
                           InstanceMethod("meanHidden", &TrainerWrap::MeanHidden),
                           InstanceMethod("forwardLayer", &TrainerWrap::ForwardLayer),
                           InstanceMethod("loss", &TrainerWrap::Loss),
                           InstanceMethod("backwardLayer", &TrainerWrap::BackwardLayer),
                           InstanceMethod("end", &TrainerWrap::End),
                           InstanceMethod("info", &TrainerWrap::Info),
                       });
  }

  // new Trainer(model, { threads?, ceChunk?, lora?: { rank, alpha, targets, seed? } })
  TrainerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TrainerWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() > 0) model_ = unwrapper()(info[0]);
    if (!model_) throw Napi::TypeError::New(env, "new Trainer(model, options): model must be a Model");
    first::TrainerOptions o;
    if (info.Length() > 1 && !info[1].IsUndefined()) {
      if (!info[1].IsObject()) throw Napi::TypeError::New(env, "Trainer options must be an object");
      Napi::Object opts = info[1].As<Napi::Object>();
      auto num = [&](const Napi::Object& from, const char* k, const char* label) -> double {
        Napi::Value v = from.Get(k);
        if (v.IsUndefined()) return NAN;
        if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string(label) + " must be a number");
        return v.As<Napi::Number>().DoubleValue();
      };
      double v = num(opts, "threads", "threads");
      if (!std::isnan(v)) o.threads = static_cast<int>(v);
      v = num(opts, "ceChunk", "ceChunk");
      if (!std::isnan(v)) o.ce_chunk = static_cast<int>(v);
      Napi::Value lv = opts.Get("lora");
      if (!lv.IsUndefined() && !lv.IsNull()) {
        if (!lv.IsObject()) throw Napi::TypeError::New(env, "lora must be an object { rank, alpha, targets, seed? }");
        Napi::Object lo = lv.As<Napi::Object>();
        v = num(lo, "rank", "lora.rank");
        if (std::isnan(v)) throw Napi::TypeError::New(env, "lora.rank must be a number");
        o.lora_rank = static_cast<int>(v);
        v = num(lo, "alpha", "lora.alpha");
        o.lora_alpha = std::isnan(v) ? static_cast<float>(o.lora_rank) : static_cast<float>(v);
        v = num(lo, "seed", "lora.seed");
        if (!std::isnan(v)) o.lora_seed = static_cast<uint64_t>(v);
        Napi::Value tv = lo.Get("targets");
        if (!tv.IsArray()) throw Napi::TypeError::New(env, "lora.targets must be an array of module names");
        Napi::Array ta = tv.As<Napi::Array>();
        for (uint32_t i = 0; i < ta.Length(); ++i) {
          Napi::Value e = ta.Get(i);
          if (!e.IsString()) throw Napi::TypeError::New(env, "lora.targets must hold strings");
          o.lora_targets.push_back(e.As<Napi::String>().Utf8Value());
        }
      }
    }
    trainer_ = guard(env, [&] { return std::make_unique<first::Trainer>(*model_, o); });
  }

 private:
  Napi::Value LoraTensors(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const auto& list = trainer_->lora_tensors();
    Napi::Array out = Napi::Array::New(env, list.size());
    for (uint32_t i = 0; i < list.size(); ++i) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", list[i].name);
      o.Set("layer", list[i].layer);
      o.Set("module", list[i].module);
      o.Set("kind", list[i].kind);
      o.Set("rows", static_cast<double>(list[i].rows));
      o.Set("cols", static_cast<double>(list[i].cols));
      out.Set(i, o);
    }
    return out;
  }
  Napi::Value GetLora(const Napi::CallbackInfo& info) {
    const std::string name = string_arg(info, 0, "name");
    return guard(info.Env(), [&]() -> Napi::Value {
      Napi::Float32Array out = Napi::Float32Array::New(info.Env(), trainer_->lora_size(name));
      trainer_->get_lora(name, out.Data());
      return out;
    });
  }
  Napi::Value SetLora(const Napi::CallbackInfo& info) {
    const std::string name = string_arg(info, 0, "name");
    if (info.Length() < 2) throw Napi::TypeError::New(info.Env(), "setLora(name, data)");
    Napi::Float32Array data = float_array(info.Env(), info[1], "data");
    guard(info.Env(), [&] { trainer_->set_lora(name, data.Data(), static_cast<int64_t>(data.ElementLength())); });
    return info.Env().Undefined();
  }
  Napi::Value LoraGrad(const Napi::CallbackInfo& info) {
    const std::string name = string_arg(info, 0, "name");
    return guard(info.Env(), [&]() -> Napi::Value {
      Napi::Float32Array out = Napi::Float32Array::New(info.Env(), trainer_->lora_size(name));
      trainer_->lora_grad(name, out.Data());
      return out;
    });
  }
  Napi::Value ZeroGrad(const Napi::CallbackInfo& info) {
    trainer_->zero_grad();
    return info.Env().Undefined();
  }
  // begin([{ tokens: Int32Array, targets: Int32Array, promptLength }])
  Napi::Value Begin(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "begin(seqs): seqs must be an array");
    Napi::Array arr = info[0].As<Napi::Array>();
    std::vector<first::TrainSequence> seqs(arr.Length());
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      Napi::Value ev = arr.Get(i);
      if (!ev.IsObject()) throw Napi::TypeError::New(env, "begin: sequences must be objects { tokens, targets, promptLength }");
      Napi::Object e = ev.As<Napi::Object>();
      seqs[i].tokens = int32_array(env, e.Get("tokens"), "tokens");
      seqs[i].targets = int32_array(env, e.Get("targets"), "targets");
      Napi::Value pl = e.Get("promptLength");
      if (!pl.IsNumber()) throw Napi::TypeError::New(env, "promptLength must be a number");
      seqs[i].prompt_length = pl.As<Napi::Number>().Int32Value();
    }
    guard(env, [&] { trainer_->begin(seqs); });
    return env.Undefined();
  }
  // meanHidden(seq, out?: Float32Array) -> Float32Array(dModel)
  Napi::Value MeanHidden(const Napi::CallbackInfo& info) {
    const int seq = int_arg(info, 0, "seq");
    const size_t d = trainer_->config().d_model;
    Napi::Float32Array out;
    if (info.Length() > 1 && !info[1].IsUndefined()) {
      out = float_array(info.Env(), info[1], "out");
      if (out.ElementLength() < d) throw Napi::RangeError::New(info.Env(), "out must hold dModel floats");
    } else {
      out = Napi::Float32Array::New(info.Env(), d);
    }
    guard(info.Env(), [&] { trainer_->mean_hidden(seq, out.Data()); });
    return out;
  }
  Napi::Value ForwardLayer(const Napi::CallbackInfo& info) {
    const int layer = int_arg(info, 0, "layer");
    if (info.Length() < 2) throw Napi::TypeError::New(info.Env(), "forwardLayer(layer, gates)");
    Napi::Float32Array gates = float_array(info.Env(), info[1], "gates");
    guard(info.Env(), [&] { trainer_->forward_layer(layer, gates.Data(), static_cast<int>(gates.ElementLength())); });
    return info.Env().Undefined();
  }
  // loss(weighting?: "tokens" | "sequences")
  Napi::Value Loss(const Napi::CallbackInfo& info) {
    first::LossWeighting w = first::LossWeighting::Tokens;
    if (info.Length() > 0 && !info[0].IsUndefined()) {
      const std::string s = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
      if (s == "sequences") w = first::LossWeighting::Sequences;
      else if (s != "tokens") throw Napi::TypeError::New(info.Env(), "loss(weighting): weighting must be \"tokens\" or \"sequences\"");
    }
    first::LossResult r = guard(info.Env(), [&] { return trainer_->loss(w); });
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("loss", r.loss);
    o.Set("tokens", static_cast<double>(r.tokens));
    return o;
  }
  // backwardLayer(layer, meanHiddenGrad?: Float32Array(nSeq * dModel)) -> Float32Array(nSeq) of dL/dg
  Napi::Value BackwardLayer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const int layer = int_arg(info, 0, "layer");
    const float* mhg = nullptr;
    const size_t n_seq = static_cast<size_t>(trainer_->n_sequences());
    if (info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsNull()) {
      Napi::Float32Array g = float_array(env, info[1], "meanHiddenGrad");
      const size_t want = n_seq * trainer_->config().d_model;
      if (g.ElementLength() != want)
        throw Napi::RangeError::New(env, "meanHiddenGrad must hold nSeq * dModel = " + std::to_string(want) + " floats");
      mhg = g.Data();
    }
    Napi::Float32Array out = Napi::Float32Array::New(env, n_seq);
    guard(env, [&] { trainer_->backward_layer(layer, mhg, out.Data()); });
    return out;
  }
  Napi::Value End(const Napi::CallbackInfo& info) {
    trainer_->end();
    return info.Env().Undefined();
  }
  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("threads", trainer_->threads());
    o.Set("nSequences", trainer_->n_sequences());
    return o;
  }

  std::shared_ptr<first::Model> model_;  // keeps the weights mapped while the trainer lives
  std::unique_ptr<first::Trainer> trainer_;
};

}  // namespace

void register_trainer(Napi::Env env, Napi::Object exports, ModelUnwrapper unwrap_model) {
  unwrapper() = std::move(unwrap_model);
  exports.Set("Trainer", TrainerWrap::Define(env));
}
