// Device discovery for lawfit.cuda_available() and error messages.
#include <cuda_runtime.h>

#include <string>

#include "cuda/api.hpp"
#include "cuda/cuda_common.cuh"

namespace lawfit::cuda {

int device_count(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    // No driver (or one too old for this runtime) means no usable device: say that first, the CUDA error after.
    const bool no_driver = e == cudaErrorInsufficientDriver || e == cudaErrorNoDevice;
    if (why)
      *why = std::string(no_driver ? "no CUDA device found (no NVIDIA driver or GPU on this machine); " : "") +
             cudaGetErrorName(e) + ": " + cudaGetErrorString(e);
    cudaGetLastError();  // clear the sticky error state of this call
    return 0;
  }
  if (n == 0 && why) *why = "the CUDA runtime found no device";
  return n;
}

std::string device_name() {
  int dev = 0;
  cudaDeviceProp p;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&p, dev) != cudaSuccess) return "unknown";
  return std::string(p.name) + " (compute capability " + std::to_string(p.major) + "." + std::to_string(p.minor) +
         ", " + std::to_string(p.totalGlobalMem >> 20) + " MiB)";
}

bool is_device_pointer(const void* ptr) {
  cudaPointerAttributes a;
  if (cudaPointerGetAttributes(&a, ptr) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
}

void copy_to_host(i64* dst, const i64* src, i64 n) {
  check(cudaDeviceSynchronize(), "waiting for the device inputs");
  if (n > 0) check(cudaMemcpy(dst, src, static_cast<size_t>(n) * sizeof(i64), cudaMemcpyDeviceToHost), "copying offsets");
}

}  // namespace lawfit::cuda
