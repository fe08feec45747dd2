// lawfit core: definitions shared by every part of the math (laws, solvers, samplers, cost models).
// Plain C++17, no Python. Code marked LAWFIT_HD compiles for both host and device (nvcc).
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#if defined(__CUDACC__)
#define LAWFIT_HD __host__ __device__
#else
#define LAWFIT_HD
#endif

// The solver's small per-iteration helpers (core/fit/linalg.hpp, lm.hpp, varpro.hpp): always inlined on the CPU. In a
// library that instantiates the solver for many laws in one translation unit, GCC's inlining budget otherwise leaves
// them as calls (measured). LAWFIT_INLINE_LAMBDA: the same for a lambda (after its parameter list).
#if defined(__CUDACC__) || !defined(__GNUC__)
#define LAWFIT_INLINE inline
#define LAWFIT_INLINE_LAMBDA
#else
#define LAWFIT_INLINE inline __attribute__((always_inline))
#define LAWFIT_INLINE_LAMBDA __attribute__((always_inline))
#endif

// LAWFIT_UNROLL before a loop whose trip count is a small compile-time constant: unrolled on the CPU (the small
// systems' bodies of a fixed size: core/fit/linalg.hpp, the damped step and stationarity test of core/fit/lm.hpp,
// where a run-time size is then unrolled by 4 as well: measured, no loss there). Nothing on the GPU.
#if defined(__CUDACC__) || !defined(__GNUC__)
#define LAWFIT_UNROLL
#else
#define LAWFIT_UNROLL _Pragma("GCC unroll 4")
#endif

namespace lawfit {

using i64 = std::int64_t;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Per-curve outcome. Values are part of the Python API (lawfit.Status); append only.
enum Status : std::int32_t {
  CONVERGED = 0,       // a tolerance (ftol, xtol or gtol) was met
  MAX_ITER = 1,        // iteration limit reached; parameters are the best found so far
  SINGULAR = 2,        // the normal equations could not be solved at the start
  NON_FINITE = 3,      // NaN/inf in x, y or w, or the model is not finite at every start
  TOO_FEW_POINTS = 4,  // fewer points than free parameters (includes empty curves)
  INVALID_INPUT = 5,   // x outside the law's domain, y <= 0 in log space, negative weight, bad bounds
  NOT_RUN = 6,         // curve skipped (e.g. no start inside the bounds)
};

// Parameter transform used inside the solver. LOG parameters are optimised as log(p) (p > 0).
enum Scale : std::int32_t { LINEAR = 0, LOG = 1 };

// Robust loss applied to residuals (scipy.optimize.least_squares conventions, f_scale = delta).
enum Loss : std::int32_t { L2 = 0, HUBER = 1, SOFT_L1 = 2, CAUCHY = 3 };

// Residual space: y - f or log(y) - log(f).
enum Space : std::int32_t { SPACE_LINEAR = 0, SPACE_LOG = 1 };

// Worker threads actually used for a request of `threads` (<= 0: all hardware threads): capped at
// kThreadsPerCore x the hardware threads, since more only adds contention (and creating 10^6 threads fails).
constexpr int kThreadsPerCore = 4;
inline int effective_threads(int threads) {
  const int hw = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  if (threads <= 0) return hw;
  return std::min(threads, kThreadsPerCore * hw);
}

// Interruption and progress of long native loops. The Python bindings install poll_hook(); parallel_for calls it
// from the thread that entered the native call (never from its own worker threads), at most every ~50 ms, with
// the items started so far and the loop's size. A true return stops the loop: workers take no new items, all
// are joined, and parallel_for throws Interrupted (the bindings re-raise the pending Python exception, e.g. the
// KeyboardInterrupt of a Ctrl-C). Without a hook (plain C++ use) nothing is polled.
struct Interrupted : std::exception {
  const char* what() const noexcept override { return "lawfit: native loop interrupted"; }
};
using PollHook = bool (*)(i64 done, i64 total);
inline std::atomic<PollHook>& poll_hook() {
  static std::atomic<PollHook> hook{nullptr};
  return hook;
}
// Is this thread one of parallel_for's workers? (They never poll.)
inline bool& in_worker_thread() {
  thread_local bool worker = false;
  return worker;
}

// Rate-limited poll of one loop (on the calling thread only).
class Poller {
 public:
  explicit Poller(i64 total) : total_(total), hook_(in_worker_thread() ? nullptr : poll_hook().load()) {}
  bool active() const { return hook_ != nullptr; }
  // Call after each item; true means stop.
  bool operator()(i64 done) {
    if (!hook_ || (++calls_ & 7) != 0) return false;
    const auto t = std::chrono::steady_clock::now();
    if (t - last_ < std::chrono::milliseconds(50)) return false;
    last_ = t;
    return hook_(done, total_);
  }

