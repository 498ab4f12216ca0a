// Shared by the CUDA tests: the skip when this machine has no usable GPU.
#pragma once
#include <cstdio>

#include "first/cuda/device.h"

namespace cuda_testing {

// True when a CUDA device is there; otherwise prints why the test skips.
inline bool have_gpu(const char* test) {
  static const first::cuda::DeviceInfo info = first::cuda::probe_device();
  if (!info.available) std::printf("     %s skipped: no CUDA device (%s)\n", test, info.reason.c_str());
  return info.available;
}

}  // namespace cuda_testing

#define REQUIRE_GPU()                                  \
  do {                                                 \
    if (!cuda_testing::have_gpu(__func__)) return;     \
  } while (0)
