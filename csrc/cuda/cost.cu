// Cost model and plan reductions on the GPU, instantiating the core/cost templates (evaluate_one, grid_entry,
// the laws' eval). Candidate lists (ordering, dominance pruning) are built on the host exactly as the CPU path
// does (cost::candidates), then every sample is reduced over its list by one thread block.
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "core/cost/plan.hpp"
#include "core/laws/all.hpp"
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

// Assumptions: one thread per configuration; outputs [G]. Same entries as grid_table.
__global__ void grid_kernel(Fields f, i64 G, Assumptions a, PlanOptions po, double* N, double* D, double* cost,
                            unsigned char* ok) {
  for (i64 i = blockIdx.x * i64(blockDim.x) + threadIdx.x; i < G; i += i64(gridDim.x) * blockDim.x)
    grid_entry(f, i, a, po, N + i, D + i, cost + i, ok + i);
}

constexpr int kPlanThreads = 256;  // threads per sample block in the reductions

// A candidate list in device form: per entry the law's (prepared) inputs [n, W], prepared on the host.
template <class Law>
constexpr int kWidth = input_width<Law>();

template <class Law>
void upload_list(const GridTable& t, const std::vector<i64>& list, DeviceBuffer<double>& x) {
  constexpr int W = kWidth<Law>;
  const i64 n = static_cast<i64>(list.size());
  std::vector<double> h(static_cast<size_t>(n) * W);
  parallel_for(n, 0, [&](i64 j) {
    const double raw[2] = {t.N[list[j]], t.D[list[j]]};
    if constexpr (laws::HasPrepare<Law>::value) Law::prepare(raw, h.data() + j * W);
    else {
      h[2 * j] = raw[0];
      h[2 * j + 1] = raw[1];
    }
  }, 65536);
  x.upload(h.data(), n * W);
}

template <class Law>
__device__ inline double list_loss(const double* x, i64 j, const double* p) {
  if constexpr (laws::HasPrepare<Law>::value) return Law::eval_prepared(x + j * kWidth<Law>, p, nullptr);
  else return Law::eval(x + 2 * j, p, nullptr);
}

// The list of sample s: pruned when use_pruned[s], else full.
struct DevLists {
  const double* x[2];  // full, pruned
  i64 n[2];
  const unsigned char* use_pruned;  // [S]
};

