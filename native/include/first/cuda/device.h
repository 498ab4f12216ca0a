// Whether this process can use a CUDA device, asked without ever crashing:
// a machine without a GPU or a driver gets a reason, and require_device()
// turns that reason into a first::Error. Plain C++ (no CUDA headers), so the
// binding and the tests can include it.
#pragma once
#include <cstddef>
#include <string>

namespace first {
namespace cuda {

struct DeviceInfo {
  bool available = false;
  std::string reason;  // why not, when !available
  std::string name;    // device 0
  int major = 0, minor = 0;  // compute capability
  int multiprocessors = 0;
  size_t memory_bytes = 0;
};

// Probes device 0 (the one the CUDA engine uses). Never throws.
DeviceInfo probe_device();

// Throws first::Error("no CUDA device: <reason>") when probe_device() finds none.
void require_device();

}  // namespace cuda
}  // namespace first
