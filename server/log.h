/*
 * log.h - leveled diagnostics on stderr and the JSON access log on stdout.
 *
 * log_msg() checks the level before formatting. Lines are written with one
 * fprintf under the stdio lock, so lines from different threads never mix.
 */
#ifndef STIPPLE_SERVER_LOG_H
#define STIPPLE_SERVER_LOG_H

#include <stdarg.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* "error" | "warn" | "info" | "debug"; unknown names leave the level as is. */
void log_set_level(const char *name);
int log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
