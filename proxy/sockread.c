/*
 * sockread.c - one readv into reserved evbuffer space (see sockread.h).
 */
#include "sockread.h"

#include <errno.h>
#include <sys/uio.h>

ssize_t sockread_into(struct evbuffer *in, evutil_socket_t fd, size_t max)
{
	struct evbuffer_iovec v[2];

	/* A bufferevent keeps its input's end frozen except while it reads
	 * itself; do as it does. */
	evbuffer_unfreeze(in, 0);
	int nv = evbuffer_reserve_space(in, (ev_ssize_t)max, v, 2);
	if (nv <= 0) {
		evbuffer_freeze(in, 0);
		errno = ENOMEM;
		return -1;
	}
	/* evbuffer_iovec has struct iovec's layout (documented by libevent). */
	ssize_t n = readv(fd, (struct iovec *)v, nv);
	if (n <= 0) {
		int e = errno;
		evbuffer_commit_space(in, v, 0);
		evbuffer_freeze(in, 0);
		errno = e;
		return n;
	}
	size_t left = (size_t)n;
	int used = 0;
	for (; used < nv && left > 0; used++) {
		if (v[used].iov_len > left)
			v[used].iov_len = left;
		left -= v[used].iov_len;
	}
	evbuffer_commit_space(in, v, used);
	evbuffer_freeze(in, 0);
	return n;
}

ssize_t sockwrite_from(struct evbuffer *out, evutil_socket_t fd)
{
	evbuffer_unfreeze(out, 1);
	int n = evbuffer_write(out, fd);
	int e = errno;
	evbuffer_freeze(out, 1);
	errno = e;
	return n;
}
