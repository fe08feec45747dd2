// The batched multi-start fit on the GPU: the kernels instantiate the same core templates as the CPU path
// (core/fit/batch.hpp: check_curve, check_bounds, start_point, best_start, covariance; core/fit/varpro.hpp:
// lm_solve), so a curve gets the same status, best start and parameters on either device.
//
// Pipeline (one call): validate curves -> prepare inputs (laws with prepare, e.g. log x) -> one task per
// (curve, start) pulled from an atomic counter by persistent threads -> best start and covariance per curve.
// Tasks are processed in blocks of at most kTaskBlock (curve, start) pairs to bound device memory.
// The law kernels are split over kFitParts translation units (fit_part<k>.cu) so builds parallelise.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "core/fit/batch.hpp"
#include "core/laws/all.hpp"
#include "cuda/api.hpp"
#include "cuda/cuda_common.cuh"

namespace lawfit::cuda {

constexpr int kFitParts = 4;               // number of fit_part<k>.cu files
constexpr i64 kTaskBlock = i64(1) << 22;   // (curve, start) tasks per block

// The curve b of a CSR batch (device pointers).
__device__ inline fit::Curve curve_of(const fit::BatchInput& in, i64 b) {
  const i64 a = in.offsets[b];
  return fit::Curve{in.x + a * in.d, in.y + a, in.w ? in.w + a : nullptr, in.offsets[b + 1] - a, in.d};
}

// Assumptions: one thread per curve (grid-stride); in.* are device pointers; offsets non-decreasing
// (checked by the bindings); bounds [Bb, P]. Writes pre[b] (CONVERGED = fit it, else the curve's status) and
// npts[b] (points with positive weight, 0 when validation stopped early), as fit_batch's step 1.
template <class Model>
__global__ void validate_kernel(Model m, fit::BatchInput in, Space space, std::int32_t* pre, i64* npts) {
  for (i64 b = blockIdx.x * i64(blockDim.x) + threadIdx.x; b < in.B; b += i64(gridDim.x) * blockDim.x)
    pre[b] = fit::validate_curve(m, in, b, space, npts);
}

// Assumptions: one thread per curve; xp [n_total, Law::DP] zero-filled; only valid curves' points with
// non-zero weight are prepared (others may lie outside the law's domain), as fit_batch's step 2.
template <class Law>
__global__ void prepare_kernel(fit::BatchInput in, const std::int32_t* pre, double* xp) {
  for (i64 b = blockIdx.x * i64(blockDim.x) + threadIdx.x; b < in.B; b += i64(gridDim.x) * blockDim.x) {
    if (pre[b] != CONVERGED) continue;
    const i64 a = in.offsets[b];
    fit::prepare_points<Law>(in.x + a * in.d, in.d, in.w ? in.w + a : nullptr, in.offsets[b + 1] - a,
                             xp + a * Law::DP);
  }
}

// Assumptions: persistent threads (any grid size); task t in [0, ntasks) is (curve b0 + t / S, start t % S);
// *next == 0 at launch; tp [ntasks, P], tc/ti/ts [ntasks]. Every task writes its own slots only (NOT_RUN /
// +inf cost when the curve is invalid or the start unusable), so the result does not depend on which thread
// ran which task. Slow fits do not hold back fast ones: a thread takes the next task when it is done.
template <class Model>
__global__ void fit_tasks_kernel(Model m, fit::BatchInput in, fit::StartSpec st, i64 S, fit::Options o,
                                 const std::int32_t* pre, i64 b0, i64 ntasks, unsigned long long* next,
                                 double* tp, double* tc, std::int32_t* ti, std::int32_t* ts) {
  constexpr int PMAX = Model::PMAX;
  const int np = m.n_params();
  for (;;) {
    const i64 t = static_cast<i64>(atomicAdd(next, 1ull));
    if (t >= ntasks) return;
    const i64 b = b0 + t / S, s = t % S;
    for (int j = 0; j < np; ++j) tp[t * np + j] = kNaN;
    tc[t] = kInf;
    ti[t] = 0;
    ts[t] = NOT_RUN;
    if (pre[b] != CONVERGED) continue;
    const fit::Curve c = curve_of(in, b);
    const i64 off = in.per_curve_bounds ? b * np : 0;
    const double* lo = in.lower + off;
    const double* hi = in.upper + off;
    double p0[PMAX];
    if (!fit::start_point(m, st, S, b, curve_key(in.keys, b), s, c, lo, hi, p0, o)) continue;
    const fit::LMResult<PMAX> r = fit::lm_solve(m, c, p0, lo, hi, o);
    for (int j = 0; j < np; ++j) tp[t * np + j] = r.p[j];
    tc[t] = r.cost;
    ti[t] = r.iters;
    ts[t] = r.status;
  }
}

// Device copies of fit::BatchOutput's arrays, [B, ...].
struct DeviceOut {
  double* params;
  double* cost;
  double* cov;  // or null
  std::int32_t* iters;
  std::int32_t* status;
  i64* best_start;
  const i64* n_points;
};

// Assumptions: one thread per curve of the block [b0, b0 + nb); the task arrays hold that block's S starts
// per curve. Best start (lowest finite cost, ties to the lowest start index) and covariance at its parameters,
// as fit_batch's step 3.
template <class Model>
__global__ void best_kernel(Model m, fit::BatchInput in, fit::Options o, const std::int32_t* pre, i64 b0, i64 nb,
                            i64 S, const double* tp, const double* tc, const std::int32_t* ti,
                            const std::int32_t* ts, DeviceOut out) {
  const int np = m.n_params();
  for (i64 k = blockIdx.x * i64(blockDim.x) + threadIdx.x; k < nb; k += i64(gridDim.x) * blockDim.x) {
    const i64 b = b0 + k;
    double* pb = out.params + b * np;
    if (out.cov)
      for (int q = 0; q < np * np; ++q) out.cov[b * np * np + q] = kNaN;
    out.best_start[b] = -1;
    out.iters[b] = 0;
    Status fail = NOT_RUN;
    i64 best = -1;
    if (pre[b] != CONVERGED) {
      fail = static_cast<Status>(pre[b]);
    } else {
      bool any_nonfinite = false;
      best = fit::best_start(tc + k * S, ts + k * S, S, &any_nonfinite);
      if (best < 0) fail = any_nonfinite ? NON_FINITE : NOT_RUN;
    }
    if (best < 0) {
      for (int j = 0; j < np; ++j) pb[j] = kNaN;
      out.cost[b] = kNaN;
      out.status[b] = fail;
      continue;
    }
    const i64 t = k * S + best;
    for (int j = 0; j < np; ++j) pb[j] = tp[t * np + j];
    out.cost[b] = tc[t];
    out.iters[b] = ti[t];
    out.status[b] = ts[t];
    out.best_start[b] = best;
    if (out.cov) {
      const i64 off = in.per_curve_bounds ? b * np : 0;
      fit::covariance(m, curve_of(in, b), pb, in.lower + off, in.upper + off, o, out.n_points[b],
                      out.cov + b * np * np);
    }
  }
}

// Steps 3-4 for a validated (and prepared) batch whose arrays are on the device.
template <class Model>
void run_tasks(const Model& m, const fit::BatchInput& in, const fit::StartSpec& st, i64 S, const fit::Options& o,
               const std::int32_t* pre, const DeviceOut& out) {
  const int np = m.n_params();
  const i64 B = in.B;
  const i64 nbk = std::max<i64>(1, kTaskBlock / S);
  const i64 cap = std::min(B, nbk) * S;
  DeviceBuffer<double> tp(cap * np), tc(cap);
  DeviceBuffer<std::int32_t> ti(cap), ts(cap);
  DeviceBuffer<unsigned long long> next(1);
  int dev = 0, sms = 1, per_sm = 1;
  LAWFIT_CUDA_CHECK(cudaGetDevice(&dev));
  LAWFIT_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  LAWFIT_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, fit_tasks_kernel<Model>, kThreads, 0));
  const i64 resident = static_cast<i64>(std::max(1, per_sm)) * std::max(1, sms);
  for (i64 b0 = 0; b0 < B; b0 += nbk) {
    const i64 nb = std::min(nbk, B - b0), ntasks = nb * S;
    LAWFIT_CUDA_CHECK(cudaMemset(next.get(), 0, sizeof(unsigned long long)));
    const unsigned grid = static_cast<unsigned>(std::min<i64>(resident, grid_for(ntasks)));
    fit_tasks_kernel<Model><<<grid, kThreads>>>(m, in, st, S, o, pre, b0, ntasks, next.get(), tp.get(), tc.get(),
                                                ti.get(), ts.get());
    sync("fit kernel");
    best_kernel<Model><<<grid_for(nb), kThreads>>>(m, in, o, pre, b0, nb, S, tp.get(), tc.get(), ti.get(), ts.get(),
                                                   out);
    sync("best-start kernel");
  }
}

