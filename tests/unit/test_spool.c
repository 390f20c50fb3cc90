/*
 * test_spool.c - the local spool file: append and read back in order across
 * a reopen; a torn tail (cut mid-record at every offset of the last record)
 * or a flipped byte is detected and cut while earlier records survive;
 * foreign files are refused, not truncated; one writer per file (flock);
 * truncate_all after replay; fsync policy names and batch accounting.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "spool.h"

static char dir[64];
static char path[128];

static void setup(void)
{
	strcpy(dir, "/tmp/tandem-spool-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/queue.spool", dir);
}

static void teardown(void)
{
	unlink(path);
	rmdir(dir);
}

TestSuite(spool, .init = setup, .fini = teardown);

static const struct spool_opts always = {SPOOL_FSYNC_ALWAYS, 1, 0};
static const struct spool_opts never = {SPOOL_FSYNC_NEVER, 1, 0};

/* Record i: "rec-<i>-" then i bytes of (i & 0xff). */
static size_t make_record(unsigned i, uint8_t *buf)
{
	int n = sprintf((char *)buf, "rec-%u-", i);
	memset(buf + n, (int)(i & 0xff), i);
	return (size_t)n + i;
}

static struct spool *open_ok(const struct spool_opts *o, struct spool_open_info *info)
{
	char err[256] = "";
	struct spool *s = spool_open(path, o, info, err, sizeof err);
	cr_assert_not_null(s, "open: %s", err);
	return s;
}

static void append_n(struct spool *s, unsigned from, unsigned n)
{
	uint8_t buf[2048];
	char err[256];

	for (unsigned i = from; i < from + n; i++)
		cr_assert(spool_append(s, buf, make_record(i, buf), err, sizeof err), "%s", err);
}

/* Read every record, checking they are from..from+n-1 in order. */
static void expect_records(struct spool *s, unsigned from, unsigned n, struct spool_cursor *c)
{
	uint8_t want[2048], *got;
	size_t len;
	char err[256];

	spool_cursor_init(c);
	for (unsigned i = from; i < from + n; i++) {
		size_t wl = make_record(i, want);
		cr_assert_eq(spool_read_next(s, c, &got, &len, err, sizeof err), SPOOL_READ_OK,
			     "record %u: %s", i, err);
		cr_assert_eq(len, wl, "record %u length", i);
		cr_assert_eq(memcmp(got, want, wl), 0, "record %u bytes", i);
		free(got);
	}
	cr_assert_eq(spool_read_next(s, c, &got, &len, err, sizeof err), SPOOL_READ_END);
}

static off_t file_size(void)
{
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	return st.st_size;
}

Test(spool, append_reopen_read_in_order)
{
	struct spool_open_info info;
	struct spool_cursor c;
	struct spool *s = open_ok(&always, &info);

	cr_assert_eq(info.records, 0u);
	append_n(s, 0, 1000);
	cr_assert_eq(spool_records(s), 1000u);
	expect_records(s, 0, 1000, &c);
	spool_close(s);
	s = open_ok(&never, &info);
	cr_assert_eq(info.records, 1000u);
	cr_assert_eq(info.cut_bytes, 0u);
	cr_assert_eq((off_t)info.valid_bytes, file_size());
	expect_records(s, 0, 1000, &c);
	append_n(s, 1000, 5); /* appends continue after the reopen */
	expect_records(s, 0, 1005, &c);
	spool_close(s);
}

Test(spool, torn_tail_cut_at_every_offset)
{
	struct spool_open_info info;
	struct spool_cursor c;
	struct spool *s = open_ok(&never, &info);
	off_t before, full;

	append_n(s, 0, 20);
	before = file_size();
	append_n(s, 20, 1);
	full = file_size();
	spool_close(s);
	for (off_t cut = before + 1; cut < full; cut++) {
		cr_assert_eq(truncate(path, cut), 0);
		s = open_ok(&never, &info);
		cr_assert_eq(info.records, 20u, "cut at %lld", (long long)cut);
		cr_assert_eq((off_t)info.cut_bytes, cut - before);
		cr_assert_eq(file_size(), before, "tail not cut at %lld", (long long)cut);
		expect_records(s, 0, 20, &c);
		append_n(s, 20, 1); /* restore the whole last record for the next cut */
		spool_close(s);
	}
}

Test(spool, flipped_byte_cuts_from_that_record)
{
	struct spool_open_info info;
	struct spool_cursor c;
	struct spool *s = open_ok(&never, &info);
	off_t at10;
	int fd;
	uint8_t b;

	append_n(s, 0, 10);
	at10 = file_size();
	append_n(s, 10, 10);
	spool_close(s);
	/* flip one payload byte of record 10 (past its 8-byte header) */
	fd = open(path, O_RDWR);
	cr_assert(fd >= 0);
	cr_assert_eq(pread(fd, &b, 1, at10 + 12), 1);
	b ^= 0x40;
	cr_assert_eq(pwrite(fd, &b, 1, at10 + 12), 1);
	close(fd);
	s = open_ok(&never, &info);
	cr_assert_eq(info.records, 10u);
	cr_assert_gt(info.cut_bytes, 0u);
	cr_assert_eq(file_size(), at10);
	expect_records(s, 0, 10, &c);
	spool_close(s);
}

