// The law interface. Every built-in law is a struct in its own header in this folder with:
//
//   static constexpr const char* name;        catalogue name, e.g. "power_law"
//   static constexpr const char* formula;     human-readable formula (same names as params/inputs)
//   static constexpr const char* citation;    paper the law comes from
//   static constexpr int P, D;                number of parameters, number of inputs (x columns)
//   static constexpr const char* params[P];   parameter names
//   static constexpr const char* inputs[D];   input (x column) names
//   static constexpr double lower[P], upper[P];  default bounds (natural units; +-kInf = none)
//   static constexpr Scale scale[P];          LOG: optimised as log(p), p > 0 (scale parameters)
//   static constexpr bool linear[P];          f is linear in p_j jointly with the other linear params
//                                             (f = f0(theta) + sum_j p_j phi_j(theta)); used to solve
//                                             those parameters exactly when starting from a grid
//   static constexpr Axis grid[P];            default start grid (axes of linear params are ignored)
//   static constexpr int amplitude[P];        optional: for a nonlinear parameter whose derivative is one linear
//                                             parameter times a function of the nonlinear ones and x only (it sits in
//                                             a term A * phi(x; theta), e.g. power_law's alpha in A x^-alpha), the
//                                             index of that linear parameter; -1 otherwise and for linear ones.
//                                             VarPro (core/fit/varpro.hpp) then has the exact normal equations at
//                                             the point with the linear parameters solved, without evaluating there
//   LAWFIT_HD static bool domain(const double* x);                      x[D] inside the law's domain
//   LAWFIT_HD static double eval(const double* x, const double* p, double* g);
//       value at x[D] with parameters p[P]; if g != nullptr also writes df/dp into g[P]
//
// Optional, for speed: a law whose eval spends its time on per-point transforms of x (e.g. log x) may add
//   static constexpr int DP;                                     width of the prepared inputs
//   LAWFIT_HD static void prepare(const double* x, double* xp);  x[D] -> xp[DP], once per point and batch
//   LAWFIT_HD static double eval_prepared(const double* xp, const double* p, double* g);
// and derive from PreparedEval<Law>, which defines eval(x) as prepare + eval_prepared (or from
// LogInputs<Law, D>, which also supplies DP and a prepare that takes the log of every input). The batched fit
// then transforms the inputs once instead of on every evaluation; eval() keeps taking raw inputs, so every
// other caller is unaffected, and both paths give the same bits.
//
// Optional, for speed: the evaluation written once on its number type,
//   template <class T> LAWFIT_HD static T eval_t(const T* xp, const T* p, T* g);   (xp: prepared inputs where the law
//                                                                                 prepares, else x; math through vm::)
// with eval_prepared (or eval) calling eval_t<double>. On the CPU levels with vector lanes (core/vtype.hpp) the
// solver then fits four curves at once, T being four doubles (core/fit/lanes.hpp); vm::exp etc. of a double are the
// std:: calls, so the scalar evaluation keeps its bits.
//
// Optional, for speed: a law that is additively separable in its inputs,
//   f(x, p) = constant(p) + term(0, x[0], p) + ... + term(D-1, x[D-1], p)   (summed left to right),
// may declare it with
//   static constexpr bool separable = true;
//   LAWFIT_HD static double constant(const double* p);
//   LAWFIT_HD static double term(int k, double x_k, const double* p);   input k's term at raw value x_k
// The sum must be bit-identical to eval(x, p, nullptr) (same operations in the same order), so callers may use
// either. Reductions over grids whose inputs take few distinct values (core/cost/plan.hpp) then evaluate each
// term once per distinct value and parameter vector, and each grid point is a table lookup and add per input.
//
// Rules (DESIGN.md principle 1): no allocation, no exceptions, no virtual calls; usable on the GPU.
#pragma once
#include <type_traits>

#include "core/common.hpp"
#include "core/vtype.hpp"

