/*
 * spool.c - append-only spool file (format and guarantees in spool.h).
 *
 *   open:   lock -> magic -> scan records, stop at first bad -> ftruncate
 *   append: one pwritev of header+payload at the end -> fdatasync per policy
 *   replay: cursor walks records, re-checking length and CRC
 *   clear:  ftruncate to the magic -> fdatasync
 */
#include "spool.h"
#include "errbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "clock.h"
#include "crc32c.h"

struct spool {
	int fd;
	struct spool_opts opts;
	uint64_t end;	      /* offset just past the last valid record */
	uint64_t records;
	uint64_t pending;     /* appended since the last sync */
	uint64_t pending_ms;  /* monotonic ms of the oldest pending append */
};

static void spool_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static uint32_t spool_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static const char *const spool_fsync_names[] = {"always", "batch", "never"};

bool spool_fsync_parse(const char *s, enum spool_fsync *out)
{
	for (int i = 0; s && i < 3; i++)
		if (strcmp(s, spool_fsync_names[i]) == 0) {
			*out = (enum spool_fsync)i;
			return true;
		}
	return false;
}

const char *spool_fsync_name(enum spool_fsync p)
{
	return (unsigned)p < 3 ? spool_fsync_names[p] : "?";
}

/* pread exactly n bytes at off; 1 = ok, 0 = hit end of file, -1 = error. */
static int spool_pread_full(int fd, void *buf, size_t n, uint64_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, (uint8_t *)buf + got, n - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
		got += (size_t)r;
	}
	return 1;
}

/*
 * Check the record at off (file size fsize).  Returns 1 and its payload
 * length if whole and its CRC matches, 0 if torn or corrupt, -1 on I/O
 * error.  When payload is non-NULL the payload is read into a malloc'd
 * buffer handed back there.
 */
static int spool_check_record(int fd, uint64_t off, uint64_t fsize, uint32_t *len, uint8_t **payload)
{
	uint8_t hdr[SPOOL_REC_HEADER];
	uint8_t *buf;
	int r;

	if (fsize - off < SPOOL_REC_HEADER)
		return 0;
	r = spool_pread_full(fd, hdr, sizeof hdr, off);
	if (r <= 0)
		return r;
	*len = spool_get32(hdr);
	if (*len == 0 || *len > SPOOL_RECORD_MAX || *len > fsize - off - SPOOL_REC_HEADER)
		return 0;
	buf = malloc(*len);
	if (!buf)
		return -1;
	r = spool_pread_full(fd, buf, *len, off + SPOOL_REC_HEADER);
	if (r > 0 && crc32c(0, buf, *len) != spool_get32(hdr + 4))
		r = 0;
	if (r > 0 && payload)
		*payload = buf;
	else
		free(buf);
	return r;
}

/* Verify or write the magic; false (with err) if this is not a spool. */
static bool spool_magic(int fd, uint64_t fsize, char *err, size_t errlen)
{
	char m[SPOOL_MAGIC_LEN];

	/* A crash while creating the file can leave part of the magic. */
	if (fsize > 0 && fsize < SPOOL_MAGIC_LEN && spool_pread_full(fd, m, fsize, 0) == 1 &&
	    memcmp(m, SPOOL_MAGIC, fsize) == 0)
		fsize = 0;
	if (fsize == 0) {
		if (pwrite(fd, SPOOL_MAGIC, SPOOL_MAGIC_LEN, 0) != (ssize_t)SPOOL_MAGIC_LEN ||
		    fdatasync(fd) != 0)
			return errbuf_fail(err, errlen, "writing spool header: %s", strerror(errno));
		return true;
	}
	if (fsize < SPOOL_MAGIC_LEN || spool_pread_full(fd, m, sizeof m, 0) != 1 ||
	    memcmp(m, SPOOL_MAGIC, SPOOL_MAGIC_LEN) != 0)
		return errbuf_fail(err, errlen, "not a tandem spool file (bad magic); refusing to touch it");
	return true;
}

/* Walk the records, keep the valid prefix, cut the rest. */
static bool spool_scan(struct spool *s, uint64_t fsize, struct spool_open_info *info, char *err,
		       size_t errlen)
{
	uint64_t off = SPOOL_MAGIC_LEN;
	uint32_t len;
	int r;

	if (fsize < SPOOL_MAGIC_LEN)
		fsize = SPOOL_MAGIC_LEN;
	while ((r = spool_check_record(s->fd, off, fsize, &len, NULL)) == 1) {
		off += SPOOL_REC_HEADER + len;
		s->records++;
	}
	if (r < 0)
		return errbuf_fail(err, errlen, "reading spool: %s", strerror(errno));
	if (off < fsize && (ftruncate(s->fd, (off_t)off) != 0 || fdatasync(s->fd) != 0))
		return errbuf_fail(err, errlen, "cutting torn spool tail: %s", strerror(errno));
	s->end = off;
	if (info) {
		info->records = s->records;
		info->valid_bytes = off;
		info->cut_bytes = fsize - off;
	}
	return true;
}

struct spool *spool_open(const char *path, const struct spool_opts *opts,
			 struct spool_open_info *info, char *err, size_t errlen)
{
	struct spool *s = calloc(1, sizeof *s);
	struct stat st;

