/*
 * topology.h - where the MongoDB primary is, kept current by one thread.
 *
 * The upstream is a MongoDB URI.  With one host and no replicaSet the
 * "primary" is that host, re-resolved now and then.  Otherwise libmongoc's
 * server discovery (a single-threaded mongoc_client_t owned by the topology
 * thread, heartbeat 500 ms) finds the writable primary and follows it through
 * failovers.  Host names are resolved in that thread too, so the event loops
 * only ever connect to a ready sockaddr and never block on DNS.
 *
 * Each change of primary bumps a generation number and calls the listener
 * given to topology_start (from the topology thread); sessions remember the
 * generation their upstream was opened under.
 */
#ifndef TANDEM_TOPOLOGY_H
#define TANDEM_TOPOLOGY_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct topology_primary {
	char host[256];              /* as named by the URI / the replica set */
	uint16_t port;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	uint64_t generation;         /* 0: never found */
};

struct topology_options {
	const char *uri;             /* the configured mongo_uri */
	const char *tls_ca_file;     /* upstream TLS, as for the data connections */
	const char *tls_cert_file;   /* PEM holding certificate and key */
	bool tls_insecure;
	void (*on_change)(void *arg);
	void *arg;
};

/* Parse the URI and start the thread; does a first discovery that waits up
 * to 5 s for a primary (proceeding without one is allowed: clients get an
 * error until one is found).  On a bad URI returns false with err set. */
bool topology_start(const struct topology_options *opt, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Whether the URI asks for TLS (tls=true / ssl=true); valid after start. */
bool topology_uses_tls(void);

/* TLS file options named in the URI itself (tlsCAFile,
 * tlsCertificateKeyFile, tlsInsecure/tlsAllowInvalidCertificates); NULL or
 * false when absent.  Valid after start. */
void topology_uri_tls(const char **ca_file, const char **cert_file, bool *insecure);

/* Copy the current primary; false while none is known. Thread-safe. */
bool topology_current(struct topology_primary *out);

/* The current generation (cheap; for staleness checks on the hot path). */
uint64_t topology_generation(void);

/* Ask for a re-check soon (after a "not primary" reply). Thread-safe. */
void topology_poke(void);

void topology_stop(void);

#endif
