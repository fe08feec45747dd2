// Solver kernels of compiled formulas (lawfit.Law, core/fit/formula.hpp): fit_batch and bootstrap_batch.
#include "kernels/guard.hpp"

namespace lawfit::kernels {
namespace {

int fit_formula(const fit::FormulaModel* m, const fit::BatchInput* in, const fit::StartSpec* st,
                const fit::Options* o, const fit::BatchOutput* out, int threads, KernelError* err) {
  return guarded(err, [&] { fit::fit_batch(*m, *in, *st, *o, *out, threads); });
}

int boot_formula(const fit::FormulaModel* m, const fit::BatchInput* in, const double* p_hat,
                 const std::int32_t* fit_status, i64 R, int method, std::uint64_t seed, const fit::Options* o,
                 const sample::BootstrapOutput* out, int threads, KernelError* err) {
  return guarded(err, [&] {
    sample::bootstrap_batch(*m, *in, p_hat, fit_status, R, static_cast<sample::BootMethod>(method), seed, *o, *out,
                            threads);
  });
}

}  // namespace

void fill_formula(KernelTable& t) {
  t.fit_formula = &fit_formula;
  t.boot_formula = &boot_formula;
}

}  // namespace lawfit::kernels
