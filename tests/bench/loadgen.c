/*
 * loadgen.c - closed-loop load generator for MongoDB wire-protocol servers.
 *
 * Options, threads, the measurement window and the one-line JSON result
 * (see loadgen.h for the flow, lg_conn.c for a connection's life).
 *
 *   loadgen --host 127.0.0.1 --port P --conns 16 --threads 1 --mode ping
 *           --seconds 5 --warmup 1            -> {"mode":"ping",...,"ops_per_s":...}
 *   loadgen --port P --conns 10000 --mode idle --seconds 20 --ready-file F
 *
 * Exit status: 0 when every connection worked and no reply was an error,
 * 1 otherwise (the JSON line is printed either way), 2 on bad options.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "loadgen.h"

#define LG_MAX_THREADS 64
#define LG_CONNECT_TIMEOUT_NS (60ull * 1000000000ull)
#define LG_DRAIN_NS (2ull * 1000000000ull) /* after the window: wait for replies in flight */

struct lg_shared lg_shared;
static double lg_cpu_pct; /* loadgen's own CPU use during the window, % of one core */

static void lg_usage(FILE *f)
{
	fprintf(f,
	        "usage: loadgen [--host 127.0.0.1] --port P [--conns 1] [--threads 1]\n"
	        "               [--mode ping|find|insert|idle] [--seconds 5] [--warmup 1]\n"
	        "               [--batch N] [--doc-bytes 128] [--connect-burst 256]\n"
	        "               [--legacy-hello] [--ready-file PATH] [--rate OPS_PER_S]\n"
	        "  ping    {ping: 1} per request\n"
	        "  find    find, then getMore until the cursor is exhausted, repeat\n"
	        "  insert  one single-document insert (kind-1 sequence) per request:\n"
	        "          a user-like document of ~--doc-bytes with a fresh ObjectId _id\n"
	        "  --coll NAME       find collection (default bench)\n"
	        "  --filter-id K     find {_id: Int64(K)} instead of {}\n"
	        "  --rate  send at most OPS_PER_S requests/s in total, on a fixed schedule\n"
	        "          (0, the default: closed loop, as fast as replies come back)\n"
	        "  idle    hello on every connection, then hold them --seconds\n"
	        "          (--ready-file is written once all are ready)\n");
}

static bool lg_parse_mode(const char *s, enum lg_mode *m)
{
	static const char *names[] = { "ping", "find", "insert", "idle" };
	int i;

	for (i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*m = (enum lg_mode)i;
			return true;
		}
	return false;
}

static const char *lg_mode_name(enum lg_mode m)
{
	return m == LG_MODE_PING ? "ping" : m == LG_MODE_FIND ? "find" :
	       m == LG_MODE_INSERT ? "insert" : "idle";
}

/* Fills o from argv; exits 2 on anything invalid. */
static void lg_parse_args(int argc, char **argv, struct lg_opts *o)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'h' }, { "port", required_argument, NULL, 'p' },
		{ "conns", required_argument, NULL, 'c' }, { "threads", required_argument, NULL, 't' },
		{ "seconds", required_argument, NULL, 's' }, { "warmup", required_argument, NULL, 'w' },
		{ "mode", required_argument, NULL, 'm' }, { "batch", required_argument, NULL, 'b' },
		{ "doc-bytes", required_argument, NULL, 'd' },
		{ "connect-burst", required_argument, NULL, 'B' },
		{ "legacy-hello", no_argument, NULL, 'L' },
		{ "ready-file", required_argument, NULL, 'r' }, { "help", no_argument, NULL, 'H' },
		{ "rate", required_argument, NULL, 'R' },
		{ "coll", required_argument, NULL, 'C' }, { "filter-id", required_argument, NULL, 'I' },
		{ NULL, 0, NULL, 0 },
	};
	bool mode_ok = true;
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': o->host = optarg; break;
		case 'p': o->port = atoi(optarg); break;
		case 'c': o->conns = atoi(optarg); break;
		case 't': o->threads = atoi(optarg); break;
		case 's': o->seconds = atof(optarg); break;
		case 'w': o->warmup = atof(optarg); break;
		case 'm': mode_ok = lg_parse_mode(optarg, &o->mode); break;
		case 'b': o->batch = atoi(optarg); break;
		case 'd': o->doc_bytes = atoi(optarg); break;
		case 'B': o->connect_burst = atoi(optarg); break;
		case 'L': o->legacy_hello = true; break;
		case 'r': o->ready_file = optarg; break;
		case 'R': o->rate = atof(optarg); break;
		case 'C': o->coll = optarg; break;
		case 'I': o->filter_id = atoll(optarg); break;
		case 'H': lg_usage(stdout); exit(0);
		default: lg_usage(stderr); exit(2);
		}
	}
	o->addr.sin_family = AF_INET;
	o->addr.sin_port = htons((uint16_t)o->port);
	if (optind != argc || !mode_ok || o->port <= 0 || o->port > 65535 || o->conns < 1 ||
	    o->threads < 1 || o->threads > LG_MAX_THREADS || o->seconds < 0 || o->warmup < 0 ||
	    o->batch < 0 || o->doc_bytes < 0 || o->doc_bytes > 16 * 1024 * 1024 ||
	    o->connect_burst < 1 || !(o->rate >= 0 && o->rate <= 10e6) || inet_pton(AF_INET, o->host, &o->addr.sin_addr) != 1) {
		fprintf(stderr, "loadgen: bad arguments\n");
		lg_usage(stderr);
		exit(2);
	}
}

