/*
 * tenant_internal.h - private to shift/tenant*.c: the field-mode scanner.
 */
#ifndef TANDEM_TENANT_INTERNAL_H
#define TANDEM_TENANT_INTERNAL_H

#include "tenant.h"

/* Deepest nesting of $and read for the tenant (top level = 0). */
#define TENANT_AND_DEPTH 4

/* The tenant named by field in the command body (+ its sequences): every
 * statement must name it, by the same value.  MATCHED with the name in
 * out, or UNRESOLVED with the reason in *why (out untouched). */
enum tenant_status tenant_field_scan(const char *field, const bson_t *body,
				     const struct tenant_seq *seq, size_t nseq, char *out,
				     size_t outlen, enum tenant_reason *why);

#endif
