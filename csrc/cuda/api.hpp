// The CUDA backend's host-side interface: plain C++ (no CUDA headers), so the bindings compiled by the host
// compiler can call it. Everything here is defined in csrc/cuda/*.cu and exists only when the extension is
// built with LAWFIT_WITH_CUDA.
//
// Pointers: arrays marked "host or device" are device pointers when the matching `*_on_device` flag is set
// (e.g. from __cuda_array_interface__), else host pointers that are copied to the device for the call.
// Outputs are always host arrays (the results are copied back).
#pragma once
#include <cstdint>
#include <string>

#include "core/common.hpp"
#include "core/cost/evaluate.hpp"
#include "core/fit/batch.hpp"

namespace lawfit::cuda {

// Number of usable CUDA devices; 0 with the runtime's reason in *why when there is none.
int device_count(std::string* why);
// "name (compute capability x.y, N MiB)" of the current device.
std::string device_name();
// Whether p is memory the current device can read (device or managed memory).
bool is_device_pointer(const void* p);

// Copy n int64 values from device memory to the host (waits for pending device work first).
void copy_to_host(i64* dst, const i64* src, i64 n);

// A batched fit on the device: same inputs and outputs as fit::fit_batch (core/fit/batch.hpp).
struct FitJob {
  fit::BatchInput in;         // offsets [B+1] host (validated); x [n_total, d], y, w: host or device
                              // (inputs_on_device); lower/upper [Bb, P]: host
  bool inputs_on_device = false;
  i64 n_total = 0;            // len(y)
  fit::StartSpec st;          // starts [Sb, S, P], rand_lo/rand_hi [P]: host
  fit::Options o;
  fit::BatchOutput out;       // host arrays [B, ...]; out.cov may be null
};

// The per-law entry point (instantiated for every law of LAWFIT_FOR_EACH_LAW in csrc/cuda/fit_part*.cu).
// Returns false if `law` is not a built-in law name.
bool fit_law(const std::string& law, const FitJob& job);

// Cost model over n configurations (core/cost/evaluate.hpp): out[j] host [n] or null, as evaluate_all.
void cost_evaluate(const cost::Fields& f, i64 n, const cost::Assumptions& a, double* const* out);

}  // namespace lawfit::cuda
