/*
 * sockread.h - read a plaintext socket straight into an evbuffer.
 *
 * libevent's bufferevent asks the kernel how much is readable (an ioctl)
 * before every read and reads at most 16 KiB; on a proxy's hot path that is
 * one extra system call per message.  Plaintext sessions read with this
 * instead: one readv into space reserved in the evbuffer, no copy.
 *
 * The evbuffers are a bufferevent's own; a bufferevent keeps its input's
 * end and its output's start frozen except while it does I/O itself, so
 * these functions unfreeze around theirs exactly as it does.
 */
#ifndef TANDEM_SOCKREAD_H
#define TANDEM_SOCKREAD_H

#include <event2/buffer.h>
#include <event2/util.h>
#include <sys/types.h>

/* Read up to max bytes from fd into in.  Returns the bytes read, 0 at EOF,
 * or -1 with errno set (EAGAIN/EWOULDBLOCK when nothing was readable). */
ssize_t sockread_into(struct evbuffer *in, evutil_socket_t fd, size_t max);

/* Write as much of out to fd as the kernel takes now.  Returns bytes
 * written or -1 with errno set. */
ssize_t sockwrite_from(struct evbuffer *out, evutil_socket_t fd);

#endif
