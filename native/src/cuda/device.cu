#include "first/cuda/device.h"

#include <cuda_runtime.h>

#include <string>

#include "first/error.h"

namespace first {
namespace cuda {

DeviceInfo probe_device() {
  DeviceInfo info;
  int count = 0;
  // Without a driver this returns cudaErrorInsufficientDriver or
  // cudaErrorNoDevice; both are a reason, not a crash.
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    info.reason = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
    cudaGetLastError();  // clear the sticky-free error so later probes start clean
    return info;
  }
  if (count == 0) {
    info.reason = "the CUDA driver reports no device";
    return info;
  }
  cudaDeviceProp p;
  const cudaError_t pe = cudaGetDeviceProperties(&p, 0);
  if (pe != cudaSuccess) {
    info.reason = std::string("cannot read device 0: ") + cudaGetErrorString(pe);
    cudaGetLastError();
    return info;
  }
  info.available = true;
  info.name = p.name;
  info.major = p.major;
  info.minor = p.minor;
  info.multiprocessors = p.multiProcessorCount;
  info.memory_bytes = p.totalGlobalMem;
  return info;
}

void require_device() {
  const DeviceInfo info = probe_device();
  if (!info.available) throw Error("no CUDA device: " + info.reason);
}

}  // namespace cuda
}  // namespace first
