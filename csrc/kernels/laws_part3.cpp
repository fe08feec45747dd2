// Solver kernels of the built-in laws with index % 4 == 3 (see laws_part.inc).
#define LAWFIT_KERNEL_PART 3
#include "kernels/laws_part.inc"
