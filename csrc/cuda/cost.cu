// Cost model on the GPU, instantiating the core/cost template evaluate_one (one definition with the CPU path).
// The planning reductions (core/cost/plan.hpp) run on the CPU: their model x tokens table is not ported yet.
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "core/cost/evaluate.hpp"
#include "cuda/api.hpp"
#include "cuda/cuda_common.cuh"

namespace lawfit::cuda {
namespace {
using namespace lawfit::cost;

struct OutPtrs {
  double* p[N_OUTPUTS];  // device [n] or null
};

// Device copies of the field value arrays; returns the Fields with device pointers.
Fields upload_fields(const Fields& f, std::vector<DeviceBuffer<double>>& keep) {
  Fields d = f;
  keep.resize(N_FIELDS);
  for (int k = 0; k < N_FIELDS; ++k) {
    keep[k].upload(f.values[k], f.len[k]);
    d.values[k] = keep[k].get();
  }
  return d;
}

// Assumptions: one thread per configuration (grid-stride); f.values are device pointers; out.p[j] is a device
// array [n] for each requested output, null otherwise. Same per-configuration function as evaluate_all.
__global__ void evaluate_kernel(Fields f, i64 n, Assumptions a, OutPtrs out) {
  for (i64 i = blockIdx.x * i64(blockDim.x) + threadIdx.x; i < n; i += i64(gridDim.x) * blockDim.x) {
    double o[N_OUTPUTS];
    evaluate_one(f.config(i), a, o);
    for (int j = 0; j < N_OUTPUTS; ++j)
      if (out.p[j]) out.p[j][i] = o[j];
  }
}

}  // namespace

void cost_evaluate(const Fields& f, i64 n, const Assumptions& a, double* const* out) {
  std::vector<DeviceBuffer<double>> keep;
  const Fields df = upload_fields(f, keep);
  std::vector<DeviceBuffer<double>> dout(N_OUTPUTS);
  OutPtrs op{};
  for (int j = 0; j < N_OUTPUTS; ++j) {
    op.p[j] = nullptr;
    if (out[j] && n > 0) {
      dout[j].resize(n);
      op.p[j] = dout[j].get();
    }
  }
  if (n > 0) {
    evaluate_kernel<<<grid_for(n), kThreads>>>(df, n, a, op);
    sync("cost evaluation kernel");
  }
  for (int j = 0; j < N_OUTPUTS; ++j)
    if (out[j]) dout[j].download(out[j], n);
}

}  // namespace lawfit::cuda
