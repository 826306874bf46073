/* gather-scalar.c - the GATHER micro-kernel for the scalar level (gather-impl.h). */
#define STP_GATHER_NAME stp_f32_gather_ukernel__scalar
#include "gather-impl.h"
