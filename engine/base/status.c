/*
 * status.c - status names and error messages: the small utilities every
 * part of the engine uses (allocation: alloc.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char *stp_status_str(enum stp_status status)
{
	switch (status) {
	case STP_OK: return "ok";
	case STP_ERR_INVALID_ARG: return "invalid argument";
	case STP_ERR_NOMEM: return "out of memory";
	case STP_ERR_IO: return "i/o error";
	case STP_ERR_FORMAT: return "malformed model file";
	case STP_ERR_UNSUPPORTED: return "unsupported";
	case STP_ERR_CANCELLED: return "cancelled";
	case STP_ERR_INTERNAL: return "internal error";
	case STP_ERR_BUDGET: return "budget below the model's cheapest run";
	}
	return "unknown status";
}

enum stp_status stp_set_error(char *err, size_t errlen, enum stp_status st,
			      const char *fmt, ...)
{
	if (err && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return st;
}