namespace lawfit::laws {

// One axis of a default start grid: n values (n <= 8).
struct Axis {
  int n;
  double v[8];
};

// eval() of a law with a prepare step (CRTP base, see the interface above): prepare, then eval_prepared.
template <class Law>
struct PreparedEval {
  LAWFIT_HD static double eval(const double* x, const double* p, double* g) {
    double xp[Law::DP];
    Law::prepare(x, xp);
    return Law::eval_prepared(xp, p, g);
  }
};

// The most common prepare step: the logarithm of each of the law's D inputs (DP = D).
template <class Law, int D>
struct LogInputs : PreparedEval<Law> {
  static constexpr int DP = D;
  LAWFIT_HD static void prepare(const double* x, double* xp) {
    for (int k = 0; k < D; ++k) xp[k] = std::log(x[k]);
  }
};

// Adapter that gives a built-in law the "model" interface the solvers use (the formula evaluator in
// core/fit/formula.hpp provides the same interface with a runtime parameter count).
// Copies of a law's per-parameter tables built at compile time: indexing a local constexpr copy with a runtime
// index also works in device code (nvcc cannot read a host static array from the GPU).
// Does Law declare amplitude[] (above)?
template <class Law, class = void>
struct HasAmplitude : std::false_type {};
template <class Law>
struct HasAmplitude<Law, std::void_t<decltype(Law::amplitude)>> : std::true_type {};

template <class Law>
struct ParamTables {
  bool linear[Law::P];
  Scale scale[Law::P];
  int amplitude[Law::P];
  constexpr ParamTables() : linear{}, scale{}, amplitude{} {
    for (int j = 0; j < Law::P; ++j) {
      linear[j] = Law::linear[j];
      scale[j] = Law::scale[j];
      if constexpr (HasAmplitude<Law>::value) amplitude[j] = Law::amplitude[j];
      else amplitude[j] = -1;
    }
  }
};

template <class Law>
struct StaticModel {
  using law_type = Law;
  static constexpr int PMAX = Law::P;
  LAWFIT_HD constexpr int n_params() const { return Law::P; }
  LAWFIT_HD constexpr int n_inputs() const { return Law::D; }
  LAWFIT_HD bool domain(const double* x) const { return Law::domain(x); }
  LAWFIT_HD double eval(const double* x, const double* p, double* g) const { return Law::eval(x, p, g); }
  LAWFIT_HD bool is_linear(int j) const {
    constexpr ParamTables<Law> t{};
    return t.linear[j];
  }
  LAWFIT_HD Scale scale(int j) const {
    constexpr ParamTables<Law> t{};
    return t.scale[j];
  }
  LAWFIT_HD int amplitude(int j) const {
    constexpr ParamTables<Law> t{};
    return t.amplitude[j];
  }
};

// Does Law define prepare/eval_prepared?
// Any built-in law behind one model type, its evaluation called through a pointer: the joint (shared-parameter)
// fits and their bootstrap are compiled once for all laws (core/fit/shared.hpp) instead of once per law, which
// keeps the build short; those fits are one solve per batch, where the indirect call costs little. Same values as
// StaticModel<Law> (the same eval).
struct DynamicLaw {
  static constexpr int PMAX = 12;  // >= every catalogue law's P (checked in of<Law>())
  int np = 0, d = 0;
  double (*eval_fn)(const double*, const double*, double*) = nullptr;
  bool (*domain_fn)(const double*) = nullptr;
  bool linear[PMAX] = {};
  Scale scales[PMAX] = {};

  template <class Law>
  static DynamicLaw of() {
    static_assert(Law::P <= PMAX, "raise DynamicLaw::PMAX");
    DynamicLaw m;
    m.np = Law::P;
    m.d = Law::D;
    m.eval_fn = &Law::eval;
    m.domain_fn = &Law::domain;
    for (int j = 0; j < Law::P; ++j) {
      m.linear[j] = Law::linear[j];
      m.scales[j] = Law::scale[j];
    }
    return m;
  }
  int n_params() const { return np; }
  int n_inputs() const { return d; }
  bool domain(const double* x) const { return domain_fn(x); }
  double eval(const double* x, const double* p, double* g) const { return eval_fn(x, p, g); }
  bool is_linear(int j) const { return linear[j]; }
  Scale scale(int j) const { return scales[j]; }
};

template <class Law, class = void>
struct HasPrepare : std::false_type {};
template <class Law>
struct HasPrepare<Law, std::void_t<decltype(Law::DP), decltype(&Law::prepare), decltype(&Law::eval_prepared)>>
    : std::true_type {};

// Does Law declare itself additively separable (constant + term per input, see above)?
template <class Law, class = void>
struct IsSeparable : std::false_type {};
template <class Law>
struct IsSeparable<Law, std::void_t<decltype(Law::separable), decltype(&Law::constant), decltype(&Law::term)>>
    : std::integral_constant<bool, Law::separable> {};

// The model the solver sees when inputs were prepared: eval takes xp[DP]. Domain checks happen on the raw
// inputs before preparation.
template <class Law>
struct PreparedModel {
  using law_type = Law;
  static constexpr int PMAX = Law::P;
  LAWFIT_HD constexpr int n_params() const { return Law::P; }
  LAWFIT_HD constexpr int n_inputs() const { return Law::DP; }
  LAWFIT_HD bool domain(const double*) const { return true; }
  LAWFIT_HD double eval(const double* xp, const double* p, double* g) const { return Law::eval_prepared(xp, p, g); }
  LAWFIT_HD bool is_linear(int j) const {
    constexpr ParamTables<Law> t{};
    return t.linear[j];
  }
  LAWFIT_HD Scale scale(int j) const {
    constexpr ParamTables<Law> t{};
    return t.scale[j];
  }
  LAWFIT_HD int amplitude(int j) const {
    constexpr ParamTables<Law> t{};
    return t.amplitude[j];
  }
};

// Maps a model to its prepared form (identity for models without prepare).
template <class Model>
struct Preparation {
  static constexpr bool enabled = false;
};
template <class Law>
struct Preparation<StaticModel<Law>> {
  static constexpr bool enabled = HasPrepare<Law>::value;
};

// Numerically safe helpers shared by the laws.
LAWFIT_HD inline double sigmoid(double z) {
  if (z >= 0) {
    double e = std::exp(-z);
    return 1.0 / (1.0 + e);
  }
  double e = std::exp(z);
  return e / (1.0 + e);
}

}  // namespace lawfit::laws
