// CUDA runtime errors become first::Error, naming the call that failed.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "first/error.h"

namespace first {
namespace cuda {

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error(std::string("CUDA: ") + what + ": " + cudaGetErrorString(e));
}

// After a kernel launch: reports a bad launch configuration at once.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

}  // namespace cuda
}  // namespace first