/* Raises RLIMIT_NOFILE so that n sockets fit (root may raise the hard limit). */
static void lg_raise_nofile(int n)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)n + 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want;
	if (rl.rlim_max < want)
		rl.rlim_max = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		fprintf(stderr, "loadgen: RLIMIT_NOFILE limited to %llu\n",
		        (unsigned long long)rl.rlim_cur);
	}
}

static void lg_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lg_thread *t = arg;

	(void)fd, (void)what;
	if (atomic_load(&lg_shared.stop) &&
	    (lg_thread_busy(t) == 0 || lg_now_ns() > atomic_load(&lg_shared.t_end) + LG_DRAIN_NS))
		event_base_loopbreak(t->base);
}

static void *lg_thread_main(void *arg)
{
	struct lg_thread *t = arg;

	lg_thread_pump(t);
	event_base_dispatch(t->base);
	lg_thread_count_stalled(t, lg_now_ns());
	lg_thread_close_all(t);
	return NULL;
}

/* Allocates thread k's share of the connections and its event base. */
static bool lg_thread_init(struct lg_thread *t, int k, const struct lg_opts *o)
{
	static const struct timeval tick = { 0, 20000 }, pace = { 0, 1000 };
	size_t pad = (size_t)o->doc_bytes;

	t->index = k;
	t->o = o;
	t->nconns = o->conns / o->threads + (k < o->conns % o->threads ? 1 : 0);
	t->conns = calloc((size_t)t->nconns + 1, sizeof *t->conns);
	t->pad = malloc(pad + 1);
	t->base = event_base_new();
	t->oids = bson_context_new(BSON_CONTEXT_NONE);
	t->parked = calloc((size_t)t->nconns + 1, sizeof *t->parked);
	if (!t->conns || !t->pad || !t->base || !t->oids || !t->parked)
		return false;
	memset(t->pad, 'x', pad);
	t->pad[pad] = '\0';
	for (int i = 0; i < t->nconns; i++) {
		t->conns[i].t = t;
		t->conns[i].fd = -1;
	}
	t->tick = event_new(t->base, -1, EV_PERSIST, lg_tick_cb, t);
	if (t->tick == NULL || event_add(t->tick, &tick) != 0)
		return false;
	if (o->rate <= 0)
		return true;
	t->pace = event_new(t->base, -1, EV_PERSIST, lg_pace_tick_cb, t);
	return t->pace != NULL && event_add(t->pace, &pace) == 0;
}

static void lg_sleep_until(uint64_t deadline)
{
	struct timespec ts = { (time_t)(deadline / 1000000000ull),
	                       (long)(deadline % 1000000000ull) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Waits (bounded) until every connection is ready or failed; returns the seconds taken. */
static double lg_wait_ready(const struct lg_opts *o)
{
	uint64_t t0 = lg_now_ns(), now = t0;

	while (atomic_load(&lg_shared.ready) + atomic_load(&lg_shared.failed) < o->conns &&
	       now - t0 < LG_CONNECT_TIMEOUT_NS) {
		lg_sleep_until(now + 5000000ull);
		now = lg_now_ns();
	}
	return (double)(now - t0) / 1e9;
}

static void lg_write_ready_file(const char *path, int ready, int failed)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		fprintf(stderr, "loadgen: cannot write %s: %s\n", path, strerror(errno));
		return;
	}
	fprintf(f, "{\"ready\":%d,\"failed\":%d}\n", ready, failed);
	fclose(f);
}

