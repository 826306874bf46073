/*
 * json-alloc.h - jansson's allocator in the daemon: malloc and free, with
 * each failure counted on the thread that met it, because jansson does not
 * always say: its setters return -1 where callers rarely look, and its
 * parser drops a byte it cannot save and parses on (akheron/jansson#362).
 * Work that must be whole compares the count before and after it.
 */
#ifndef STIPPLE_SERVER_JSON_ALLOC_H
#define STIPPLE_SERVER_JSON_ALLOC_H

/* Makes jansson allocate here; once, before any JSON is made. */
void json_alloc_install(void);
/* jansson's allocations that failed on this thread so far. */
unsigned long json_alloc_failures(void);

#endif
