/* version.c - the library's version string (the one source file of the
 * shared libstipple; everything else comes from libstipple-core). */
#include "config.h"
#include "stipple.h"

const char *stp_version(void)
{
	return PACKAGE_VERSION;
}