// The whole fit of one law on the device (host driver).
template <class Law>
void fit_law_device(const FitJob& job) {
  const laws::StaticModel<Law> m{};
  constexpr int P = Law::P;
  const i64 B = job.in.B, n = job.n_total;
  const int d = job.in.d;
  const i64 S = std::max<i64>(1, job.st.S);

  DeviceBuffer<i64> d_off;
  DeviceBuffer<double> d_x, d_y, d_w, d_lo, d_hi, d_starts, d_rlo, d_rhi;
  DeviceBuffer<std::uint64_t> d_keys;
  fit::BatchInput in = job.in;
  in.offsets = on_device(job.in.offsets, B + 1, false, d_off);  // host (validated) in every case
  if (job.inputs_on_device) LAWFIT_CUDA_CHECK(cudaDeviceSynchronize());  // the producer's pending writes
  in.x = on_device(job.in.x, n * d, job.inputs_on_device, d_x);
  in.y = on_device(job.in.y, n, job.inputs_on_device, d_y);
  in.w = on_device(job.in.w, n, job.inputs_on_device, d_w);
  const i64 nbnd = job.in.per_curve_bounds ? B * P : P;
  in.lower = on_device(job.in.lower, nbnd, false, d_lo);
  in.upper = on_device(job.in.upper, nbnd, false, d_hi);
  in.keys = on_device(job.in.keys, B, false, d_keys);
  fit::StartSpec st = job.st;
  st.starts = on_device(job.st.starts, (job.st.per_curve ? B : 1) * S * P, false, d_starts);
  st.rand_lo = on_device(job.st.rand_lo, P, false, d_rlo);
  st.rand_hi = on_device(job.st.rand_hi, P, false, d_rhi);

  DeviceBuffer<std::int32_t> pre(B), status(B), iters(B);
  DeviceBuffer<i64> npts(B), best(B);
  DeviceBuffer<double> params(B * P), cost(B), cov(job.out.cov ? B * P * P : 0);
  const DeviceOut out{params.get(), cost.get(), cov.get(), iters.get(), status.get(), best.get(), npts.get()};
  if (B > 0) {
    validate_kernel<<<grid_for(B), kThreads>>>(m, in, job.o.space, pre.get(), npts.get());
    sync("validation kernel");
    if constexpr (laws::HasPrepare<Law>::value) {
      DeviceBuffer<double> xp(n * Law::DP);
      if (n > 0) LAWFIT_CUDA_CHECK(cudaMemset(xp.get(), 0, static_cast<size_t>(n) * Law::DP * sizeof(double)));
      prepare_kernel<Law><<<grid_for(B), kThreads>>>(in, pre.get(), xp.get());
      sync("prepare kernel");
      fit::BatchInput pin = in;
      pin.x = xp.get();
      pin.d = Law::DP;
      run_tasks(laws::PreparedModel<Law>{}, pin, st, S, job.o, pre.get(), out);
    } else {
      run_tasks(m, in, st, S, job.o, pre.get(), out);
    }
  }
  params.download(job.out.params, B * P);
  cost.download(job.out.cost, B);
  if (job.out.cov) cov.download(job.out.cov, B * P * P);
  iters.download(job.out.iters, B);
  status.download(job.out.status, B);
  best.download(job.out.best_start, B);
  npts.download(job.out.n_points, B);
}

