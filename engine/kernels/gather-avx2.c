/* gather-avx2.c - the GATHER micro-kernel for the avx2 level (gather-impl.h). */
#define STP_GATHER_NAME stp_f32_gather_ukernel__avx2
#include "gather-impl.h"
