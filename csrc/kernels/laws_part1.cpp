// Solver kernels of the built-in laws with index % 4 == 1 (see laws_part.inc).
#define LAWFIT_KERNEL_PART 1
#include "kernels/laws_part.inc"
