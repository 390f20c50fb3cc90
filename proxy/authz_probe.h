/*
 * authz_probe.h - whether the upstream enforces authentication, asked by a
 * connection of tandem's own without credentials: `listDatabases` answered
 * -> not enforced (every connection is authorized; logged once as a
 * warning); Unauthorized (13) or another refusal -> enforced.  Unreachable:
 * not known, counted as enforced (authz.h), asked again every
 * AUTHZ_PROBE_RETRY_MS; once known, re-checked every AUTHZ_PROBE_RECHECK_MS
 * (an upstream restarted with another setting).  main.c starts it only
 * when PostgreSQL is configured: without it tandem answers nothing itself.
 */
#ifndef TANDEM_AUTHZ_PROBE_H
#define TANDEM_AUTHZ_PROBE_H

#include <stdbool.h>

#define AUTHZ_PROBE_RETRY_MS 2000
#define AUTHZ_PROBE_RECHECK_MS 30000

struct authz_probe_options {
	const char *tls_ca_file;     /* upstream TLS, as for the data connections */
	const char *tls_cert_file;
	bool tls_insecure;
};

/* Probe once now (the primary must be known from topology_start, else the
 * answer stays unknown), then start the re-checking thread.  False when the
 * thread cannot start. */
bool authz_probe_start(const struct authz_probe_options *opt) __attribute__((warn_unused_result));

void authz_probe_stop(void);

#endif
