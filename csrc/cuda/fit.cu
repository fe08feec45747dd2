// Entry point of the GPU fit: finds the part (fit_part<k>.cu) that holds the law's kernels.
#include "cuda/fit_kernels.cuh"

namespace lawfit::cuda {
bool fit_law(const std::string& law, const FitJob& job) {
  return fit_law_part0(law, job) || fit_law_part1(law, job) || fit_law_part2(law, job) || fit_law_part3(law, job);
}
}  // namespace lawfit::cuda
