// Inside a kernel library: run a solver call and turn whatever it throws into a KernelCode (api.hpp).
#pragma once
#include <cstdio>
#include <new>
#include <stdexcept>

#include "kernels/api.hpp"

namespace lawfit::kernels {

template <class Fn>
int guarded(KernelError* err, Fn&& fn) {
  auto say = [&](const char* what) { std::snprintf(err->message, sizeof(err->message), "%s", what); };
  err->message[0] = '\0';
  try {
    fn();
    return KERNEL_OK;
  } catch (const Interrupted&) {
    return KERNEL_INTERRUPTED;
  } catch (const std::bad_alloc&) {
    return KERNEL_NO_MEMORY;
  } catch (const std::invalid_argument& e) {
    say(e.what());
    return KERNEL_INVALID;
  } catch (const std::exception& e) {
    say(e.what());
    return KERNEL_ERROR;
  } catch (...) {
    say("unknown C++ exception in a solver kernel");
    return KERNEL_ERROR;
  }
}

// The parts of the table, one per translation unit (laws_part*.cpp, formula.cpp), filled by entry.cpp.
void fill_laws_part0(KernelTable& t);
void fill_laws_part1(KernelTable& t);
void fill_laws_part2(KernelTable& t);
void fill_laws_part3(KernelTable& t);
void fill_formula(KernelTable& t);
constexpr int kLawParts = 4;

}  // namespace lawfit::kernels
