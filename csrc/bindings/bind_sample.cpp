// Bindings for core/sample: the batched bootstrap of a fitted batch and the ensemble MCMC of learning curves.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <functional>
#include <map>
#include <string>

#include "bindings/arrays.hpp"
#include "bindings/boot_common.hpp"
#include "bindings/registry.hpp"
#include "core/laws/all.hpp"
#include "core/sample/annealing.hpp"
#include "core/sample/mcmc.hpp"
#include "core/sample/reference.hpp"

namespace lawfit::bindings {
namespace {

using BootFn = std::function<py::tuple(const BootArgs&)>;

const std::map<std::string, BootFn>& boot_table() {
  static const std::map<std::string, BootFn> t = {
#define X(L) {laws::L::name, [](const BootArgs& a) { return run_bootstrap(laws::StaticModel<laws::L>{}, a); }},
      LAWFIT_FOR_EACH_LAW(X)
#undef X
  };
  return t;
}


// The learning-curve ensemble, in this order (Python's lawfit.extrapolate names them by position).
using Domhan = sample::FamilyList<laws::Pow3, laws::Pow4, laws::LogLogLinear, laws::LogPower, laws::Janoschek,
                                  laws::Mmf, laws::Weibull, laws::Exp4, laws::Ilog2, laws::Vap, laws::Hill3,
                                  laws::Exp3>;
constexpr int kDim = sample::DomhanPosterior<Domhan>::Dim;

py::list domhan_families() {
  py::list l;
  const char* names[] = {laws::Pow3::name,  laws::Pow4::name,  laws::LogLogLinear::name, laws::LogPower::name,
                         laws::Janoschek::name, laws::Mmf::name, laws::Weibull::name, laws::Exp4::name,
                         laws::Ilog2::name, laws::Vap::name, laws::Hill3::name, laws::Exp3::name};
  for (int k = 0; k < Domhan::K; ++k) l.append(py::make_tuple(names[k], Domhan::P[k]));
  return l;
}

py::dict mcmc_domhan(py::array offsets, py::array t, py::array y, py::array t_max, py::array range_lo,
                     py::array range_hi, py::array init, py::array active, py::array sigma_min, int walkers, int steps,
                     int burn, py::ssize_t samples, std::uint64_t seed, int threads, double de_frac,
                     py::object init_chol, double init_spread, double init_sigma, double stretch, py::object keys) {
  const char* op = "mcmc";
  if (walkers < 4 || walkers % 2) throw py::value_error("mcmc: 'walkers' must be an even number >= 4");
  if (steps < 1 || burn < 0 || burn >= steps) throw py::value_error("mcmc: need steps >= 1 and 0 <= burn < steps");
  if (samples < 1) throw py::value_error("mcmc: 'samples' must be >= 1");
  const py::ssize_t n_total = y.size();
  py::ssize_t C = 0;
  const i64* off = csr_offsets(offsets, op, "offsets", n_total, "y", &C);
  sample::McmcInput in;
  in.offsets = off;
  in.C = C;
  in.t = in_ptr<double>(t, op, "t", n_total);
  in.y = in_ptr<double>(y, op, "y", n_total);
  in.t_max = in_ptr<double>(t_max, op, "t_max", C);
  in.range_lo = in_ptr<double>(range_lo, op, "range_lo", C);
  in.range_hi = in_ptr<double>(range_hi, op, "range_hi", C);
  in.init = in_ptr<double>(init, op, "init", C * kDim);
  in.active = in_ptr<std::uint8_t>(active, op, "active", C * Domhan::K);
  in.sigma_min = in_ptr<double>(sigma_min, op, "sigma_min", C);
  in.keys = opt_ptr<std::uint64_t>(keys, op, "keys", C);
  sample::McmcOptions o;
  o.walkers = walkers;
  o.steps = steps;
  o.burn = burn;
  o.samples = samples;
  o.seed = seed;
  if (!(de_frac >= 0.0 && de_frac <= 1.0)) throw py::value_error("mcmc: 'de_frac' must be in [0, 1]");
  o.de_frac = de_frac;
  if (!(init_spread >= 0.0) || !(init_sigma >= 0.0))
    throw py::value_error("mcmc: 'init_spread' and 'init_sigma' must be >= 0");
  if (!(stretch > 1.0)) throw py::value_error("mcmc: 'stretch' must be > 1");
  o.init_spread = init_spread;
  o.init_sigma = init_sigma;
  o.a = stretch;
  in.init_chol = opt_ptr<double>(init_chol, op, "init_chol", C * Domhan::CHOL);
  const int kept = steps - burn;
  py::array_t<double> out_s({C, samples, static_cast<py::ssize_t>(kDim)});
  py::array_t<double> acc(C), trace({C, static_cast<py::ssize_t>(kept)});
  py::array_t<std::int32_t> status(C);
  sample::McmcOutput out{out_s.mutable_data(), acc.mutable_data(), trace.mutable_data(), status.mutable_data()};
  {
    py::gil_scoped_release release;
    sample::mcmc_batch<Domhan>(in, o, out, threads);
  }
  py::dict r;
  r["samples"] = out_s;
  r["accept"] = acc;
  r["trace"] = trace;
  r["status"] = status;
  return r;
}

py::array_t<double> ensemble_eval(py::array samples, py::array active, py::array t, int threads) {
  const char* op = "ensemble_eval";
  if (samples.ndim() != 3 || samples.shape(2) != kDim)
    throw py::value_error("ensemble_eval: 'samples' must have shape [C, S, " + std::to_string(kDim) + "]");
  const py::ssize_t C = samples.shape(0), S = samples.shape(1);
  if (t.ndim() != 2 || t.shape(0) != C) throw py::value_error("ensemble_eval: 't' must have shape [C, T]");
  const py::ssize_t T = t.shape(1);
  const double* sp = in_ptr<double>(samples, op, "samples");
  const std::uint8_t* ap = in_ptr<std::uint8_t>(active, op, "active", C * Domhan::K);
  const double* tp = in_ptr<double>(t, op, "t");
  py::array_t<double> out({C, S, T});
  double* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    sample::ensemble_eval<Domhan>(sp, C, S, ap, tp, T, o, threads);
  }
  return out;
}

sample::SeriesBatch series_batch(const char* op, const char* what, const py::array& offsets, const py::array& t,
                                 const py::array& y) {
  const std::string w(what);
  const py::ssize_t n = y.size();
  py::ssize_t C = 0;
  const i64* off = csr_offsets(offsets, op, w + "_offsets", n, w + "_y", &C);
  return sample::SeriesBatch{off, C, in_ptr<double>(t, op, (w + "_t").c_str(), n),
                             in_ptr<double>(y, op, (w + "_y").c_str(), n)};
}

py::dict nearest_references(py::array t_off, py::array t_t, py::array t_y, py::array r_off, py::array r_t,
                            py::array r_y, py::array horizon, py::object exclude, int K, double recency, int threads,
                            py::object match_target, py::object match_reference, py::object leave_target,
                            py::object leave_reference) {
  const char* op = "nearest_references";
  const sample::SeriesBatch tg = series_batch(op, "target", t_off, t_t, t_y);
  const sample::SeriesBatch ref = series_batch(op, "reference", r_off, r_t, r_y);
  if (K < 1) throw py::value_error("nearest_references: 'K' must be >= 1");
  if (!(recency >= 1.0)) throw py::value_error("nearest_references: 'recency' must be >= 1");
  const double* hz = in_ptr<double>(horizon, op, "horizon", tg.C);
  const i64* ex = opt_ptr<i64>(exclude, op, "exclude", tg.C);
  sample::GroupCodes match{opt_ptr<i64>(match_target, op, "match_target", tg.C),
                           opt_ptr<i64>(match_reference, op, "match_reference", ref.C)};
  sample::GroupCodes leave{opt_ptr<i64>(leave_target, op, "leave_target", tg.C),
                           opt_ptr<i64>(leave_reference, op, "leave_reference", ref.C)};
  if (!match.tgt != !match.ref || !leave.tgt != !leave.ref)
    throw py::value_error("nearest_references: group codes need both the target and the reference arrays");
  const py::ssize_t nt = tg.C;
  py::array_t<double> raw({nt, static_cast<py::ssize_t>(K)}), anc({nt, static_cast<py::ssize_t>(K)}),
      dist({nt, static_cast<py::ssize_t>(K)});
  py::array_t<i64> idx({nt, static_cast<py::ssize_t>(K)});
  const sample::NeighbourOutput out{raw.mutable_data(), anc.mutable_data(), dist.mutable_data(), idx.mutable_data()};
  {
    py::gil_scoped_release release;
    sample::nearest_references(tg, ref, hz, ex, K, recency, out, threads, match, leave);
  }
  py::dict d;
  d["raw"] = raw;
  d["anchor"] = anc;
  d["dist"] = dist;
  d["index"] = idx;
  return d;
}

// The multiplicities of the points of one curve in pairs-bootstrap replicates reps[R] (the draws of
// sample::draw_pairs on the stream (seed, key, r)): counts [R, n] of how often each point was drawn; points with
// used[i] == false (zero weight) are never drawn.
py::array_t<std::int64_t> pairs_counts(py::array_t<bool, py::array::c_style | py::array::forcecast> used,
                                       std::uint64_t key, std::uint64_t seed,
                                       py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> reps) {
  const i64 n = used.size(), R = reps.size();
  std::vector<i64> pos(static_cast<size_t>(n));
  i64 m = 0;
  for (i64 i = 0; i < n; ++i)
    if (used.data()[i]) pos[m++] = i;
  py::array_t<std::int64_t> out({R, n});
  std::int64_t* o = out.mutable_data();
  std::vector<double> w(static_cast<size_t>(n));
  for (i64 k = 0; k < R; ++k) {
    const std::int64_t r = reps.data()[k];
    if (r < 0) throw py::value_error("pairs_counts: replicate numbers must be >= 0");
    Philox rng(seed, key, static_cast<std::uint64_t>(r));
    sample::draw_pairs(rng, pos.data(), m, n, nullptr, w.data());
    for (i64 i = 0; i < n; ++i) o[k * n + i] = static_cast<std::int64_t>(w[i]);
  }
  return out;
}


// The lr_annealing posterior of every curve (core/sample/annealing.hpp): offsets[C+1]; S1, S2, y [n];
// prior arrays [C]. Returns {draws [C, samples, 4], noise [C, samples], sigma [C], rho [C], status [C]}.
py::dict annealing_posterior(py::array offsets, py::array S1, py::array S2, py::array y, py::array mu_log_alpha,
                             py::array sd_log_alpha, py::array mu_C, py::array sd_C, py::ssize_t samples,
                             std::uint64_t seed, int grid, double alpha_lo, double alpha_hi, int threads,
                             py::object keys) {
  const char* op = "annealing_posterior";
  if (samples < 1) throw py::value_error("annealing_posterior: 'samples' must be >= 1");
  if (grid < 2) throw py::value_error("annealing_posterior: 'grid' must be >= 2");
  if (!(alpha_lo > 0.0 && alpha_hi > alpha_lo && std::isfinite(alpha_hi)))
    throw py::value_error("annealing_posterior: need 0 < alpha_lo < alpha_hi < inf");
  const py::ssize_t n_total = y.size();
  py::ssize_t C = 0;
  sample::AnnealingInput in;
  in.offsets = csr_offsets(offsets, op, "offsets", n_total, "y", &C);
  in.C = C;
  in.S1 = in_ptr<double>(S1, op, "S1", n_total);
  in.S2 = in_ptr<double>(S2, op, "S2", n_total);
  in.y = in_ptr<double>(y, op, "y", n_total);
  in.mu_log_alpha = in_ptr<double>(mu_log_alpha, op, "mu_log_alpha", C);
  in.sd_log_alpha = in_ptr<double>(sd_log_alpha, op, "sd_log_alpha", C);
  in.mu_C = in_ptr<double>(mu_C, op, "mu_C", C);
  in.sd_C = in_ptr<double>(sd_C, op, "sd_C", C);
  in.keys = opt_ptr<std::uint64_t>(keys, op, "keys", C);
  sample::AnnealingOptions o;
  o.grid = grid;
  o.alpha_lo = alpha_lo;
  o.alpha_hi = alpha_hi;
  o.samples = samples;
  o.seed = seed;
  o.threads = threads;
  py::array_t<double> draws({C, samples, static_cast<py::ssize_t>(4)}), noise({C, samples}), sigma(C), rho(C);
  py::array_t<std::int32_t> status(C);
  const sample::AnnealingOutput out{draws.mutable_data(), noise.mutable_data(), sigma.mutable_data(),
                                    rho.mutable_data(), status.mutable_data()};
  {
    py::gil_scoped_release release;
    sample::annealing_posterior(in, o, out);
  }
  py::dict d;
  d["draws"] = draws;
  d["noise"] = noise;
  d["sigma"] = sigma;
  d["rho"] = rho;
  d["status"] = status;
  return d;
}

void register_sample(py::module_& m) {
  m.def("pairs_counts", &pairs_counts, py::arg("used"), py::arg("key"), py::arg("seed"), py::arg("replicates"),
        "Multiplicity of each point of one curve in the given pairs-bootstrap replicates: int64 [R, n].");
  m.def(
      "bootstrap_law",
      [](const std::string& law, py::array offsets, py::array x, py::array y, py::object w, py::array lower,
         py::array upper, py::array params, py::array status, py::ssize_t n, int method, std::uint64_t seed,
         int loss, double delta, int space, double ftol, double xtol, double gtol, int max_iter, int threads,
         py::object shared, py::object keys, bool varpro) {
        auto it = boot_table().find(law);
        if (it == boot_table().end()) throw py::value_error("bootstrap: unknown built-in law '" + law + "'");
        return it->second(BootArgs{offsets, x, y, w, lower, upper, params, status, n, method, seed, loss, delta,
                                   space, ftol, xtol, gtol, max_iter, threads, shared, keys, varpro});
      },
      py::arg("law"), LAWFIT_BOOT_KWARGS,
      "Batched bootstrap refits of a fitted CSR batch: returns (params [B, n, P], status [B, n]).");
  m.def("domhan_families", &domhan_families, "Families of the learning-curve ensemble: (name, n_params), in order.");
  m.def("mcmc_domhan", &mcmc_domhan, py::arg("offsets"), py::arg("t"), py::arg("y"), py::arg("t_max"),
        py::arg("range_lo"), py::arg("range_hi"), py::arg("init"), py::arg("active"), py::arg("sigma_min"),
        py::arg("walkers"), py::arg("steps"), py::arg("burn"), py::arg("samples"), py::arg("seed") = 0,
        py::arg("threads") = 0, py::arg("de_frac") = 0.0, py::arg("init_chol") = py::none(),
        py::arg("init_spread") = 1.0, py::arg("init_sigma") = 0.3, py::arg("stretch") = 2.0, py::arg("keys") = py::none(),
        "Ensemble stretch-move MCMC over Domhan's learning-curve ensemble posterior, all curves in parallel. "
        "init_chol [C, sum P_k^2]: per-family lower-triangular factors of the start covariances (None: start "
        "in a 1e-3 relative ball).");
  m.def(
      "keyed_normals",
      [](py::array keys, std::uint64_t seed, std::uint64_t stream, py::ssize_t n) {
        const py::ssize_t C = keys.size();
        if (n < 0) throw py::value_error("keyed_normals: 'n' must be >= 0");
        const std::uint64_t* k = in_ptr<std::uint64_t>(keys, "keyed_normals", "keys");
        py::array_t<double> out({C, n});
        double* o = out.mutable_data();
        {
          py::gil_scoped_release release;
          parallel_for(C, 0, [&](i64 c) {
            Philox rng(seed, k[c], stream);
            for (py::ssize_t j = 0; j < n; ++j) o[c * n + j] = rng.normal();
          });
        }
        return out;
      },
      py::arg("keys"), py::arg("seed"), py::arg("stream"), py::arg("n"),
      "Standard normals [C, n], row c from the Philox stream (seed, keys[c], stream): a curve's draws do not "
      "depend on the other curves.");
  m.def("nearest_references", &nearest_references, py::arg("target_offsets"), py::arg("target_t"),
        py::arg("target_y"), py::arg("reference_offsets"), py::arg("reference_t"), py::arg("reference_y"),
        py::arg("horizon"), py::arg("exclude") = py::none(), py::arg("K") = 40, py::arg("recency") = 1.0,
        py::arg("threads") = 0, py::arg("match_target") = py::none(), py::arg("match_reference") = py::none(),
        py::arg("leave_target") = py::none(), py::arg("leave_reference") = py::none(),
        "The K nearest reference curves of every target curve (core/sample/reference.hpp): their forecasts at "
        "the target's horizon (raw, anchor), distances and indices, each [targets, K].");
  m.def("annealing_posterior", &annealing_posterior, py::arg("offsets"), py::arg("S1"), py::arg("S2"), py::arg("y"),
        py::arg("mu_log_alpha"), py::arg("sd_log_alpha"), py::arg("mu_C"), py::arg("sd_C"), py::arg("samples"),
        py::arg("seed") = 0, py::arg("grid") = 96, py::arg("alpha_lo") = 0.02, py::arg("alpha_hi") = 4.0,
        py::arg("threads") = 0, py::arg("keys") = py::none(),
        "Posterior draws of lr_annealing (L0, A, C, alpha) per curve on a grid of alpha, with a prior on log alpha "
        "and C (core/sample/annealing.hpp).");
  m.def("ensemble_eval", &ensemble_eval, py::arg("samples"), py::arg("active"), py::arg("t"), py::arg("threads") = 0,
        "Ensemble mean of every posterior sample at steps t[C, T]: [C, S, T].");
}

}  // namespace
LAWFIT_REGISTER_BINDINGS(register_sample);
}  // namespace lawfit::bindings
