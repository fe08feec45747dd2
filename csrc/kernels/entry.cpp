// The kernel library's one exported symbol: its table of entry points (api.hpp).
#include "kernels/guard.hpp"

#ifndef LAWFIT_KERNEL_LEVEL
#error "LAWFIT_KERNEL_LEVEL must name the CPU level (CMakeLists.txt)"
#endif
#ifndef LAWFIT_KERNEL_FLAGS
#define LAWFIT_KERNEL_FLAGS ""
#endif

namespace lawfit::kernels {
namespace {

void set_poll_hook(PollHook hook) { poll_hook() = hook; }

KernelTable make_table() {
  KernelTable t{};
  t.abi = kAbiVersion;
  t.level = LAWFIT_KERNEL_LEVEL;
#ifdef LAWFIT_SIMD_MATH
  t.vector_math = "libmvec";
#else
  t.vector_math = "none";
#endif
  t.flags = LAWFIT_KERNEL_FLAGS;
  fill_laws_part0(t);
  fill_laws_part1(t);
  fill_laws_part2(t);
  fill_laws_part3(t);
  fill_formula(t);
  t.set_poll_hook = &set_poll_hook;
  return t;
}

}  // namespace
}  // namespace lawfit::kernels

extern "C" __attribute__((visibility("default"))) const lawfit::kernels::KernelTable* lawfit_kernels_v1() {
  static const lawfit::kernels::KernelTable table = lawfit::kernels::make_table();
  return &table;
}
