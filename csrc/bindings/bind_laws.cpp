// Bindings for per-curve input transforms of catalogue laws (core/laws): lr_annealing's schedule integrals.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "bindings/arrays.hpp"
#include "bindings/registry.hpp"
#include "core/laws/lr_annealing.hpp"

namespace lawfit::bindings {
namespace {

// offsets[B+1] (int64), x[n_total, 2] = (step, lr) rows, sorted by step within each curve.
// Returns (features[n_total, 2] = (S1, S2), error[B] int32: 0 ok, 1 steps not increasing, 2 bad step value).
py::tuple lr_annealing_features(py::array offsets, py::array x, double lam, int threads) {
  const char* op = "lr_annealing_features";
  const py::ssize_t n_total = x.size() / 2;
  const double* xp = in_ptr<double>(x, op, "x", n_total * 2);
  py::ssize_t B = 0;
  const i64* off = csr_offsets(offsets, op, "offsets", n_total, "x rows", &B);
  if (!(lam >= 0.0 && lam <= 1.0)) throw py::value_error(std::string(op) + ": 'lam' must be in [0, 1]");
  py::array_t<double> out({n_total, static_cast<py::ssize_t>(2)});
  py::array_t<std::int32_t> err(B);
  double* o = out.mutable_data();
  std::int32_t* e = err.mutable_data();
  {
    py::gil_scoped_release release;
    parallel_for(B, threads, [&](i64 b) {
      const i64 a = off[b];
      e[b] = laws::lr_annealing_features(xp + 2 * a, off[b + 1] - a, lam, o + 2 * a);
    });
  }
  return py::make_tuple(out, err);
}


// Schedule integrals under named schedules, one per curve: offsets[B+1], steps[n_total] (strictly increasing
// non-negative integers within each curve), kind/shape int32 [B], warmup/total/peak/final/decay float64 [B].
// Returns (features[n_total, 2], error[B] int32 as lr_annealing_features).
py::tuple schedule_features(py::array offsets, py::array steps, py::array kind, py::array warmup, py::array total,
                            py::array peak, py::array final_lr, py::array decay, py::array shape, double lam,
                            double max_step, int threads) {
  const char* op = "schedule_features";
  const py::ssize_t n_total = steps.size();
  py::ssize_t B = 0;
  const i64* off = csr_offsets(offsets, op, "offsets", n_total, "steps", &B);
  const double* st = in_ptr<double>(steps, op, "steps", n_total);
  const std::int32_t* kd = in_ptr<std::int32_t>(kind, op, "kind", B);
  const std::int32_t* sh = in_ptr<std::int32_t>(shape, op, "shape", B);
  const double* wu = in_ptr<double>(warmup, op, "warmup", B);
  const double* tt = in_ptr<double>(total, op, "total", B);
  const double* pk = in_ptr<double>(peak, op, "peak", B);
  const double* fl = in_ptr<double>(final_lr, op, "final", B);
  const double* dc = in_ptr<double>(decay, op, "decay", B);
  if (!(lam >= 0.0 && lam <= 1.0)) throw py::value_error(std::string(op) + ": 'lam' must be in [0, 1]");
  py::array_t<double> out({n_total, static_cast<py::ssize_t>(2)});
  py::array_t<std::int32_t> err(B);
  double* o = out.mutable_data();
  std::int32_t* e = err.mutable_data();
  {
    py::gil_scoped_release release;
    parallel_for(B, threads, [&](i64 b) {
      laws::ScheduleSpec sc;
      sc.kind = kd[b];
      sc.shape = sh[b];
      sc.warmup = wu[b];
      sc.total = tt[b];
      sc.peak = pk[b];
      sc.final_lr = fl[b];
      sc.decay = dc[b];
      const i64 a = off[b];
      e[b] = laws::schedule_features(sc, st + a, off[b + 1] - a, lam, max_step, o + 2 * a);
    });
  }
  return py::make_tuple(out, err);
}

void register_laws(py::module_& m) {
  m.def("lr_annealing_features", &lr_annealing_features, py::arg("offsets"), py::arg("x"), py::arg("lam") = 0.999,
        py::arg("threads") = 0,
        "Schedule integrals (S1, S2) of lr_annealing per row from (step, lr) rows of a CSR batch of curves.");
  m.def("schedule_features", &schedule_features, py::arg("offsets"), py::arg("steps"), py::arg("kind"),
        py::arg("warmup"), py::arg("total"), py::arg("peak"), py::arg("final"), py::arg("decay"), py::arg("shape"),
        py::arg("lam") = 0.999, py::arg("max_step") = 1e9, py::arg("threads") = 0,
        "Schedule integrals (S1, S2) at the given steps under one named schedule per curve (exact step sums).");
}

}  // namespace
LAWFIT_REGISTER_BINDINGS(register_laws);
}  // namespace lawfit::bindings
