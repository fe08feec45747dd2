// Bindings for the evaluation estimators (core/evals): pass@k grids and intervals, beta-binomial coverage,
// PassUntil, batched IRT. Arrays in (C-contiguous, exact dtype; the Python layer converts), arrays out,
// GIL released around every native loop. Values (k <= n, responses in {0,1,-1}) are validated here as well
// as in Python, so a direct caller gets a ValueError naming the argument rather than undefined results.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "bindings/arrays.hpp"
#include "bindings/registry.hpp"
#include "core/evals/irt.hpp"
#include "core/evals/passk.hpp"

namespace lawfit::bindings {
namespace {

using lawfit::evals::IrtOptions;
using lawfit::evals::IrtOutput;

void check_ndim(const py::array& a, const char* op, const char* name, int ndim) {
  if (a.ndim() != ndim)
    throw py::value_error(std::string(op) + ": argument '" + name + "' must be " + std::to_string(ndim) +
                          "-dimensional, got " + std::to_string(a.ndim()) + " dimensions");
}

// Checks n >= 1, 0 <= c <= n, 1 <= k <= min(n).
void check_counts(const char* op, py::ssize_t P, const i64* n, const i64* c, py::ssize_t K, const i64* k) {
  i64 nmin = -1;
  for (py::ssize_t i = 0; i < P; ++i) {
    if (n[i] < 1) throw py::value_error(std::string(op) + ": 'n' must be >= 1 (problem " + std::to_string(i) + ")");
    if (c[i] < 0 || c[i] > n[i])
      throw py::value_error(std::string(op) + ": 'c' must be in [0, n] (problem " + std::to_string(i) + ": c=" +
                            std::to_string(c[i]) + ", n=" + std::to_string(n[i]) + ")");
    if (nmin < 0 || n[i] < nmin) nmin = n[i];
  }
  for (py::ssize_t t = 0; t < K; ++t) {
    if (k[t] < 1) throw py::value_error(std::string(op) + ": 'k' must be >= 1, got " + std::to_string(k[t]));
    if (P > 0 && k[t] > nmin)
      throw py::value_error(std::string(op) + ": 'k' = " + std::to_string(k[t]) +
                            " exceeds the number of samples n = " + std::to_string(nmin) +
                            " of some problem; pass@k is undefined for k > n");
  }
}

// Answers of M models to K anchor items (responses [M, K] int8 in {0, 1, -1 = missing}; items [K] indices into
// the model's I items, or null when K == I), validated for the estimate entry points.
void anchor_answers(const py::array& Y, const py::object& items, py::ssize_t I, const std::int8_t** yp,
                    const i64** ip) {
  const char* op = "estimate";
  const py::ssize_t M = Y.shape(0), K = Y.shape(1);
  *yp = in_ptr<std::int8_t>(Y, op, "responses");
  *ip = opt_ptr<i64>(items, op, "items", K);
  if (*ip == nullptr && K != I)
    throw py::value_error("estimate: 'responses' has " + std::to_string(K) + " columns but the model has " +
                          std::to_string(I) + " items; pass 'items'");
  if (*ip)
    for (py::ssize_t t = 0; t < K; ++t)
      if ((*ip)[t] < 0 || (*ip)[t] >= I) throw py::value_error("estimate: 'items' index out of range");
  for (py::ssize_t u = 0; u < M * K; ++u)
    if ((*yp)[u] < -1 || (*yp)[u] > 1) throw py::value_error("estimate: 'responses' must hold only 0, 1 or -1");
}

void register_evals(py::module_& m) {
  m.def(
      "evals_pass_grid",
      [](int kind, py::array n, py::array c, py::array k, bool per_problem, int threads) {
        const char* op = "pass_at_k";
        const py::ssize_t P = n.size(), K = k.size();
        const i64* np = in_ptr<i64>(n, op, "n");
        const i64* cp = in_ptr<i64>(c, op, "c", P);
        const i64* kp = in_ptr<i64>(k, op, "k");
        check_counts(op, P, np, cp, K, kp);
        py::array_t<double> mean(K);
        py::object grid = py::none();
        double* g = nullptr;
        if (per_problem) {
          py::array_t<double> ga({P, K});
          g = ga.mutable_data();
          grid = ga;
        }
        double* mp = mean.mutable_data();
        {
          py::gil_scoped_release rel;
          evals::pass_grid(kind, P, np, cp, K, kp, g, mp, threads);
        }
        return py::make_tuple(grid, mean);
      },
      py::arg("kind"), py::arg("n"), py::arg("c"), py::arg("k"), py::arg("per_problem"), py::arg("threads") = 0,
      "pass@k (kind 0) or pass^k (kind 1) over a (problems x k) grid: (grid [P, K] or None, mean [K]).");

  m.def(
      "evals_pass_bootstrap",
      [](int kind, py::array n, py::array c, py::array k, i64 R, std::uint64_t seed, int threads) {
        const char* op = "pass_at_k bootstrap";
        const py::ssize_t P = n.size(), K = k.size();
        const i64* np = in_ptr<i64>(n, op, "n");
        const i64* cp = in_ptr<i64>(c, op, "c", P);
        const i64* kp = in_ptr<i64>(k, op, "k");
        check_counts(op, P, np, cp, K, kp);
        if (R < 1) throw py::value_error("pass_at_k bootstrap: 'n_boot' must be >= 1");
        py::array_t<double> out({static_cast<py::ssize_t>(R), K});
        double* o = out.mutable_data();
        {
          py::gil_scoped_release rel;
          std::vector<double> g(static_cast<size_t>(P * K));
          evals::pass_grid(kind, P, np, cp, K, kp, g.data(), nullptr, threads);
          evals::bootstrap_means(P, K, g.data(), R, seed, o, threads);
        }
        return out;
      },
      py::arg("kind"), py::arg("n"), py::arg("c"), py::arg("k"), py::arg("n_boot"), py::arg("seed"),
      py::arg("threads") = 0, "Bootstrap over problems of the mean pass@k: [n_boot, K].");

  m.def(
      "evals_pass_posterior",
      [](int kind, py::array n, py::array c, py::array k, double a0, double b0, double level, i64 R,
         std::uint64_t seed, int threads) {
        const char* op = "pass_at_k posterior";
        const py::ssize_t P = n.size(), K = k.size();
        const i64* np = in_ptr<i64>(n, op, "n");
        const i64* cp = in_ptr<i64>(c, op, "c", P);
        const i64* kp = in_ptr<i64>(k, op, "k");
        check_counts(op, P, np, cp, K, kp);
        if (!(a0 > 0) || !(b0 > 0)) throw py::value_error("pass_at_k posterior: 'prior' parameters must be > 0");
        if (!(level > 0 && level < 1)) throw py::value_error("pass_at_k posterior: 'level' must be in (0, 1)");
        py::array_t<double> mean({P, K}), lo({P, K}), hi({P, K}), draws({static_cast<py::ssize_t>(R), K});
        double *mp = mean.mutable_data(), *lp = lo.mutable_data(), *hp = hi.mutable_data(),
               *dp = draws.mutable_data();
        {
          py::gil_scoped_release rel;
          evals::beta_posterior_grid(kind, P, np, cp, K, kp, a0, b0, level, mp, lp, hp, threads);
          if (R > 0) evals::beta_posterior_means(kind, P, np, cp, K, kp, a0, b0, R, seed, dp, threads);
        }
        return py::make_tuple(mean, lo, hi, draws);
      },
      py::arg("kind"), py::arg("n"), py::arg("c"), py::arg("k"), py::arg("a0"), py::arg("b0"), py::arg("level"),
      py::arg("n_draws"), py::arg("seed"), py::arg("threads") = 0,
      "Beta posterior per problem: (mean, low, high) [P, K] and posterior draws of the problem mean [R, K].");

  m.def(
      "evals_betabinom_fit",
      [](py::array n, py::array c, py::array w, int max_iter, double tol, bool scaled) {
        const char* op = "coverage (beta-binomial)";
        const py::ssize_t G = n.size();
        const i64* np = in_ptr<i64>(n, op, "n");
        const i64* cp = in_ptr<i64>(c, op, "c", G);
        const double* wp = in_ptr<double>(w, op, "w", G);
        evals::ScaledBetaBinomFit f;
        {
          py::gil_scoped_release rel;
          if (scaled) {
            f = evals::fit_scaled_betabinom(G, np, cp, wp, max_iter, tol);
          } else {
            const evals::BetaBinomFit u = evals::fit_betabinom(G, np, cp, wp, max_iter, tol);
            f.alpha = u.alpha, f.beta = u.beta, f.s = 1.0, f.loglik = u.loglik;
            f.iterations = u.iterations, f.status = u.status;
          }
        }
        py::dict d;
        d["alpha"] = f.alpha;
        d["beta"] = f.beta;
        d["s"] = f.s;
        d["loglik"] = f.loglik;
        d["iterations"] = f.iterations;
        d["status"] = static_cast<int>(f.status);
        return d;
      },
      py::arg("n"), py::arg("c"), py::arg("w"), py::arg("max_iter") = 200, py::arg("tol") = 1e-10,
      py::arg("scaled") = false,
      "Beta-binomial maximum likelihood fit of grouped (n, c) counts with weights; scaled=True also fits the "
      "Beta's upper end s (rates p = s u, u ~ Beta).");

  m.def(
      "evals_betabinom_bootstrap",
      [](py::array group_of, py::array n, py::array c, i64 R, std::uint64_t seed, int max_iter, double tol,
         int threads, bool scaled) {
        const char* op = "coverage (beta-binomial bootstrap)";
        const py::ssize_t P = group_of.size(), G = n.size();
        const i64* gp = in_ptr<i64>(group_of, op, "group_of");
        const i64* np = in_ptr<i64>(n, op, "n");
        const i64* cp = in_ptr<i64>(c, op, "c", G);
        for (py::ssize_t i = 0; i < P; ++i)
          if (gp[i] < 0 || gp[i] >= G) throw py::value_error(std::string(op) + ": 'group_of' out of range");
        py::array_t<double> al(R), be(R), sc(R);
        py::array_t<std::int32_t> st(R);
        double *ap = al.mutable_data(), *bp = be.mutable_data(), *scp = sc.mutable_data();
        std::int32_t* sp = st.mutable_data();
        {
          py::gil_scoped_release rel;
          if (scaled) {
            evals::scaled_betabinom_bootstrap(P, gp, G, np, cp, R, seed, max_iter, tol, ap, bp, scp, sp, threads);
          } else {
            evals::betabinom_bootstrap(P, gp, G, np, cp, R, seed, max_iter, tol, ap, bp, sp, threads);
            std::fill(scp, scp + R, 1.0);
          }
        }
        return py::make_tuple(al, be, sc, st);
      },
      py::arg("group_of"), py::arg("n"), py::arg("c"), py::arg("n_boot"), py::arg("seed"), py::arg("max_iter") = 200,
      py::arg("tol") = 1e-10, py::arg("threads") = 0, py::arg("scaled") = false,
      "Bootstrap (over problems) of the beta-binomial fit: (alpha, beta, s, status) [R].");

  m.def(
      "evals_betabinom_coverage",
      [](py::array alpha, py::array beta, py::array k, py::object s) {
        const char* op = "coverage (beta-binomial)";
        const py::ssize_t R = alpha.size(), K = k.size();
        const double* ap = in_ptr<double>(alpha, op, "alpha");
        const double* bp = in_ptr<double>(beta, op, "beta", R);
        const double* kp = in_ptr<double>(k, op, "k");
        const double* sp = opt_ptr<double>(s, op, "s", R);
        py::array_t<double> out({R, K});
        double* o = out.mutable_data();
        {
          py::gil_scoped_release rel;
          parallel_for(R, 0, [&](i64 r) {
            for (py::ssize_t t = 0; t < K; ++t) {
              double lf;
              if (!sp || !(sp[r] < 1.0)) {
                lf = evals::betabinom_log_fail(ap[r], bp[r], kp[t]);
              } else {  // integer k: the series; between integers, log failure interpolated linearly in k
                const double k0 = std::floor(kp[t]), fr = kp[t] - k0;
                lf = evals::scaled_betabinom_log_fail(ap[r], bp[r], sp[r], k0);
                if (fr > 0.0) lf += fr * (evals::scaled_betabinom_log_fail(ap[r], bp[r], sp[r], k0 + 1.0) - lf);
              }
              o[r * K + t] = -std::expm1(lf);
            }
          }, 1);
        }
        return out;
      },
      py::arg("alpha"), py::arg("beta"), py::arg("k"), py::arg("s") = py::none(),
      "Coverage 1 - E[(1 - s u)^k], u ~ Beta(alpha, beta) (s = 1: 1 - B(alpha, beta+k)/B(alpha, beta)): [R, K]. "
      "With s < 1, k between integers interpolates log failure linearly.");

  m.def(
      "evals_passuntil",
      [](py::array s, py::array r, py::array target, double level, int threads) {
        const char* op = "passuntil";
        const py::ssize_t M = s.size();
        const i64* sp = in_ptr<i64>(s, op, "successes");
        const i64* rp = in_ptr<i64>(r, op, "trials", M);
        const i64* tp = in_ptr<i64>(target, op, "target", M);
        for (py::ssize_t i = 0; i < M; ++i)
          if (rp[i] < 1 || sp[i] < 0 || sp[i] > rp[i])
            throw py::value_error("passuntil: need trials >= 1 and 0 <= successes <= trials (item " +
                                  std::to_string(i) + ")");
        py::array_t<double> mle(M), unb(M), lo(M), hi(M), pm(M);
        py::array_t<std::int8_t> cens(M);
        double *a = mle.mutable_data(), *b = unb.mutable_data(), *l = lo.mutable_data(), *h = hi.mutable_data(),
               *p = pm.mutable_data();
        std::int8_t* cz = cens.mutable_data();
        {
          py::gil_scoped_release rel;
          evals::passuntil_estimates(M, sp, rp, tp, level, a, b, l, h, p, cz, threads);
        }
        return py::make_tuple(mle, unb, lo, hi, pm, cens);
      },
      py::arg("successes"), py::arg("trials"), py::arg("target"), py::arg("level"), py::arg("threads") = 0,
      "PassUntil estimators per item: (mle, unbiased, low, high, posterior_mean, censored).");

  m.def(
      "evals_irt_fit",
      [](py::array Y, int model, int dim, int max_iter, double tol, double a_mean, double a_sd, double b_sd,
         std::uint64_t seed, int threads, int method, int quadrature, py::object item_keys) {
        const char* op = "fit_irt";
        if (method != 0 && method != 1) throw py::value_error("fit_irt: 'method' must be 0 (jmap) or 1 (mml)");
        if (method == 1 && model != 1)
          throw py::value_error("fit_irt: method 'mml' is implemented for model '2pl' only");
        if (method == 1 && (quadrature < 5 || quadrature > 401))
          throw py::value_error("fit_irt: 'quadrature' must be in [5, 401]");
        check_ndim(Y, op, "responses", 2);
        const py::ssize_t M = Y.shape(0), I = Y.shape(1);
        const std::int8_t* yp = in_ptr<std::int8_t>(Y, op, "responses");
        if (model < 0 || model > 2) throw py::value_error("fit_irt: 'model' must be 0 (rasch), 1 (2pl) or 2 (mirt)");
        const int D = model == 2 ? dim : 1;
        if (D < 1 || D > evals::kMaxIrtDim)
          throw py::value_error("fit_irt: 'dim' must be in [1, " + std::to_string(evals::kMaxIrtDim) + "]");
        if (M < 2) throw py::value_error("fit_irt: 'responses' needs at least 2 models (rows)");
        if (I < 1) throw py::value_error("fit_irt: 'responses' needs at least 1 item (column)");
        const std::uint64_t* ikeys = opt_ptr<std::uint64_t>(item_keys, op, "item_keys", I);
        IrtOptions o;
        o.model = model;
        o.dim = D;
        o.max_iter = max_iter;
        o.tol = tol;
        o.a_mean = a_mean;
        o.a_sd = a_sd;
        o.b_sd = b_sd;
        o.threads = threads;
        py::array_t<double> a({I, static_cast<py::ssize_t>(D)}), b(I), th({M, static_cast<py::ssize_t>(D)}),
            sa({I, static_cast<py::ssize_t>(D)}), sb(I), st({M, static_cast<py::ssize_t>(D)});
        IrtOutput out{a.mutable_data(), b.mutable_data(), th.mutable_data(), sa.mutable_data(), sb.mutable_data(),
                      st.mutable_data()};
        bool bad = false;
        {
          py::gil_scoped_release rel;
          for (py::ssize_t u = 0; u < M * I && !bad; ++u) bad = yp[u] < -1 || yp[u] > 1;
          if (!bad) {
            // Starts: theta = 0; a = (1, small Philox noise in further dimensions); b = -logit(item mean).
            double* ap = out.a;
            double* bp = out.b;
            parallel_for(I, threads, [&](i64 i) {
              double s = 0, cnt = 0;
              for (i64 j = 0; j < M; ++j) {
                const std::int8_t v = yp[j * I + i];
                if (v >= 0) {
                  s += v;
                  cnt += 1;
                }
              }
              const double p = std::fmin(std::fmax((s + 0.5) / (cnt + 1.0), 0.02), 0.98);
              bp[i] = -std::log(p / (1 - p));
              Philox rng(seed, curve_key(ikeys, i), 0x1A7Eull);  // keyed by the item, not its column
              ap[i * D] = 1.0;
              for (int d = 1; d < D; ++d) ap[i * D + d] = 0.3 * rng.normal();
            });
            std::fill(out.theta, out.theta + M * D, 0.0);
            if (method == 1)
              evals::fit_irt_mml(o, quadrature, M, I, yp, out);
            else
              evals::fit_irt(o, M, I, yp, out);
          }
        }
        if (bad) throw py::value_error("fit_irt: 'responses' must hold only 0, 1 or -1 (missing)");
        py::dict d;
        d["a"] = a;
        d["b"] = b;
        d["theta"] = th;
        d["se_a"] = sa;
        d["se_b"] = sb;
        d["se_theta"] = st;
        d["objective"] = out.objective;
        d["iterations"] = out.iterations;
        d["status"] = static_cast<int>(out.status);
        return d;
      },
      py::arg("responses"), py::arg("model"), py::arg("dim") = 1, py::arg("max_iter") = 200, py::arg("tol") = 1e-4,
      py::arg("a_mean") = 1.0, py::arg("a_sd") = 2.0, py::arg("b_sd") = 3.0, py::arg("seed") = 0,
      py::arg("threads") = 0, py::arg("method") = 0, py::arg("quadrature") = 61, py::arg("item_keys") = py::none(),
      "Batched IRT fit of a models x items response matrix (int8: 1, 0, -1): joint MAP (method 0) or marginal "
      "maximum likelihood by EM on a quadrature grid (method 1, 2PL).");

  m.def(
      "evals_irt_posterior_scores",
      [](py::array Y, py::object items, py::array a, py::array b, int quadrature, int threads) {
        const char* op = "estimate";
        check_ndim(Y, op, "responses", 2);
        check_ndim(a, op, "a", 2);
        const py::ssize_t M = Y.shape(0), K = Y.shape(1), I = a.shape(0);
        if (a.shape(1) != 1) throw py::value_error("estimate: posterior scores need a unidimensional model");
        if (quadrature < 5 || quadrature > 401) throw py::value_error("estimate: 'quadrature' must be in [5, 401]");
        const std::int8_t* yp = nullptr;
        const i64* ip = nullptr;
        anchor_answers(Y, items, I, &yp, &ip);
        const double* ap = in_ptr<double>(a, op, "a");
        const double* bp = in_ptr<double>(b, op, "b", I);
        py::array_t<double> th(M), sd(M), irt(M), pirt(M);
        double *tp = th.mutable_data(), *sp = sd.mutable_data(), *ir = irt.mutable_data(), *pr = pirt.mutable_data();
        {
          py::gil_scoped_release rel;
          evals::irt_posterior_scores(M, K, yp, ip, I, ap, bp, quadrature, tp, sp, ir, pr, threads);
        }
        return py::make_tuple(th, sd, irt, pirt);
      },
      py::arg("responses"), py::arg("items"), py::arg("a"), py::arg("b"), py::arg("quadrature") = 61,
      py::arg("threads") = 0,
      "Posterior (EAP) abilities and score estimates (irt, p-IRT) of many models from answers to anchor items.");

  m.def(
      "evals_irt_abilities",
      [](py::array Y, py::object items, py::array a, py::array b, int max_iter, int threads) {
        const char* op = "estimate";
        check_ndim(Y, op, "responses", 2);
        check_ndim(a, op, "a", 2);
        const py::ssize_t M = Y.shape(0), K = Y.shape(1), I = a.shape(0), D = a.shape(1);
        const std::int8_t* yp = nullptr;
        const i64* ip = nullptr;
        anchor_answers(Y, items, I, &yp, &ip);
        const double* ap = in_ptr<double>(a, op, "a");
        const double* bp = in_ptr<double>(b, op, "b", I);
        py::array_t<double> th({M, D}), se({M, D});
        double *tp = th.mutable_data(), *sp = se.mutable_data();
        {
          py::gil_scoped_release rel;
          std::fill(tp, tp + M * D, 0.0);
          evals::irt_abilities(static_cast<int>(D), M, K, yp, ip, ap, bp, max_iter, tp, sp, threads);
        }
        return py::make_tuple(th, se);
      },
      py::arg("responses"), py::arg("items"), py::arg("a"), py::arg("b"), py::arg("max_iter") = 50,
      py::arg("threads") = 0, "MAP abilities (N(0, I) prior) of many models from fixed item parameters.");

  m.def(
      "evals_irt_mean_prob",
      [](py::array theta, py::object items, py::array a, py::array b, int threads) {
        const char* op = "estimate";
        check_ndim(theta, op, "theta", 2);
        check_ndim(a, op, "a", 2);
        const py::ssize_t M = theta.shape(0), D = theta.shape(1), I = a.shape(0);
        if (a.shape(1) != D) throw py::value_error("estimate: 'theta' and 'a' disagree on the dimension");
        const double* tp = in_ptr<double>(theta, op, "theta");
        const double* ap = in_ptr<double>(a, op, "a");
        const double* bp = in_ptr<double>(b, op, "b", I);
        const i64* ip = opt_ptr<i64>(items, op, "items");
        const py::ssize_t K = ip ? py::array(items).size() : I;
        if (ip)
          for (py::ssize_t t = 0; t < K; ++t)
            if (ip[t] < 0 || ip[t] >= I) throw py::value_error("estimate: 'items' index out of range");
        py::array_t<double> out(M);
        double* o = out.mutable_data();
        {
          py::gil_scoped_release rel;
          evals::irt_mean_prob(static_cast<int>(D), M, tp, K, ip, ap, bp, o, threads);
        }
        return out;
      },
      py::arg("theta"), py::arg("items"), py::arg("a"), py::arg("b"), py::arg("threads") = 0,
      "Mean predicted probability over the items (all when items is None) per model.");

  m.def(
      "evals_kmeans",
      [](py::array X, i64 k, std::uint64_t seed, int max_iter, int threads) {
        const char* op = "select_items";
        check_ndim(X, op, "features", 2);
        const py::ssize_t N = X.shape(0), F = X.shape(1);
        const double* xp = in_ptr<double>(X, op, "features");
        if (k < 1 || k > N) throw py::value_error("select_items: 'n_items' must be in [1, number of items]");
        py::array_t<i64> labels(N), anchors(k), sizes(k);
        py::array_t<double> cent({static_cast<py::ssize_t>(k), F});
        i64 *lp = labels.mutable_data(), *anp = anchors.mutable_data(), *szp = sizes.mutable_data();
        double* cp = cent.mutable_data();
        {
          py::gil_scoped_release rel;
          evals::kmeans(N, static_cast<int>(F), xp, k, seed, max_iter, lp, cp, anp, szp, threads);
        }
        return py::make_tuple(labels, cent, anchors, sizes);
      },
      py::arg("features"), py::arg("k"), py::arg("seed"), py::arg("max_iter") = 100, py::arg("threads") = 0,
      "k-means (k-means++ seeding) returning labels, centroids, anchor items (nearest member) and sizes.");

  m.def(
      "evals_irt_adaptive",
      [](py::array Y, py::array a, py::array b, double se_stop, i64 min_items, i64 max_items, int threads) {
        const char* op = "select_items (adaptive)";
        check_ndim(Y, op, "responses", 2);
        check_ndim(a, op, "a", 2);
        const py::ssize_t M = Y.shape(0), I = Y.shape(1), D = a.shape(1);
        if (a.shape(0) != I)
          throw py::value_error("select_items: 'responses' has " + std::to_string(I) + " columns but the model has " +
                                std::to_string(a.shape(0)) + " items");
        const std::int8_t* yp = in_ptr<std::int8_t>(Y, op, "responses");
        const double* ap = in_ptr<double>(a, op, "a");
        const double* bp = in_ptr<double>(b, op, "b", I);
        if (max_items < 1) throw py::value_error("select_items: 'max_items' must be >= 1");
        for (py::ssize_t u = 0; u < M * I; ++u)
          if (yp[u] < -1 || yp[u] > 1) throw py::value_error("select_items: 'responses' must hold only 0, 1 or -1");
        py::array_t<i64> order({M, static_cast<py::ssize_t>(max_items)}), nused(M);
        py::array_t<double> th({M, D}), se({M, D});
        i64 *op_ = order.mutable_data(), *np = nused.mutable_data();
        double *tp = th.mutable_data(), *sp = se.mutable_data();
        {
          py::gil_scoped_release rel;
          evals::irt_adaptive(static_cast<int>(D), M, I, yp, ap, bp, se_stop, min_items, max_items, op_, np, tp, sp,
                              threads);
        }
        return py::make_tuple(order, nused, th, se);
      },
      py::arg("responses"), py::arg("a"), py::arg("b"), py::arg("se_stop"), py::arg("min_items"),
      py::arg("max_items"), py::arg("threads") = 0,
      "Simulated adaptive testing by maximum Fisher information with an SE stopping rule.");
}

}  // namespace
LAWFIT_REGISTER_BINDINGS(register_evals);
}  // namespace lawfit::bindings
