/*
 * gated-alloc.h - forced (-include) into the daemon's sources where
 * libstippled-gated.la builds them for tests/unit/test-server-faults: their
 * malloc, calloc, realloc and strdup become the engine's gated allocators
 * (engine/base/alloc.c), so a failure armed with stp_alloc_fail_nth counts
 * and fails the daemon's own allocations too, in the order a request makes
 * them. The gated allocators return malloc'd memory: free stays free.
 * stippled itself is built from the same sources without this file.
 */
#ifndef STP_TESTS_GATED_ALLOC_H
#define STP_TESTS_GATED_ALLOC_H

#include <stdlib.h>
#include <string.h>

#include "base/internal.h"

#define malloc(bytes) stp_malloc(bytes)
#define calloc(count, size) stp_zalloc(count, size)
#define realloc(p, bytes) stp_realloc(p, bytes)
#define strdup(s) stp_strdup(s)

#endif
