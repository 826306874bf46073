/*
 * kernels.c - the kernel table of each ISA level. Levels whose kernels were
 * not compiled (non-x86 builds) fall back to the scalar table; the engine
 * only asks for levels the CPU supports.
 */
#include "config.h"
#include "kernels.h"

static const struct stp_kernels scalar_kernels = {
	.isa = STP_ISA_SCALAR,
	.igemm = {4, 16, stp_f32_igemm_ukernel_4x16__scalar},
	.dotconv = stp_f32_dotconv_ukernel_8xN__scalar,
	.gather = stp_f32_gather_ukernel__scalar,
};

#ifdef STP_HAVE_X86
static const struct stp_kernels avx2_kernels = {
	.isa = STP_ISA_AVX2,
	.igemm = {6, 16, stp_f32_igemm_ukernel_6x16__avx2},
	.dotconv = stp_f32_dotconv_ukernel_8xN__avx2,
	.gather = stp_f32_gather_ukernel__avx2,
};

static const struct stp_kernels avx512_kernels = {
	.isa = STP_ISA_AVX512,
	.igemm = {6, 64, stp_f32_igemm_ukernel_6x64__avx512},
	.igemm_narrow = {{12, 32, stp_f32_igemm_ukernel_12x32__avx512},
			 {14, 16, stp_f32_igemm_ukernel_14x16__avx512}},
	.nnarrow = 2,
	.dotconv = stp_f32_dotconv_ukernel_8xN__avx512,
	.gather = stp_f32_gather_ukernel__avx512,
};
#endif

const struct stp_kernels *stp_kernels_for(enum stp_isa isa)
{
#ifdef STP_HAVE_X86
	if (isa == STP_ISA_AVX512)
		return &avx512_kernels;
	if (isa == STP_ISA_AVX2)
		return &avx2_kernels;
#endif
	(void)isa;
	return &scalar_kernels;
}

struct stp_igemm_kernel stp_kernels_igemm_for(const struct stp_kernels *k, int cout_g)
{
	struct stp_igemm_kernel best = k->igemm;

	for (int i = 0; i < k->nnarrow; i++)
		if ((int)k->igemm_narrow[i].nr >= cout_g)
			best = k->igemm_narrow[i];
	return best;
}
