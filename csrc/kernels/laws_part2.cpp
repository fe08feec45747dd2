// Solver kernels of the built-in laws with index % 4 == 2 (see laws_part.inc).
#define LAWFIT_KERNEL_PART 2
#include "kernels/laws_part.inc"
