/*
 * cpu.c - CPU feature detection, done once per query with the compiler's
 * cpuid builtins (which also check that the OS saves the vector state).
 */
#include "config.h"
#include "kernels.h"

int stp_cpu_has_avx2_fma(void)
{
#ifdef STP_HAVE_X86
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
	return 0;
#endif
}

int stp_cpu_has_avx512f(void)
{
#ifdef STP_HAVE_X86
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f") && stp_cpu_has_avx2_fma();
#else
	return 0;
#endif
}

enum stp_isa stp_isa_best(void)
{
	if (stp_cpu_has_avx512f())
		return STP_ISA_AVX512;
	if (stp_cpu_has_avx2_fma())
		return STP_ISA_AVX2;
	return STP_ISA_SCALAR;
}

const char *stp_isa_name(enum stp_isa isa)
{
	switch (isa) {
	case STP_ISA_AUTO: return "auto";
	case STP_ISA_SCALAR: return "scalar";
	case STP_ISA_AVX2: return "avx2";
	case STP_ISA_AVX512: return "avx512";
	}
	return "unknown";
}
