// Bindings for the data layer (lawfit._data): the runs of equal keys in a table's `by` columns, the grouping of rows
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

// Rows i + j, j < 64, whose key differs from the next row's, as a bit mask (bit j): a loop without branches, which the
// compiler vectorises.
template <class T>
inline std::uint64_t block_mask(const T* v, i64 i) {
  std::uint64_t mask = 0;
  for (int j = 0; j < 64; ++j) mask |= std::uint64_t(differs(v[i + j], v[i + j + 1])) << j;
  return mask;
}

// Calls take(i) for every row i in [lo, hi) whose key differs from row i + 1's (row i + 1 starts a new run), in order:
// mask_at(i) the bit mask of rows i..i+63 (block_mask), differs_at(i) one row's test. The branches are one per run,
// not one per row.
template <class MaskAt, class DiffersAt, class Take>
void scan_blocks(i64 lo, i64 hi, MaskAt mask_at, DiffersAt differs_at, Take take) {
  i64 i = lo;
  for (; i + 64 <= hi; i += 64)
    for (std::uint64_t mask = mask_at(i); mask; mask &= mask - 1) take(i + __builtin_ctzll(mask));
  for (; i < hi; ++i)
    if (differs_at(i)) take(i);
}

// One column's runs in [lo, hi): each new run's first row (i + 1) into at and its key into key; returns their number.
// *increasing &= each new run's key is above the last one's.
template <class T>
i64 scan_runs(const T* v, i64 lo, i64 hi, std::int64_t* at, T* key, bool* increasing) {
  i64 k = 0;
  bool inc = true;
  scan_blocks(
      lo, hi, [&](i64 i) { return block_mask(v, i); }, [&](i64 i) { return differs(v[i], v[i + 1]); },
      [&](i64 i) {
        at[k] = i + 1;
        key[k++] = v[i + 1];
        inc &= v[i] < v[i + 1];
      });
  *increasing &= inc;
  return k;
}

// Chunks of `rows` row pairs (i, i + 1), scanned in parallel (run: scan(q, lo, hi, at) writes chunk q's run starts into
// its own buffer at, whose pages are touched only as runs are found, and returns their number), then joined (starts).
struct Chunks {
  i64 K = 1;
  std::vector<std::unique_ptr<std::int64_t[]>> at;
  std::vector<i64> count, from;
  Chunks(i64 rows, int threads)
      : K(std::max<i64>(1, std::min<i64>(8 * std::max(1, effective_threads(threads)), rows / 65536))),
        at(K), count(K, 0), from(K + 1, 0) {}
  template <class Scan>
  void run(i64 rows, int threads, Scan scan) {
    py::gil_scoped_release release;
    parallel_for(K, threads, [&](i64 q) {
      const i64 lo = rows * q / K, hi = rows * (q + 1) / K;
      at[q].reset(new std::int64_t[std::max<i64>(1, hi - lo)]);  // (uninitialised: untouched pages cost nothing)
      count[q] = scan(q, lo, hi, at[q].get());
    }, 1);
    for (i64 q = 0; q < K; ++q) from[q + 1] = from[q] + count[q];
  }
  // The run starts of every chunk, in order, into one new array (copied in parallel).
  py::array_t<std::int64_t> starts(int threads) {
    py::array_t<std::int64_t> out(from[K]);
    std::int64_t* s = out.mutable_data();
    py::gil_scoped_release release;
    parallel_for(K, threads, [&](i64 q) {
      std::memcpy(s + from[q], at[q].get(), static_cast<size_t>(count[q]) * sizeof(std::int64_t));
    }, 1);
    return out;
  }
};

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
  Chunks ch(rows, threads);
  std::vector<std::unique_ptr<T[]>> key(ch.K);
  std::vector<char> inc(ch.K, 1);
  ch.run(rows, threads, [&](i64 q, i64 lo, i64 hi, std::int64_t* at) {
    key[q].reset(new T[std::max<i64>(1, hi - lo)]);
    bool up = true;
    const i64 k = scan_runs(v, lo, hi, at, key[q].get(), &up);
    inc[q] = up;
    return k;
  });
  bool increasing = true;
  for (i64 q = 0; q < ch.K; ++q) increasing &= inc[q] != 0;
  py::array_t<std::int64_t> starts = ch.starts(threads);
  py::array_t<T> keys(ch.from[ch.K] + 1);
  T* kv = keys.mutable_data();
  kv[0] = v[0];
  {
    py::gil_scoped_release release;
    parallel_for(ch.K, threads, [&](i64 q) {
      std::memcpy(kv + 1 + ch.from[q], key[q].get(), static_cast<size_t>(ch.count[q]) * sizeof(T));
    }, 1);
  }
  return py::make_tuple(starts, keys, increasing);
}

