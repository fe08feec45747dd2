// Helpers shared by the .cu files: error checks that throw (host side only), an RAII device buffer, and
// launch sizes. Kernels themselves never throw; they write status codes.
#pragma once
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "core/common.hpp"

namespace lawfit::cuda {

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    throw std::runtime_error(std::string("lawfit CUDA: ") + what + ": " + cudaGetErrorName(e) + " (" +
                             cudaGetErrorString(e) + ")");
}
#define LAWFIT_CUDA_CHECK(expr) ::lawfit::cuda::check((expr), #expr)

// Device array of n elements of T (no initialisation).
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(i64 n) { resize(n); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), n_(o.n_) {
    o.p_ = nullptr;
    o.n_ = 0;
  }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      if (p_) cudaFree(p_);
      p_ = o.p_;
      n_ = o.n_;
      o.p_ = nullptr;
      o.n_ = 0;
    }
    return *this;
  }
  ~DeviceBuffer() {
    if (p_) cudaFree(p_);
  }
  void resize(i64 n) {
    if (p_) cudaFree(p_);
    p_ = nullptr;
    n_ = n;
    if (n > 0) LAWFIT_CUDA_CHECK(cudaMalloc(&p_, static_cast<size_t>(n) * sizeof(T)));
  }
  // Copy n host elements in (resizing to n).
  void upload(const T* host, i64 n) {
    resize(n);
    if (n > 0) LAWFIT_CUDA_CHECK(cudaMemcpy(p_, host, static_cast<size_t>(n) * sizeof(T), cudaMemcpyHostToDevice));
  }
  void download(T* host, i64 n) const {
    if (n > 0) LAWFIT_CUDA_CHECK(cudaMemcpy(host, p_, static_cast<size_t>(n) * sizeof(T), cudaMemcpyDeviceToHost));
  }
  T* get() const { return p_; }
  i64 size() const { return n_; }

 private:
  T* p_ = nullptr;
  i64 n_ = 0;
};

// A device pointer to host data `h` of n elements: h itself when it already lives on the device, else an
// uploaded copy held by `buf`. Null stays null.
template <class T>
const T* on_device(const T* h, i64 n, bool already_on_device, DeviceBuffer<T>& buf) {
  if (!h) return nullptr;
  if (already_on_device) return h;
  buf.upload(h, n);
  return buf.get();
}

constexpr int kThreads = 128;  // threads per block for every kernel
inline unsigned grid_for(i64 n) {
  const i64 g = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(g < 1 ? 1 : (g > 2147483647 ? 2147483647 : g));
}

// Check the launch and wait for the kernel (errors inside a kernel surface here).
inline void sync(const char* what) {
  check(cudaGetLastError(), what);
  check(cudaDeviceSynchronize(), what);
}

}  // namespace lawfit::cuda