Test(spool, absurd_length_header_is_torn)
{
	struct spool_open_info info;
	struct spool *s = open_ok(&never, &info);
	static const uint8_t hdr[8] = {0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0};
	off_t end;
	int fd;

	append_n(s, 0, 3);
	end = file_size();
	spool_close(s);
	fd = open(path, O_WRONLY | O_APPEND);
	cr_assert_eq(write(fd, hdr, sizeof hdr), 8);
	cr_assert_eq(write(fd, "abc", 3), 3);
	close(fd);
	s = open_ok(&never, &info);
	cr_assert_eq(info.records, 3u);
	cr_assert_eq(info.cut_bytes, 11u);
	cr_assert_eq(file_size(), end);
	spool_close(s);
}

Test(spool, foreign_file_refused_untouched)
{
	char err[256] = "";
	FILE *f = fopen(path, "w");

	fputs("not a spool, someone's data\n", f);
	fclose(f);
	cr_assert_null(spool_open(path, &never, NULL, err, sizeof err));
	cr_assert_not_null(strstr(err, "magic"), "%s", err);
	cr_assert_eq(file_size(), 28);
}

Test(spool, partial_magic_from_a_crash_is_restarted)
{
	struct spool_open_info info;
	struct spool_cursor c;
	FILE *f = fopen(path, "w");
	struct spool *s;

	fputs("TNDS", f); /* crash while the file was being created */
	fclose(f);
	s = open_ok(&always, &info);
	cr_assert_eq(info.records, 0u);
	append_n(s, 0, 2);
	expect_records(s, 0, 2, &c);
	spool_close(s);
	cr_assert_eq(truncate(path, 3), 0);
	f = fopen(path, "r+");
	fputs("XYZ", f); /* not a prefix of the magic: refused */
	fclose(f);
	char err[256] = "";
	cr_assert_null(spool_open(path, &always, NULL, err, sizeof err));
}

Test(spool, one_writer_per_file)
{
	char err[256] = "";
	struct spool *a = open_ok(&never, NULL);

	cr_assert_null(spool_open(path, &never, NULL, err, sizeof err));
	cr_assert_not_null(strstr(err, "locked"), "%s", err);
	spool_close(a);
	a = open_ok(&never, NULL); /* released on close */
	spool_close(a);
}

Test(spool, truncate_all_after_replay)
{
	struct spool_open_info info;
	struct spool_cursor c, stale;
	struct spool *s = open_ok(&always, &info);
	char err[256] = "";

	append_n(s, 0, 50);
	spool_cursor_init(&stale);
	cr_assert_not(spool_truncate_all(s, &stale, err, sizeof err), "cursor not at end");
	expect_records(s, 0, 50, &c);
	append_n(s, 50, 1); /* appended during replay */
	cr_assert_not(spool_truncate_all(s, &c, err, sizeof err));
	expect_records(s, 0, 51, &c);
	cr_assert(spool_truncate_all(s, &c, err, sizeof err), "%s", err);
	cr_assert_eq(spool_records(s), 0u);
	cr_assert_eq(file_size(), (off_t)SPOOL_MAGIC_LEN);
	expect_records(s, 0, 0, &c);
	append_n(s, 7, 2);
	spool_close(s);
	s = open_ok(&never, &info);
	cr_assert_eq(info.records, 2u);
	expect_records(s, 7, 2, &c);
	spool_close(s);
}

Test(spool, append_rejects_empty_and_oversize)
{
	struct spool *s = open_ok(&never, NULL);
	char err[256];

	cr_assert_not(spool_append(s, "x", 0, err, sizeof err));
	cr_assert_not(spool_append(s, "x", (size_t)SPOOL_RECORD_MAX + 1, err, sizeof err));
	cr_assert_eq(spool_records(s), 0u);
	spool_close(s);
}

Test(spool, fsync_policy_parse)
{
	enum spool_fsync p;

	cr_assert(spool_fsync_parse("always", &p));
	cr_assert_eq(p, SPOOL_FSYNC_ALWAYS);
	cr_assert(spool_fsync_parse("batch", &p));
	cr_assert_eq(p, SPOOL_FSYNC_BATCH);
	cr_assert(spool_fsync_parse("never", &p));
	cr_assert_eq(p, SPOOL_FSYNC_NEVER);
	cr_assert_str_eq(spool_fsync_name(SPOOL_FSYNC_BATCH), "batch");
	cr_assert_not(spool_fsync_parse("Always", &p));
	cr_assert_not(spool_fsync_parse("", &p));
	cr_assert_not(spool_fsync_parse("sometimes", &p));
	cr_assert_not(spool_fsync_parse(NULL, &p));
}

Test(spool, batch_policy_counts_pending)
{
	const struct spool_opts batch = {SPOOL_FSYNC_BATCH, 4, 0};
	const struct spool_opts slow = {SPOOL_FSYNC_BATCH, 1000, 3600000};
	struct spool *s = open_ok(&batch, NULL);
	char err[256];

	append_n(s, 0, 3);
	cr_assert_eq(spool_pending(s), 3u);
	cr_assert(spool_sync_due(s), "batch_ms 0: due at once");
	append_n(s, 3, 1); /* the 4th record syncs */
	cr_assert_eq(spool_pending(s), 0u);
	cr_assert_not(spool_sync_due(s));
	append_n(s, 4, 2);
	cr_assert(spool_sync(s, err, sizeof err), "%s", err);
	cr_assert_eq(spool_pending(s), 0u);
	spool_close(s);
	s = open_ok(&slow, NULL);
	append_n(s, 6, 1);
	cr_assert_not(spool_sync_due(s), "an hour has not passed");
	spool_close(s);
	s = open_ok(&always, NULL);
	append_n(s, 7, 1);
	cr_assert_eq(spool_pending(s), 0u);
	cr_assert_eq(spool_records(s), 8u);
	spool_close(s);
}
