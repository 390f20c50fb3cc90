/*
 * proxy.h - what the whole process shares: the live configuration, the TLS
 * contexts and the worker threads.  Created by main, read by every thread;
 * only cfg's atomic fields change after start (reload).
 */
#ifndef TANDEM_PROXY_H
#define TANDEM_PROXY_H

#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "cfg.h"

struct worker;

struct proxy {
	struct cfg *cfg;
	SSL_CTX *client_tls;       /* NULL: plain TCP to clients */
	SSL_CTX *upstream_tls;     /* NULL: plain TCP to MongoDB */
	bool upstream_tls_insecure;
	char advertise[300];       /* host:port announced in hello replies */
	struct worker *workers;
	int nworkers;
	_Atomic unsigned next_worker;  /* round robin for handed-off accepts */
	_Atomic bool draining;
};

#endif