// Assumptions: one block of kPlanThreads threads per sample (grid-stride over samples); samples [S, P] device.
// LOSS: the first list entry with the smallest loss below +inf (ties to the lowest position, NaN never wins).
// COST: the first entry, in list (cost) order, whose loss is <= target. Writes the list position (-1: none)
// and the loss; the host maps positions to configurations.
template <class Law>
__global__ void reduce_kernel(DevLists L, const double* samples, i64 S, int objective, double target, i64* pos,
                              double* loss) {
  __shared__ double sl[kPlanThreads];
  __shared__ i64 sj[kPlanThreads];
  for (i64 s = blockIdx.x; s < S; s += gridDim.x) {
    double p[Law::P];
    for (int k = 0; k < Law::P; ++k) p[k] = samples[s * Law::P + k];
    const int li = L.use_pruned[s] ? 1 : 0;
    const double* x = L.x[li];
    const i64 n = L.n[li];
    double best = kInf;
    i64 bj = -1;
    for (i64 j0 = 0; j0 < n; j0 += kPlanThreads) {
      const i64 j = j0 + threadIdx.x;
      const double l = j < n ? list_loss<Law>(x, j, p) : kNaN;
      if (objective == OBJ_LOSS) {
        if (l < best) {  // strided scan in increasing j: keeps the first occurrence of this thread's minimum
          best = l;
          bj = j;
        }
      } else {
        const bool hit = l <= target;
        if (__syncthreads_or(hit)) {
          if (hit) {
            best = l;
            bj = j;
          }
          break;  // every thread leaves at the same tile
        }
      }
    }
    // Block reduction of (loss, position): smaller loss (LOSS) or smaller position (COST), ties to the lower one.
    sl[threadIdx.x] = best;
    sj[threadIdx.x] = bj;
    __syncthreads();
    for (int w = kPlanThreads / 2; w > 0; w >>= 1) {
      if (threadIdx.x < w) {
        const double l2 = sl[threadIdx.x + w];
        const i64 j2 = sj[threadIdx.x + w];
        const double l1 = sl[threadIdx.x];
        const i64 j1 = sj[threadIdx.x];
        bool take;
        if (j2 < 0) take = false;
        else if (j1 < 0) take = true;
        else if (objective == OBJ_LOSS) take = l2 < l1 || (l2 == l1 && j2 < j1);
        else take = j2 < j1;
        if (take) {
          sl[threadIdx.x] = l2;
          sj[threadIdx.x] = j2;
        }
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      pos[s] = sj[0];
      loss[s] = sj[0] >= 0 ? sl[0] : kNaN;
    }
    __syncthreads();
  }
}

// Assumptions: one block per sample (grid-stride); lists in cost order. Records: entries whose loss beats every
// earlier one (strictly), found by thread 0 scanning each tile's losses in order. With rec_pos null, counts
// them into count[s]; otherwise writes them at rec_off[s] (from a first counting pass).
template <class Law>
__global__ void pareto_kernel(DevLists L, const double* samples, i64 S, i64* count, const i64* rec_off,
                              i64* rec_pos, double* rec_loss) {
  __shared__ double sl[kPlanThreads];
  for (i64 s = blockIdx.x; s < S; s += gridDim.x) {
    double p[Law::P];
    for (int k = 0; k < Law::P; ++k) p[k] = samples[s * Law::P + k];
    const int li = L.use_pruned[s] ? 1 : 0;
    const double* x = L.x[li];
    const i64 n = L.n[li];
    double best = kInf;  // meaningful in thread 0 only
    i64 m = 0;
    for (i64 j0 = 0; j0 < n; j0 += kPlanThreads) {
      const i64 j = j0 + threadIdx.x;
      sl[threadIdx.x] = j < n ? list_loss<Law>(x, j, p) : kNaN;
      __syncthreads();
      if (threadIdx.x == 0) {
        const int len = static_cast<int>(n - j0 < kPlanThreads ? n - j0 : kPlanThreads);
        for (int q = 0; q < len; ++q)
          if (sl[q] < best) {
            best = sl[q];
            if (rec_pos) {
              rec_pos[rec_off[s] + m] = j0 + q;
              rec_loss[rec_off[s] + m] = sl[q];
            }
            ++m;
          }
      }
      __syncthreads();
    }
    if (threadIdx.x == 0 && !rec_pos) count[s] = m;
  }
}

// Lists and samples of one plan on the device.
template <class Law>
struct DevPlan {
  DeviceBuffer<double> x[2], samples;
  DeviceBuffer<unsigned char> use_pruned;
  DevLists L{};
  unsigned grid = 1;
  DevPlan(const GridTable& t, const Candidates& c, const double* sp, i64 S, const PlanOptions& po) {
    std::vector<unsigned char> up(S, 0);
    bool any[2] = {false, false};
    for (i64 s = 0; s < S; ++s) {
      up[s] = po.prune && Monotone<Law>::strictly_decreasing(sp + s * Law::P);
      any[up[s]] = true;
    }
    const std::vector<i64>* lists[2] = {&c.full, &c.pruned};
    for (int k = 0; k < 2; ++k) {
      if (any[k]) upload_list<Law>(t, *lists[k], x[k]);
      L.x[k] = x[k].get();
      L.n[k] = any[k] ? static_cast<i64>(lists[k]->size()) : 0;
    }
    use_pruned.upload(up.data(), S);
    L.use_pruned = use_pruned.get();
    samples.upload(sp, S * Law::P);
    grid = static_cast<unsigned>(std::min<i64>(std::max<i64>(S, 1), 65535));
  }
};

template <class Law>
void reduce_law(const GridTable& t, const Candidates& c, const double* sp, i64 S, const PlanOptions& po,
                const PlanOut& out) {
  if (S == 0) return;
  DevPlan<Law> d(t, c, sp, S, po);
  DeviceBuffer<i64> pos(S);
  DeviceBuffer<double> loss(S);
  reduce_kernel<Law><<<d.grid, kPlanThreads>>>(d.L, d.samples.get(), S, po.objective, po.target, pos.get(),
                                               loss.get());
  sync("plan reduction kernel");
  std::vector<i64> hp(S);
  std::vector<double> hl(S);
  pos.download(hp.data(), S);
  loss.download(hl.data(), S);
  std::vector<unsigned char> up(S);
  d.use_pruned.download(up.data(), S);
  for (i64 s = 0; s < S; ++s) {
    const std::vector<i64>& list = up[s] ? c.pruned : c.full;
    const i64 best = hp[s] >= 0 ? list[hp[s]] : -1;
    out.index[s] = best;
    out.loss[s] = best >= 0 ? hl[s] : kNaN;
    out.cost[s] = best >= 0 ? t.cost[best] : kNaN;
    out.N[s] = best >= 0 ? t.N[best] : kNaN;
    out.D[s] = best >= 0 ? t.D[best] : kNaN;
  }
}

template <class Law>
void pareto_law(const GridTable& t, const Candidates& c, const double* sp, i64 S, const PlanOptions& po,
                std::vector<i64>& offsets, std::vector<i64>& index, std::vector<double>& loss) {
  offsets.assign(S + 1, 0);
  index.clear();
  loss.clear();
  if (S == 0) return;
  DevPlan<Law> d(t, c, sp, S, po);
  DeviceBuffer<i64> count(S);
  pareto_kernel<Law><<<d.grid, kPlanThreads>>>(d.L, d.samples.get(), S, count.get(), nullptr, nullptr, nullptr);
  sync("pareto counting kernel");
  std::vector<i64> hc(S);
  count.download(hc.data(), S);
  for (i64 s = 0; s < S; ++s) offsets[s + 1] = offsets[s] + hc[s];
  const i64 total = offsets[S];
  DeviceBuffer<i64> off, rpos(total);
  DeviceBuffer<double> rloss(total);
  off.upload(offsets.data(), S + 1);
  if (total > 0) {
    pareto_kernel<Law><<<d.grid, kPlanThreads>>>(d.L, d.samples.get(), S, count.get(), off.get(), rpos.get(),
                                                 rloss.get());
    sync("pareto kernel");
  }
  std::vector<i64> hp(total);
  loss.resize(total);
  rpos.download(hp.data(), total);
  rloss.download(loss.data(), total);
  std::vector<unsigned char> up(S);
  d.use_pruned.download(up.data(), S);
  index.resize(total);
  for (i64 s = 0; s < S; ++s) {
    const std::vector<i64>& list = up[s] ? c.pruned : c.full;
    for (i64 k = offsets[s]; k < offsets[s + 1]; ++k) index[k] = list[hp[k]];
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

void cost_grid_table(const Fields& f, i64 G, const Assumptions& a, const PlanOptions& po, GridTable& t) {
  std::vector<DeviceBuffer<double>> keep;
  const Fields df = upload_fields(f, keep);
  DeviceBuffer<double> N(G), D(G), cost(G);
  DeviceBuffer<unsigned char> ok(G);
  if (G > 0) {
    grid_kernel<<<grid_for(G), kThreads>>>(df, G, a, po, N.get(), D.get(), cost.get(), ok.get());
    sync("plan grid kernel");
  }
  t.N.resize(G);
  t.D.resize(G);
  t.cost.resize(G);
  t.ok.resize(G);
  N.download(t.N.data(), G);
  D.download(t.D.data(), G);
  cost.download(t.cost.data(), G);
  ok.download(t.ok.data(), G);
}

bool plan_reduce(const std::string& law, const GridTable& t, const Candidates& c, const double* samples, i64 S,
                 const PlanOptions& po, const PlanOut& out) {
#define X(L)                                                  \
  if constexpr (laws::L::D == 2)                              \
    if (law == laws::L::name) {                               \
      reduce_law<laws::L>(t, c, samples, S, po, out);         \
      return true;                                            \
    }
  LAWFIT_FOR_EACH_LAW(X)
#undef X
  return false;
}

bool plan_pareto(const std::string& law, const GridTable& t, const Candidates& c, const double* samples, i64 S,
                 const PlanOptions& po, std::vector<i64>& offsets, std::vector<i64>& index,
                 std::vector<double>& loss) {
#define X(L)                                                       \
  if constexpr (laws::L::D == 2)                                   \
    if (law == laws::L::name) {                                    \
      pareto_law<laws::L>(t, c, samples, S, po, offsets, index, loss); \
      return true;                                                 \
    }
  LAWFIT_FOR_EACH_LAW(X)
#undef X
  return false;
}

}  // namespace lawfit::cuda
