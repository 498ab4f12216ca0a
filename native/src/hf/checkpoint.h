// Hugging Face checkpoints used in place: a folder with config.json,
// model.safetensors (or model.safetensors.index.json and its shards) and
// optionally tokenizer_config.json. The config becomes the GGUF keys of the
// matching architecture and the tensors take GGUF's names, so Model::load
// reads the result like a GGUF file; the weights stay in the mapped
// safetensors files (F32, F16 or BF16), never converted or copied.
#pragma once
#include <memory>
#include <string>

#include "first/gguf.h"

namespace first::hf {

// True when `dir` is a folder holding config.json.
bool is_checkpoint_dir(const std::string& dir);

// Throws first::Error naming the file and what is wrong (no config.json, an
// unsupported model_type or rope scaling, a shard name outside the folder, a
// tensor missing from its shard...).
std::unique_ptr<GgufFile> open_checkpoint(const std::string& dir);

}  // namespace first::hf