 private:
  i64 total_;
  PollHook hook_;
  unsigned calls_ = 0;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

// Run fn(i) for i in [0, n) on `threads` worker threads (effective_threads) in dynamic chunks. Results must
// not depend on which thread runs which index (every caller writes to index-owned slots only), so output is
// identical for any thread count. If the system refuses to create a thread, the threads already running
// (and the caller's) do the remaining chunks. An exception thrown by fn on any thread (or an interruption, see
// Poller) stops the loop: the other threads take no new items, all are joined, and the first exception is
// rethrown on the calling thread.
template <class Fn>
void parallel_for(i64 n, int threads, Fn&& fn, i64 chunk = 0) {
  if (n <= 0) return;
  threads = effective_threads(threads);
  if (chunk <= 0) chunk = std::max<i64>(1, std::min<i64>(256, n / (8 * threads) + 1));
  Poller poll(n);
  if (threads == 1 || n <= chunk) {
    for (i64 i = 0; i < n; ++i) {
      fn(i);
      if (poll(i + 1)) throw Interrupted();
    }
    return;
  }
  std::atomic<i64> next{0};
  std::atomic<bool> stop{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto run = [&](bool caller) {
    try {
      while (!stop.load(std::memory_order_relaxed)) {
        const i64 begin = next.fetch_add(chunk);
        if (begin >= n) break;
        const i64 end = std::min(n, begin + chunk);
        for (i64 i = begin; i < end && !stop.load(std::memory_order_relaxed); ++i) {
          fn(i);
          if (caller && poll(std::min(next.load(std::memory_order_relaxed), n))) throw Interrupted();
        }
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      stop = true;
    }
  };
  const int nt = static_cast<int>(std::min<i64>(threads, (n + chunk - 1) / chunk));
  std::vector<std::thread> pool;
  pool.reserve(nt - 1);
  for (int t = 1; t < nt; ++t) {
    try {
      pool.emplace_back([&run] {
        in_worker_thread() = true;
        run(false);
      });
    } catch (const std::system_error&) {
      break;  // out of threads: fewer workers, same result
    }
  }
  run(true);
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

// The stream key of curve b: keys[b] (a stable hash of the curve's `by` values, computed by the caller) or,
// without keys, b itself. Random streams use this key, never the curve's position, so adding, removing or
// reordering other curves (or splitting the batch into partitions) leaves a curve's draws unchanged.
LAWFIT_HD inline std::uint64_t curve_key(const std::uint64_t* keys, i64 b) {
  return keys ? keys[b] : static_cast<std::uint64_t>(b);
}

// Philox4x32-10 counter-based generator (Salmon et al. 2011). A stream is keyed by (seed, a, b), e.g.
// (seed, curve key, replicate); draw k of the stream is a pure function of the key and k, so the CPU and the GPU,
// and any thread count, produce the same numbers.
struct Philox {
  std::uint32_t key[2];
  std::uint32_t ctr[4];
  std::uint32_t out[4];
  int used = 4;

  LAWFIT_HD Philox(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0) {
    key[0] = static_cast<std::uint32_t>(seed);
    key[1] = static_cast<std::uint32_t>(seed >> 32);
    ctr[0] = static_cast<std::uint32_t>(a);
    ctr[1] = static_cast<std::uint32_t>(a >> 32);
    ctr[2] = static_cast<std::uint32_t>(b);
    ctr[3] = static_cast<std::uint32_t>(b >> 32) & 0xFFFFu;  // top 16 bits: block counter
    ctr3_base = ctr[3];
    block = 0;
  }
  LAWFIT_HD static void mulhilo(std::uint32_t a, std::uint32_t b, std::uint32_t& hi, std::uint32_t& lo) {
    std::uint64_t p = static_cast<std::uint64_t>(a) * b;
    hi = static_cast<std::uint32_t>(p >> 32);
    lo = static_cast<std::uint32_t>(p);
  }
  LAWFIT_HD void next_block() {
    std::uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr3_base | (block << 16)};
    std::uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; ++r) {
      std::uint32_t hi0, lo0, hi1, lo1;
      mulhilo(0xD2511F53u, c[0], hi0, lo0);
      mulhilo(0xCD9E8D57u, c[2], hi1, lo1);
      std::uint32_t n0 = hi1 ^ c[1] ^ k0, n1 = lo1, n2 = hi0 ^ c[3] ^ k1, n3 = lo0;
      c[0] = n0; c[1] = n1; c[2] = n2; c[3] = n3;
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    out[0] = c[0]; out[1] = c[1]; out[2] = c[2]; out[3] = c[3];
    ++block;
    used = 0;
  }
  LAWFIT_HD std::uint32_t next_u32() {
    if (used >= 4) next_block();
    return out[used++];
  }
  // Uniform double in (0, 1): 53 random bits, never exactly 0 or 1.
  LAWFIT_HD double uniform() {
    std::uint64_t hi = next_u32(), lo = next_u32();
    std::uint64_t bits = ((hi << 32) | lo) >> 11;
    return (static_cast<double>(bits) + 0.5) * (1.0 / 9007199254740992.0);
  }
  // Standard normal by Box-Muller (uses two uniforms per draw; deterministic, no cached spare).
  LAWFIT_HD double normal() {
    double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586476925 * u2);
  }
  // Integer in [0, n) (n > 0), by 64-bit multiply-shift on a 53-bit uniform: unbiased enough for n << 2^53.
  LAWFIT_HD i64 below(i64 n) { return static_cast<i64>(uniform() * static_cast<double>(n)) % n; }

 private:
  std::uint32_t ctr3_base;
  std::uint32_t block;
};

}  // namespace lawfit