// Compile-time list of every built-in law, and a dispatcher that instantiates only the laws of one part.
template <class... L>
struct LawList {};
#define LAWFIT_CUDA_LAW_TYPE(L) laws::L,
using AllLaws = LawList<LAWFIT_FOR_EACH_LAW(LAWFIT_CUDA_LAW_TYPE) void>;
#undef LAWFIT_CUDA_LAW_TYPE

template <int Part, int I>
bool dispatch_fit(const std::string&, const FitJob&, LawList<void>) {
  return false;
}
template <int Part, int I, class L, class... Rest>
bool dispatch_fit(const std::string& name, const FitJob& job, LawList<L, Rest...>) {
  if constexpr (I % kFitParts == Part) {
    if (name == L::name) {
      fit_law_device<L>(job);
      return true;
    }
  }
  return dispatch_fit<Part, I + 1>(name, job, LawList<Rest...>{});
}

// Defined in fit_part<k>.cu.
bool fit_law_part0(const std::string& name, const FitJob& job);
bool fit_law_part1(const std::string& name, const FitJob& job);
bool fit_law_part2(const std::string& name, const FitJob& job);
bool fit_law_part3(const std::string& name, const FitJob& job);
static_assert(kFitParts == 4, "declare and define one fit_law_part<k> per part");

}  // namespace lawfit::cuda
