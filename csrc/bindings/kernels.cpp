// Loads the solver kernels (kernels/api.hpp) for this CPU: at import, the fastest level the CPU runs and the
// library can load, by cpuid. LAWFIT_CPU=baseline|avx2 forces a level (auto, the default, picks); a level that
// cannot load (CPU lacks AVX2/FMA, or the library's libmvec is missing) falls back to the baseline, and
// build_info() says which level is in use and why.
#include "bindings/kernels.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <vector>

#include "core/laws/all.hpp"

namespace lawfit::bindings {
namespace {

LoadedKernels g_kernels;
PollHook g_hook = nullptr;
struct LoadedJit {
  std::string path;
  const kernels::JitTable* table;
};
std::vector<LoadedJit> g_jits;  // appended under the GIL (the binding holds it)

std::string cpu_features() {
  std::string s;
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("sse4.2")) s += "sse4.2 ";
  if (__builtin_cpu_supports("avx")) s += "avx ";
  if (__builtin_cpu_supports("avx2")) s += "avx2 ";
  if (__builtin_cpu_supports("fma")) s += "fma ";
  if (__builtin_cpu_supports("avx512f")) s += "avx512f ";
#elif defined(__aarch64__)
  s += "neon ";
#endif
  if (!s.empty()) s.pop_back();
  return s;
}

bool cpu_runs(const std::string& level) {
  if (level == "baseline") return true;
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  if (level == "avx2") {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
#endif
  return false;
}

// The directory of this extension module (the kernel libraries lie beside it).
std::string module_dir() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&cpu_features), &info) == 0 || !info.dli_fname) return ".";
  std::string f = info.dli_fname;
  const auto slash = f.rfind('/');
  return slash == std::string::npos ? "." : f.substr(0, slash);
}

// Try one level; on failure say why in `why` and return null.
const kernels::KernelTable* try_level(const std::string& dir, const std::string& level, std::string* path,
                                      std::string* why) {
  *path = dir + "/_kernels_" + level + ".so";
  if (!cpu_runs(level)) {
    *why = level + ": this CPU lacks " + (level == "avx2" ? "AVX2/FMA" : "the instruction set");
    return nullptr;
  }
  void* h = dlopen(path->c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* e = dlerror();
    *why = level + ": " + (e ? e : "cannot load " + *path);
    return nullptr;
  }
  auto entry = reinterpret_cast<kernels::EntryFn>(dlsym(h, kernels::kEntryName));
  if (!entry) {
    *why = level + ": " + *path + " has no " + kernels::kEntryName;
    return nullptr;
  }
  const kernels::KernelTable* t = entry();
  if (!t || t->abi != kernels::kAbiVersion) {
    *why = level + ": " + *path + " was built for another lawfit version (kernel ABI mismatch)";
    return nullptr;
  }
  // The library's law list must be this module's (same source tree).
  std::vector<const char*> names;
#define X(L) names.push_back(laws::L::name);
  LAWFIT_FOR_EACH_LAW(X)
#undef X
  bool same = t->n_laws == static_cast<int>(names.size());
  for (int i = 0; same && i < t->n_laws; ++i) same = t->law_names[i] && std::strcmp(t->law_names[i], names[i]) == 0;
  if (!same) {
    *why = level + ": " + *path + " was built from another lawfit source (law list differs)";
    return nullptr;
  }
  return t;
}

}  // namespace

const LoadedKernels& load_kernels(PollHook hook) {
  if (g_kernels.table) return g_kernels;
  g_hook = hook;
  const char* env = std::getenv("LAWFIT_CPU");
  std::string want = env && *env ? env : "auto";
  if (want != "auto" && want != "baseline" && want != "avx2")
    throw std::runtime_error("LAWFIT_CPU must be auto, baseline or avx2, not '" + want + "'");
  // auto and avx2 both try the AVX2 level first and fall back to the baseline; baseline forces it.
  std::vector<std::string> order = want == "baseline" ? std::vector<std::string>{"baseline"}
                                                      : std::vector<std::string>{"avx2", "baseline"};
#if !(defined(__x86_64__) || defined(__i386__))
  order = {"baseline"};  // one level elsewhere (aarch64: NEON is the baseline)
#endif
  const std::string dir = module_dir();
  std::string reasons;
  for (const auto& level : order) {
    std::string path, why;
    const kernels::KernelTable* t = try_level(dir, level, &path, &why);
    if (t) {
      g_kernels.table = t;
      g_kernels.path = path;
      g_kernels.requested = want;
      g_kernels.fallback = reasons;
      g_kernels.cpu = cpu_features();
      t->set_poll_hook(hook);
      return g_kernels;
    }
    reasons += (reasons.empty() ? "" : "; ") + why;
  }
  throw std::runtime_error("lawfit could not load its solver kernels (" + reasons +
                           "); reinstall lawfit (pip install --force-reinstall lawfit)");
}

const kernels::KernelTable& kernel_table() {
  if (!g_kernels.table) throw std::runtime_error("lawfit's solver kernels are not loaded");
  return *g_kernels.table;
}

int load_jit(const std::string& path, const std::string& key) {
  for (size_t i = 0; i < g_jits.size(); ++i)
    if (g_jits[i].path == path && key == g_jits[i].table->key) return static_cast<int>(i);
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* e = dlerror();
    throw std::runtime_error("cannot load the native formula library " + path + ": " + (e ? e : "dlopen failed"));
  }
  auto entry = reinterpret_cast<kernels::JitEntryFn>(dlsym(h, kernels::kJitEntryName));
  const kernels::JitTable* t = entry ? entry() : nullptr;
  std::string why;
  if (!t) why = "it has no entry point " + std::string(kernels::kJitEntryName);
  else if (t->abi != kernels::kAbiVersion) why = "it was built for another kernel ABI";
  else if (!t->key || key != t->key) why = "it was built for another formula or lawfit version (key mismatch)";
  if (!why.empty()) {
    dlclose(h);
    throw std::runtime_error("cannot use the native formula library " + path + ": " + why);
  }
  t->set_poll_hook(g_hook);
  g_jits.push_back({path, t});
  return static_cast<int>(g_jits.size() - 1);
}

const kernels::JitTable& jit_table(int handle) {
  if (handle < 0 || handle >= static_cast<int>(g_jits.size()))
    throw pybind11::value_error("no native formula library with handle " + std::to_string(handle));
  return *g_jits[static_cast<size_t>(handle)].table;
}

int kernel_law_index(const char* name) {
  const kernels::KernelTable& t = kernel_table();
  for (int i = 0; i < t.n_laws; ++i)
    if (std::strcmp(t.law_names[i], name) == 0) return i;
  throw std::invalid_argument(std::string("no solver kernel for law '") + name + "'");
}

void check_kernel(int code, const kernels::KernelError& err) {
  switch (code) {
    case kernels::KERNEL_OK:
      return;
    case kernels::KERNEL_INTERRUPTED:
      throw Interrupted();
    case kernels::KERNEL_NO_MEMORY:
      throw std::bad_alloc();
    case kernels::KERNEL_INVALID:
      throw pybind11::value_error(err.message);
    default:
      throw std::runtime_error(err.message[0] ? err.message : "solver kernel failed");
  }
}

}  // namespace lawfit::bindings
