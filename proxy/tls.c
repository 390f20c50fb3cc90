/*
 * tls.c - building the OpenSSL contexts (see tls.h).  TLS 1.2 is the floor,
 * as for MongoDB 4.0+.
 */
#include "tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

const char *tls_last_error(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (!e)
		snprintf(buf, len, "unknown TLS error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

static SSL_CTX *tls_fail(SSL_CTX *ctx, const char *what, const char *file, char *err, size_t errlen)
{
	char e[256];

	snprintf(err, errlen, "%s '%s': %s", what, file, tls_last_error(e, sizeof(e)));
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *tls_server_ctx(const char *cert_file, const char *key_file, const char *ca_file,
			char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx)
		return tls_fail(NULL, "key 'tls.cert_file':", "context", err, errlen);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
		return tls_fail(ctx, "key 'tls.cert_file': cannot use", cert_file, err, errlen);
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1)
		return tls_fail(ctx, "key 'tls.key_file': cannot use", key_file, err, errlen);
	if (SSL_CTX_check_private_key(ctx) != 1)
		return tls_fail(ctx, "key 'tls.key_file': does not match", cert_file, err, errlen);
	if (ca_file && *ca_file) {
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1)
			return tls_fail(ctx, "key 'tls.ca_file': cannot load", ca_file, err, errlen);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	return ctx;
}

SSL_CTX *tls_client_ctx(const char *ca_file, const char *cert_file, const char *key_file,
			bool insecure, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		return tls_fail(NULL, "key 'upstream_tls.ca_file':", "context", err, errlen);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (ca_file && *ca_file) {
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1)
			return tls_fail(ctx, "key 'upstream_tls.ca_file': cannot load", ca_file, err, errlen);
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		return tls_fail(ctx, "key 'upstream_tls.ca_file': no system store", "", err, errlen);
	}
	SSL_CTX_set_verify(ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
	if (cert_file && *cert_file) {
		const char *key = key_file && *key_file ? key_file : cert_file;
		if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
			return tls_fail(ctx, "key 'upstream_tls.cert_file': cannot use", cert_file, err, errlen);
		if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
			return tls_fail(ctx, "key 'upstream_tls.key_file': cannot use", key, err, errlen);
	}
	return ctx;
}

SSL *tls_client_ssl(SSL_CTX *ctx, const char *host, bool insecure)
{
	SSL *ssl = SSL_new(ctx);
	unsigned char buf[sizeof(struct in6_addr)];
	bool is_ip = inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;

	if (!ssl)
		return NULL;
	if (!is_ip)
		SSL_set_tlsext_host_name(ssl, host);
	if (!insecure) {
		X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
		int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host)
			       : X509_VERIFY_PARAM_set1_host(param, host, 0);
		if (ok != 1) {
			SSL_free(ssl);
			return NULL;
		}
	}
	return ssl;
}
