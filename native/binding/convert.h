// Argument conversion and error mapping shared by the binding's classes.
// Every C++ exception becomes a JS Error (code "KV_CAPACITY" for a full KV
// cache), so native code never takes the process down.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "first/error.h"

namespace binding {

template <typename F>
auto guard(const Napi::Env& env, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const first::KvCapacityError& e) {
    Napi::Error err = Napi::Error::New(env, e.what());
    err.Set("code", Napi::String::New(env, "KV_CAPACITY"));
    throw err;
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "out of memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

inline int int_arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  return info[i].As<Napi::Number>().Int32Value();
}

inline std::string string_arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

inline Napi::Float32Array float_array(const Napi::Env& env, const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(env, std::string(what) + " must be a Float32Array");
  return v.As<Napi::Float32Array>();
}

// An Int32Array or an array of numbers.
inline std::vector<int32_t> int32_array(const Napi::Env& env, const Napi::Value& v, const char* what) {
  if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
    auto a = v.As<Napi::Int32Array>();
    return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
  }
  if (v.IsArray()) {
    auto a = v.As<Napi::Array>();
    std::vector<int32_t> out(a.Length());
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Value e = a.Get(i);
      if (!e.IsNumber()) throw Napi::TypeError::New(env, std::string(what) + " must hold numbers");
      out[i] = e.As<Napi::Number>().Int32Value();
    }
    return out;
  }
  throw Napi::TypeError::New(env, std::string(what) + " must be an Int32Array or an array of integers");
}

}  // namespace binding
