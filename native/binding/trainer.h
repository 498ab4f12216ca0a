// Registers the Trainer class (binding/trainer.cc) on the addon's exports.
// `unwrap_model` turns a JS Model object into the engine's Model (nullptr if
// the value is not a Model); addon.cc owns the Model wrapper and passes it.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>

#include "first/model.h"

using ModelUnwrapper = std::function<std::shared_ptr<first::Model>(const Napi::Value&)>;

void register_trainer(Napi::Env env, Napi::Object exports, ModelUnwrapper unwrap_model);
