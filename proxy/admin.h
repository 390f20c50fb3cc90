/*
 * admin.h - the admin HTTP endpoint on its own thread and event loop:
 *   GET /metrics  Prometheus text format (metrics.c)
 *   GET /healthz  200 "ok" while serving, 503 while draining or while no
 *                 upstream primary is known
 */
#ifndef TANDEM_ADMIN_H
#define TANDEM_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "proxy.h"

bool admin_start(struct proxy *px, const char *addr, char *err, size_t errlen)
	__attribute__((warn_unused_result));
void admin_stop(void);

#endif
