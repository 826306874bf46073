/* gather-avx512.c - the GATHER micro-kernel for the avx512 level (gather-impl.h). */
#define STP_GATHER_NAME stp_f32_gather_ukernel__avx512
#include "gather-impl.h"
