/*
 * json-alloc.c - see json-alloc.h. The count is thread-local: a worker's
 * count moves only with its own request's JSON.
 */
#include <jansson.h>
#include <stdlib.h>

#include "json-alloc.h"

static _Thread_local unsigned long failures;

static void *counted_malloc(size_t bytes)
{
	void *p = malloc(bytes);

	if (!p)
		failures++;
	return p;
}

void json_alloc_install(void)
{
	json_set_alloc_funcs(counted_malloc, free);
}

unsigned long json_alloc_failures(void)
{
	return failures;
}
