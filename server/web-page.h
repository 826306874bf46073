/*
 * web-page.h - the page served at GET / (server/web/index.html), embedded
 * at build time by server/embed.sh into web-page.c.
 */
#ifndef STIPPLE_SERVER_WEB_PAGE_H
#define STIPPLE_SERVER_WEB_PAGE_H

#include <stddef.h>

extern const unsigned char stipple_web_page[];
extern const size_t stipple_web_page_len;

#endif
