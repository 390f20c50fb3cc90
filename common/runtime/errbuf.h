/*
 * errbuf.h - the one way a module writes a one-line error into a caller's
 * (char *err, size_t errlen) out-parameter.
 */
#ifndef TANDEM_ERRBUF_H
#define TANDEM_ERRBUF_H

#include <stdbool.h>
#include <stddef.h>

/* Format into err (when err and errlen are non-zero); always returns false,
 * so a failing path can `return errbuf_fail(err, errlen, "...", ...);`. */
bool errbuf_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