// A key column of one of the dtypes below, read by a switch per block of 64 rows.
struct KeyColumn {
  const void* p;
  int kind;  // LAWFIT_KEY_KINDS index
};
template <class T>
inline const T* as(const KeyColumn& c) {
  return static_cast<const T*>(c.p);
}
#define LAWFIT_KEY_KINDS(X) X(0, std::int64_t) X(1, std::int32_t) X(2, std::uint64_t) X(3, std::uint32_t) X(4, double) \
  X(5, float)
inline int key_kind(const py::array& a) {
#define LAWFIT_KIND_OF(K, T) \
  if (py::isinstance<py::array_t<T>>(a)) return K;
  LAWFIT_KEY_KINDS(LAWFIT_KIND_OF)
#undef LAWFIT_KIND_OF
  return -1;
}
inline std::uint64_t column_mask(const KeyColumn& c, i64 i) {
  switch (c.kind) {
#define LAWFIT_MASK_OF(K, T) \
  case K: return block_mask(as<T>(c), i);
    LAWFIT_KEY_KINDS(LAWFIT_MASK_OF)
#undef LAWFIT_MASK_OF
  }
  return 0;
}
inline bool column_differs(const KeyColumn& c, i64 i) {
  switch (c.kind) {
#define LAWFIT_DIFFERS_OF(K, T) \
  case K: return differs(as<T>(c)[i], as<T>(c)[i + 1]);
    LAWFIT_KEY_KINDS(LAWFIT_DIFFERS_OF)
#undef LAWFIT_DIFFERS_OF
  }
  return false;
}

void check_key_column(const py::array& a, const char* op) {
  if (a.ndim() != 1 || !(a.flags() & py::array::c_style))
    throw py::value_error(std::string(op) + ": every key column must be a C-contiguous 1-D array");
  if (key_kind(a) < 0)
    throw py::value_error(std::string(op) + ": key columns must be int32, int64, uint32, uint64, float32 or float64, got " +
                          py::str(a.dtype()).cast<std::string>());
}

// key_run_starts(columns, threads): the first row of every run but the first, where a run is rows with the same key in
// every column (several `by` columns), int64 [R - 1].
py::array_t<std::int64_t> key_run_starts(const py::list& columns, int threads) {
  const char* op = "key_run_starts";
  std::vector<py::array> keep;
  std::vector<KeyColumn> cols;
  i64 n = -1;
  for (const py::handle& h : columns) {
    if (!py::isinstance<py::array>(h)) throw py::value_error(std::string(op) + ": columns must be numpy arrays");
    py::array a = py::reinterpret_borrow<py::array>(h);
    check_key_column(a, op);
    if (n >= 0 && a.size() != n) throw py::value_error(std::string(op) + ": the key columns differ in length");
    n = a.size();
    cols.push_back({a.data(), key_kind(a)});
    keep.push_back(a);
  }
  if (cols.empty()) throw py::value_error(std::string(op) + ": no key columns");
  if (n <= 1) return py::array_t<std::int64_t>(0);
  const i64 rows = n - 1;
  Chunks ch(rows, threads);
  ch.run(rows, threads, [&](i64, i64 lo, i64 hi, std::int64_t* at) {
    i64 k = 0;
    scan_blocks(
        lo, hi,
        [&](i64 i) {
          std::uint64_t m = 0;
          for (const KeyColumn& c : cols) m |= column_mask(c, i);
          return m;
        },
        [&](i64 i) {
          for (const KeyColumn& c : cols)
            if (column_differs(c, i)) return true;
          return false;
        },
        [&](i64 i) { at[k++] = i + 1; });
    return k;
  });
  return ch.starts(threads);
}

py::tuple key_runs(const py::array& values, int threads) {
  check_key_column(values, "key_runs");
  switch (key_kind(values)) {
#define LAWFIT_RUNS_OF(K, T) \
  case K: return key_runs_t<T>(values, threads);
    LAWFIT_KEY_KINDS(LAWFIT_RUNS_OF)
#undef LAWFIT_RUNS_OF
  }
  throw py::value_error("key_runs: unsupported dtype");
}

void register_data(py::module_& m) {
  m.def("key_runs", &key_runs, py::arg("values"), py::arg("threads") = 0,
        "Runs of equal keys in a 1-D column: (run_starts int64 [R-1], keys [R], increasing). NaN keys equal NaN.");
  m.def("key_run_starts", &key_run_starts, py::arg("columns"), py::arg("threads") = 0,
        "First rows of the runs (but the first) of rows with equal keys in every column, int64 [R-1].");
}

}  // namespace
LAWFIT_REGISTER_BINDINGS(register_data);
}  // namespace lawfit::bindings
