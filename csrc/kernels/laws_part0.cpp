// Solver kernels of the built-in laws with index % 4 == 0 (see laws_part.inc).
#define LAWFIT_KERNEL_PART 0
#include "kernels/laws_part.inc"
