// Batched fits on the GPU for the laws at positions i of LAWFIT_FOR_EACH_LAW with i % kFitParts == 0.
#include "cuda/fit_kernels.cuh"

namespace lawfit::cuda {
bool fit_law_part0(const std::string& name, const FitJob& job) { return dispatch_fit<0, 0>(name, job, AllLaws{}); }
}  // namespace lawfit::cuda