	if (!s) {
		errbuf_fail(err, errlen, "out of memory");
		return NULL;
	}
	s->opts = *opts;
	if (s->opts.batch_records == 0)
		s->opts.batch_records = 1;
	s->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->fd < 0) {
		errbuf_fail(err, errlen, "open %s: %s", path, strerror(errno));
		free(s);
		return NULL;
	}
	if (flock(s->fd, LOCK_EX | LOCK_NB) != 0) {
		errbuf_fail(err, errlen, "%s is locked by another writer (%s)", path,
			   errno == EWOULDBLOCK ? "one writer per spool" : strerror(errno));
	} else if (fstat(s->fd, &st) != 0) {
		errbuf_fail(err, errlen, "stat %s: %s", path, strerror(errno));
	} else if (spool_magic(s->fd, (uint64_t)st.st_size, err, errlen) &&
		   spool_scan(s, st.st_size ? (uint64_t)st.st_size : SPOOL_MAGIC_LEN, info, err, errlen)) {
		return s;
	}
	close(s->fd); /* also drops the lock */
	free(s);
	return NULL;
}

bool spool_sync(struct spool *s, char *err, size_t errlen)
{
	if (s->pending == 0)
		return true;
	if (fdatasync(s->fd) != 0)
		return errbuf_fail(err, errlen, "fdatasync spool: %s", strerror(errno));
	s->pending = 0;
	return true;
}

bool spool_sync_due(const struct spool *s)
{
	return s->pending > 0 && clock_mono_ms() - s->pending_ms >= s->opts.batch_ms;
}

void spool_close(struct spool *s)
{
	if (!s)
		return;
	if (s->opts.policy != SPOOL_FSYNC_NEVER)
		(void)!spool_sync(s, NULL, 0); /* best effort: nothing to report to */
	close(s->fd);
	free(s);
}

/* Write header+payload at s->end in full (retrying short writes). */
static bool spool_write_record(struct spool *s, const void *data, uint32_t len)
{
	uint8_t hdr[SPOOL_REC_HEADER];
	size_t total = SPOOL_REC_HEADER + (size_t)len, done = 0;

	spool_put32(hdr, len);
	spool_put32(hdr + 4, crc32c(0, data, len));
	while (done < total) {
		struct iovec iov[2];
		int n = 0;
		if (done < SPOOL_REC_HEADER)
			iov[n++] = (struct iovec){hdr + done, SPOOL_REC_HEADER - done};
		size_t po = done < SPOOL_REC_HEADER ? 0 : done - SPOOL_REC_HEADER;
		iov[n++] = (struct iovec){(uint8_t *)data + po, len - po};
		ssize_t w = pwritev(s->fd, iov, n, (off_t)(s->end + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		done += (size_t)w;
	}
	return true;
}

bool spool_append(struct spool *s, const void *data, size_t len, char *err, size_t errlen)
{
	if (len == 0 || len > SPOOL_RECORD_MAX)
		return errbuf_fail(err, errlen, "record size %zu out of range", len);
	if (!spool_write_record(s, data, (uint32_t)len)) {
		int e = errno;
		(void)!ftruncate(s->fd, (off_t)s->end); /* no half record left behind */
		return errbuf_fail(err, errlen, "append to spool: %s", strerror(e));
	}
	s->end += SPOOL_REC_HEADER + len;
	s->records++;
	if (s->pending++ == 0)
		s->pending_ms = clock_mono_ms();
	if (s->opts.policy == SPOOL_FSYNC_ALWAYS ||
	    (s->opts.policy == SPOOL_FSYNC_BATCH && s->pending >= s->opts.batch_records))
		return spool_sync(s, err, errlen);
	if (s->opts.policy == SPOOL_FSYNC_NEVER)
		s->pending = 0;
	return true;
}

uint64_t spool_records(const struct spool *s)
{
	return s->records;
}

uint64_t spool_pending(const struct spool *s)
{
	return s->pending;
}

void spool_cursor_init(struct spool_cursor *c)
{
	c->off = SPOOL_MAGIC_LEN;
	c->index = 0;
}

enum spool_read_status spool_read_next(struct spool *s, struct spool_cursor *c, uint8_t **out,
				       size_t *out_len, char *err, size_t errlen)
{
	uint32_t len;
	int r;

	if (c->off >= s->end)
		return SPOOL_READ_END;
	r = spool_check_record(s->fd, c->off, s->end, &len, out);
	if (r != 1) {
		errbuf_fail(err, errlen, "spool record %llu at offset %llu: %s",
			   (unsigned long long)c->index, (unsigned long long)c->off,
			   r < 0 ? strerror(errno) : "corrupt since open");
		return SPOOL_READ_ERR;
	}
	*out_len = len;
	c->off += SPOOL_REC_HEADER + len;
	c->index++;
	return SPOOL_READ_OK;
}

bool spool_truncate_all(struct spool *s, const struct spool_cursor *c, char *err, size_t errlen)
{
	if (c->off != s->end)
		return errbuf_fail(err, errlen, "records were appended after the replay cursor; read them first");
	if (ftruncate(s->fd, (off_t)SPOOL_MAGIC_LEN) != 0 || fdatasync(s->fd) != 0)
		return errbuf_fail(err, errlen, "truncating spool: %s", strerror(errno));
	s->end = SPOOL_MAGIC_LEN;
	s->records = 0;
	s->pending = 0;
	return true;
}
