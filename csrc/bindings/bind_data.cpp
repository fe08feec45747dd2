// Bindings for the data layer (lawfit._data): the runs of equal keys in a table's `by` column, the grouping of rows
// into curves that every fit starts with.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bindings/registry.hpp"
#include "core/common.hpp"

namespace lawfit::bindings {
namespace {

// Do rows a and b have another key? Floating keys: NaN equals NaN (one curve of NaN keys, as pandas groups them).
template <class T>
inline bool differs(T a, T b) {
  if constexpr (std::is_floating_point<T>::value) return !(a == b || (a != a && b != b));
  else return a != b;
}

// Rows i in [lo, hi) where row i + 1 starts a new run (v[i] differs from v[i + 1]): i + 1 into at, the new run's key
// into key, in order; returns their number. *increasing &= each new run's key is above the last one's. Blocks of 64
// rows make a bit mask first (a loop without branches, which the compiler vectorises), so the branches are one per
// run, not one per row.
template <class T>
i64 scan_runs(const T* v, i64 lo, i64 hi, std::int64_t* at, T* key, bool* increasing) {
  i64 k = 0;
  bool inc = true;
  auto take = [&](i64 i) {
    at[k] = i + 1;
    key[k++] = v[i + 1];
    inc &= v[i] < v[i + 1];
  };
  i64 i = lo;
  for (; i + 64 <= hi; i += 64) {
    std::uint64_t mask = 0;
    for (int j = 0; j < 64; ++j) mask |= std::uint64_t(differs(v[i + j], v[i + j + 1])) << j;
    while (mask) {
      take(i + __builtin_ctzll(mask));
      mask &= mask - 1;
    }
  }
  for (; i < hi; ++i)
    if (differs(v[i], v[i + 1])) take(i);
  *increasing &= inc;
  return k;
}

// key_runs(values, threads) for a 1-D column of n rows: (run_starts int64 [R - 1], the first row of every run but the
// first; keys [R], each run's key, values' dtype; increasing: every run's key above the one before). Chunks of rows
// are scanned in parallel, each into its own buffers (pages touched only as runs are found), then copied into place
// in parallel.
template <class T>
py::tuple key_runs_t(const py::array& values, int threads) {
  const i64 n = values.size();
  const T* v = static_cast<const T*>(values.data());
  if (n == 0) return py::make_tuple(py::array_t<std::int64_t>(0), py::array_t<T>(0), true);
  const i64 rows = n - 1;  // row pairs (i, i + 1)
  const i64 K = std::max<i64>(1, std::min<i64>(8 * std::max(1, effective_threads(threads)), rows / 65536));
  std::vector<std::unique_ptr<std::int64_t[]>> at(K);
  std::vector<std::unique_ptr<T[]>> key(K);
  std::vector<i64> count(K, 0), from(K + 1, 0);
  std::vector<char> inc(K, 1);
  {
    py::gil_scoped_release release;
    parallel_for(K, threads, [&](i64 q) {
      const i64 lo = rows * q / K, hi = rows * (q + 1) / K, len = std::max<i64>(1, hi - lo);
      at[q].reset(new std::int64_t[len]);  // (uninitialised: untouched pages cost nothing)
      key[q].reset(new T[len]);
      bool up = true;
      count[q] = scan_runs(v, lo, hi, at[q].get(), key[q].get(), &up);
      inc[q] = up;
    }, 1);
  }
  bool increasing = true;
  for (i64 q = 0; q < K; ++q) {
    from[q + 1] = from[q] + count[q];
    increasing &= inc[q] != 0;
  }
  py::array_t<std::int64_t> starts(from[K]);
  py::array_t<T> keys(from[K] + 1);
  std::int64_t* s = starts.mutable_data();
  T* kv = keys.mutable_data();
  kv[0] = v[0];
  {
    py::gil_scoped_release release;
    parallel_for(K, threads, [&](i64 q) {
      std::memcpy(s + from[q], at[q].get(), static_cast<size_t>(count[q]) * sizeof(std::int64_t));
      std::memcpy(kv + 1 + from[q], key[q].get(), static_cast<size_t>(count[q]) * sizeof(T));
    }, 1);
  }
  return py::make_tuple(starts, keys, increasing);
}

py::tuple key_runs(const py::array& values, int threads) {
  if (values.ndim() != 1 || !(values.flags() & py::array::c_style))
    throw py::value_error("key_runs: 'values' must be a C-contiguous 1-D array");
  if (py::isinstance<py::array_t<std::int64_t>>(values)) return key_runs_t<std::int64_t>(values, threads);
  if (py::isinstance<py::array_t<std::int32_t>>(values)) return key_runs_t<std::int32_t>(values, threads);
  if (py::isinstance<py::array_t<std::uint64_t>>(values)) return key_runs_t<std::uint64_t>(values, threads);
  if (py::isinstance<py::array_t<std::uint32_t>>(values)) return key_runs_t<std::uint32_t>(values, threads);
  if (py::isinstance<py::array_t<double>>(values)) return key_runs_t<double>(values, threads);
  if (py::isinstance<py::array_t<float>>(values)) return key_runs_t<float>(values, threads);
  throw py::value_error("key_runs: 'values' must be int32, int64, uint32, uint64, float32 or float64, got " +
                        py::str(values.dtype()).cast<std::string>());
}

void register_data(py::module_& m) {
  m.def("key_runs", &key_runs, py::arg("values"), py::arg("threads") = 0,
        "Runs of equal keys in a 1-D column: (run_starts int64 [R-1], keys [R], increasing). NaN keys equal NaN.");
}

}  // namespace
LAWFIT_REGISTER_BINDINGS(register_data);
}  // namespace lawfit::bindings
