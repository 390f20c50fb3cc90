/*
 * tls.h - OpenSSL contexts for both sides of the proxy.
 *
 * One SSL_CTX per side for the life of the process, shared by all worker
 * threads (SSL_CTX is thread-safe once configured); one SSL per connection,
 * handed to a bufferevent_openssl which owns it.
 */
#ifndef TANDEM_TLS_H
#define TANDEM_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

/* Client-facing context: certificate + key; with ca_file (non-empty) clients
 * must present a certificate signed by it.  NULL with err on failure. */
SSL_CTX *tls_server_ctx(const char *cert_file, const char *key_file, const char *ca_file,
			char *err, size_t errlen);

/* Upstream context: verify against ca_file (or the system store) unless
 * insecure; optional client certificate (key_file may be empty when the
 * key is in cert_file). */
SSL_CTX *tls_client_ctx(const char *ca_file, const char *cert_file, const char *key_file,
			bool insecure, char *err, size_t errlen);

/* A new SSL for an upstream connection to host: SNI and, unless insecure,
 * host name verification.  NULL on failure. */
SSL *tls_client_ssl(SSL_CTX *ctx, const char *host, bool insecure);

/* The last OpenSSL error as text (thread-local queue), for logs. */
const char *tls_last_error(char *buf, size_t len);

#endif