static void lg_print_load(const struct lg_opts *o, const struct lg_stats *st, double window)
{
	const struct bhist *h = &st->hist;
	double us = 1e-3;

	printf("{\"mode\":\"%s\",\"host\":\"%s\",\"port\":%d,\"conns\":%d,\"threads\":%d,"
	       "\"ready\":%d,\"failed\":%d,\"seconds\":%.3f,\"ops\":%llu,\"ops_per_s\":%.1f,"
	       "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"mean_us\":%.1f,\"max_us\":%.1f,"
	       "\"errors\":%llu,\"closed\":%llu,\"stalled\":%llu,\"cursors_per_s\":%.1f,"
	       "\"docs_per_s\":%.1f,\"rx_mib_per_s\":%.2f,\"loadgen_cpu_pct\":%.1f,"
	       "\"rate\":%.1f,\"skipped\":%llu,\"acked\":%llu}\n",
	       lg_mode_name(o->mode), o->host, o->port, o->conns, o->threads,
	       atomic_load(&lg_shared.ready), atomic_load(&lg_shared.failed), window,
	       (unsigned long long)st->ops, (double)st->ops / window,
	       (double)bhist_quantile(h, 0.5) * us, (double)bhist_quantile(h, 0.99) * us,
	       (double)bhist_quantile(h, 0.999) * us,
	       h->count ? (double)h->sum / (double)h->count * us : 0.0, (double)h->max * us,
	       (unsigned long long)st->errors, (unsigned long long)st->closed,
	       (unsigned long long)st->stalled, (double)st->cursors / window,
	       (double)st->docs / window, (double)st->rx_bytes / window / 1048576.0, lg_cpu_pct,
	       o->rate, (unsigned long long)st->skipped, (unsigned long long)st->acked);
}

/* CPU time (user + system) of the whole process, all threads, in seconds. */
static double lg_cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0.0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Runs the measured window (or the idle hold); returns the window in seconds. */
static double lg_run(const struct lg_opts *o)
{
	double connect_s = lg_wait_ready(o), cpu0;
	int ready = atomic_load(&lg_shared.ready), failed = atomic_load(&lg_shared.failed);
	uint64_t now = lg_now_ns();

	if (o->mode == LG_MODE_IDLE) {
		fprintf(stderr, "loadgen: %d connections ready, %d failed, in %.2f s\n", ready,
		        failed, connect_s);
		if (o->ready_file)
			lg_write_ready_file(o->ready_file, ready, failed);
		lg_sleep_until(now + (uint64_t)(o->seconds * 1e9));
		atomic_store(&lg_shared.stop, true);
		return connect_s;
	}
	atomic_store(&lg_shared.t_end, now + (uint64_t)((o->warmup + o->seconds) * 1e9));
	atomic_store(&lg_shared.t_warm, now + (uint64_t)(o->warmup * 1e9));
	lg_sleep_until(atomic_load(&lg_shared.t_warm));
	cpu0 = lg_cpu_seconds();
	lg_sleep_until(atomic_load(&lg_shared.t_end));
	lg_cpu_pct = o->seconds > 0 ? (lg_cpu_seconds() - cpu0) / o->seconds * 100.0 : 0.0;
	atomic_store(&lg_shared.stop, true);
	return o->seconds;
}

int main(int argc, char **argv)
{
	static struct lg_thread threads[LG_MAX_THREADS];
	static struct lg_stats total;
	struct lg_opts o = { .host = "127.0.0.1", .conns = 1, .threads = 1, .seconds = 5,
	                     .warmup = 1, .mode = LG_MODE_PING, .doc_bytes = 128, .filter_id = -1,
	                     .connect_burst = 256 };
	double window;
	int k;

	lg_parse_args(argc, argv, &o);
	if (o.threads > o.conns)
		o.threads = o.conns;
	signal(SIGPIPE, SIG_IGN);
	lg_raise_nofile(o.conns);
	atomic_store(&lg_shared.t_warm, UINT64_MAX);
	atomic_store(&lg_shared.t_end, 0);
	for (k = 0; k < o.threads; k++)
		if (!lg_thread_init(&threads[k], k, &o) ||
		    pthread_create(&threads[k].tid, NULL, lg_thread_main, &threads[k]) != 0) {
			fprintf(stderr, "loadgen: cannot start thread %d\n", k);
			return 1;
		}
	window = lg_run(&o);
	for (k = 0; k < o.threads; k++) {
		pthread_join(threads[k].tid, NULL);
		total.ops += threads[k].st.ops;
		total.errors += threads[k].st.errors;
		total.cursors += threads[k].st.cursors;
		total.docs += threads[k].st.docs;
		total.rx_bytes += threads[k].st.rx_bytes;
		total.closed += threads[k].st.closed;
		total.stalled += threads[k].st.stalled;
		total.skipped += threads[k].st.skipped;
		total.acked += threads[k].st.acked;
		bhist_merge(&total.hist, &threads[k].st.hist);
	}
	if (o.mode == LG_MODE_IDLE)
		printf("{\"mode\":\"idle\",\"host\":\"%s\",\"port\":%d,\"conns\":%d,\"ready\":%d,"
		       "\"failed\":%d,\"closed\":%llu,\"connect_s\":%.2f,\"held_s\":%.1f}\n",
		       o.host, o.port, o.conns, atomic_load(&lg_shared.ready),
		       atomic_load(&lg_shared.failed), (unsigned long long)total.closed, window,
		       o.seconds);
	else
		lg_print_load(&o, &total, window > 0 ? window : 1e-9);
	fflush(stdout);
	return atomic_load(&lg_shared.failed) == 0 && total.errors == 0 && total.closed == 0 &&
	       (o.mode == LG_MODE_IDLE || total.ops > 0) ? 0 : 1;
}
