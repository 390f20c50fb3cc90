/*
 * metrics.c - storage and Prometheus rendering of tandem's metrics.
 *
 * All cells are _Atomic uint64_t updated with relaxed ordering: a scrape may
 * see one family a few increments behind another, never a torn value.  An
 * age cell holds a wall-clock moment; the scrape turns it into seconds.
 */
#include "metrics.h"

#include <event2/buffer.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

#define METRICS_NAME_PREFIX "tandem_"

/* Each X-macro list as two arrays, names and help, in enum order. */
#define METRICS_NAME(id, name, help) name,
#define METRICS_HELP(id, name, help) help,
static const char *const counter_names[] = {METRICS_COUNTERS(METRICS_NAME)};
static const char *const counter_help[] = {METRICS_COUNTERS(METRICS_HELP)};
static const char *const gauge_names[] = {METRICS_GAUGES(METRICS_NAME)};
static const char *const gauge_help[] = {METRICS_GAUGES(METRICS_HELP)};
static const char *const age_names[] = {METRICS_AGES(METRICS_NAME)};
static const char *const age_help[] = {METRICS_AGES(METRICS_HELP)};
#undef METRICS_NAME
#undef METRICS_HELP
#define METRICS_L_ROW(id, family, label, help) {family, label, help},
static const struct {
	const char *family, *label, *help;
} labelled[] = {METRICS_LABELLED(METRICS_L_ROW)};
#undef METRICS_L_ROW
/* The labelled counters come last in enum metrics_counter. */
#define METRICS_N_LABELLED (sizeof(labelled) / sizeof(labelled[0]))
#define METRICS_PLAIN_COUNT (METRIC_COUNTER_COUNT - METRICS_N_LABELLED)

static _Atomic uint64_t counters[METRIC_COUNTER_COUNT];
static _Atomic int64_t gauges[METRIC_GAUGE_COUNT];
static _Atomic uint64_t ages_ms[METRIC_AGE_COUNT]; /* wall clock ms; 0 = never */

/* Opcodes with their own label; everything else is "other". */
static const int32_t known_opcodes[] = {
	WIRE_OP_MSG, WIRE_OP_QUERY, WIRE_OP_REPLY, WIRE_OP_COMPRESSED, WIRE_OP_GET_MORE,
	WIRE_OP_INSERT, WIRE_OP_UPDATE, WIRE_OP_DELETE, WIRE_OP_KILL_CURSORS,
};
#define N_OPCODES (sizeof(known_opcodes) / sizeof(known_opcodes[0]) + 1)

static _Atomic uint64_t msg_count[2][N_OPCODES];
static _Atomic uint64_t msg_bytes[2][N_OPCODES];

/* Commands with their own label, sorted for bsearch; the last slot is "other". */
static const char *const known_commands[] = {
	"abortTransaction", "aggregate", "authenticate", "buildInfo", "buildinfo",
	"bulkWrite", "collStats", "commitTransaction", "count", "create",
	"createIndexes", "dbStats", "delete", "distinct", "drop",
	"dropDatabase", "dropIndexes", "endSessions", "explain", "find",
	"findAndModify", "getLastError", "getMore", "hello", "insert",
	"isMaster", "ismaster", "killCursors", "listCollections", "listDatabases",
	"listIndexes", "logout", "ping", "saslContinue", "saslStart",
	"serverStatus", "update",
};
#define N_COMMANDS (sizeof(known_commands) / sizeof(known_commands[0]) + 1)
#define COMMAND_OTHER (N_COMMANDS - 1)

/* Latency buckets (upper bounds in microseconds) shared by every command. */
static const uint64_t latency_bounds[] = {
	50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
	500000, 1000000, 2500000, 10000000,
};
#define N_BOUNDS (sizeof(latency_bounds) / sizeof(latency_bounds[0]))

static _Atomic uint64_t cmd_count[N_COMMANDS];
static _Atomic uint64_t cmd_bytes[N_COMMANDS];
static _Atomic uint64_t lat_bucket[N_COMMANDS][N_BOUNDS + 1];
static _Atomic uint64_t lat_sum_us[N_COMMANDS];

static _Atomic uint64_t proto_errors[WIRE_ERR_NOMEM + 1];

static _Atomic uint64_t lag_bucket[N_BOUNDS + 1];
static _Atomic uint64_t lag_sum_us;

void metrics_inc(enum metrics_counter c)
{
	atomic_fetch_add_explicit(&counters[c], 1, memory_order_relaxed);
}

void metrics_add(enum metrics_counter c, uint64_t n)
{
	atomic_fetch_add_explicit(&counters[c], n, memory_order_relaxed);
}

uint64_t metrics_counter_get(enum metrics_counter c)
{
	return atomic_load_explicit(&counters[c], memory_order_relaxed);
}

void metrics_gauge_add(enum metrics_gauge g, int64_t delta)
{
	atomic_fetch_add_explicit(&gauges[g], delta, memory_order_relaxed);
}

void metrics_gauge_set(enum metrics_gauge g, int64_t value)
{
	atomic_store_explicit(&gauges[g], value, memory_order_relaxed);
}

void metrics_age_mark(enum metrics_age a, uint64_t wall_ms)
{
	atomic_store_explicit(&ages_ms[a], wall_ms, memory_order_relaxed);
}

uint64_t metrics_age_get(enum metrics_age a)
{
	return atomic_load_explicit(&ages_ms[a], memory_order_relaxed);
}

int64_t metrics_gauge_get(enum metrics_gauge g)
{
	return atomic_load_explicit(&gauges[g], memory_order_relaxed);
}

static unsigned opcode_index(int32_t opcode)
{
	for (unsigned i = 0; i < N_OPCODES - 1; i++)
		if (known_opcodes[i] == opcode)
			return i;
	return N_OPCODES - 1;
}

void metrics_message(enum metrics_dir dir, int32_t opcode, size_t bytes)
{
	unsigned i = opcode_index(opcode);

	atomic_fetch_add_explicit(&msg_count[dir][i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&msg_bytes[dir][i], bytes, memory_order_relaxed);
}

static int command_cmp(const void *key, const void *elem)
{
	return strcmp(key, *(const char *const *)elem);
}

unsigned metrics_command(const char *name, size_t bytes)
{
	const char *const *hit = bsearch(name, known_commands, N_COMMANDS - 1,
					 sizeof(known_commands[0]), command_cmp);
	unsigned i = hit ? (unsigned)(hit - known_commands) : COMMAND_OTHER;

	atomic_fetch_add_explicit(&cmd_count[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&cmd_bytes[i], bytes, memory_order_relaxed);
	return i;
}

void metrics_latency(unsigned ci, uint64_t usec)
{
	unsigned b = 0;

	if (ci >= N_COMMANDS)
		ci = COMMAND_OTHER;
	while (b < N_BOUNDS && usec > latency_bounds[b])
		b++;
	atomic_fetch_add_explicit(&lat_bucket[ci][b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&lat_sum_us[ci], usec, memory_order_relaxed);
}

void metrics_dw_lag(uint64_t usec)
{
	unsigned b = 0;

	while (b < N_BOUNDS && usec > latency_bounds[b])
		b++;
	atomic_fetch_add_explicit(&lag_bucket[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&lag_sum_us, usec, memory_order_relaxed);
}

void metrics_protocol_error(enum wire_status st)
{
	if ((unsigned)st <= WIRE_ERR_NOMEM)
		atomic_fetch_add_explicit(&proto_errors[st], 1, memory_order_relaxed);
}

static uint64_t load(_Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

static const char *command_label(unsigned i)
{
	return i == COMMAND_OTHER ? "other" : known_commands[i];
}

/* METRICS_LABELLED: HELP and TYPE once per family. */
static void render_labelled(struct evbuffer *out)
{
	for (unsigned i = 0; i < METRICS_N_LABELLED; i++) {
		if (i == 0 || strcmp(labelled[i].family, labelled[i - 1].family) != 0)
			evbuffer_add_printf(out, "# HELP " METRICS_NAME_PREFIX "%s %s\n# TYPE "
					    METRICS_NAME_PREFIX "%s counter\n", labelled[i].family,
					    labelled[i].help, labelled[i].family);
		evbuffer_add_printf(out, METRICS_NAME_PREFIX "%s{%s} %llu\n", labelled[i].family,
				    labelled[i].label,
				    (unsigned long long)load(&counters[METRICS_PLAIN_COUNT + i]));
	}
}

static void render_messages(struct evbuffer *out)
{
	static const char *const dirs[2] = {"in", "out"};

	evbuffer_add_printf(out, "# HELP tandem_messages_total Wire messages by direction and opcode\n"
				 "# TYPE tandem_messages_total counter\n");
	for (int d = 0; d < 2; d++)
		for (unsigned i = 0; i < N_OPCODES; i++)
			evbuffer_add_printf(out, "tandem_messages_total{direction=\"%s\",opcode=\"%s\"} %llu\n",
					    dirs[d], i < N_OPCODES - 1 ? wire_opcode_to_str(known_opcodes[i]) : "other",
					    (unsigned long long)load(&msg_count[d][i]));
	evbuffer_add_printf(out, "# HELP tandem_message_bytes_total Wire bytes by direction and opcode\n"
				 "# TYPE tandem_message_bytes_total counter\n");
	for (int d = 0; d < 2; d++)
		for (unsigned i = 0; i < N_OPCODES; i++)
			evbuffer_add_printf(out, "tandem_message_bytes_total{direction=\"%s\",opcode=\"%s\"} %llu\n",
					    dirs[d], i < N_OPCODES - 1 ? wire_opcode_to_str(known_opcodes[i]) : "other",
					    (unsigned long long)load(&msg_bytes[d][i]));
}

static void render_commands(struct evbuffer *out)
{
	evbuffer_add_printf(out, "# HELP tandem_commands_total Client commands by name\n"
				 "# TYPE tandem_commands_total counter\n");
	for (unsigned i = 0; i < N_COMMANDS; i++)
		evbuffer_add_printf(out, "tandem_commands_total{command=\"%s\"} %llu\n",
				    command_label(i), (unsigned long long)load(&cmd_count[i]));

	evbuffer_add_printf(out, "# HELP tandem_command_bytes_total Request bytes by client command\n"
				 "# TYPE tandem_command_bytes_total counter\n");
	for (unsigned i = 0; i < N_COMMANDS; i++)
		evbuffer_add_printf(out, "tandem_command_bytes_total{command=\"%s\"} %llu\n",
				    command_label(i), (unsigned long long)load(&cmd_bytes[i]));

	evbuffer_add_printf(out, "# HELP tandem_upstream_latency_seconds Upstream round trip of a request\n"
				 "# TYPE tandem_upstream_latency_seconds histogram\n");
	for (unsigned i = 0; i < N_COMMANDS; i++) {
		uint64_t cum = 0;

		for (unsigned b = 0; b <= N_BOUNDS; b++) {
			cum += load(&lat_bucket[i][b]);
			if (b < N_BOUNDS)
				evbuffer_add_printf(out, "tandem_upstream_latency_seconds_bucket{command=\"%s\",le=\"%g\"} %llu\n",
						    command_label(i), (double)latency_bounds[b] / 1e6,
						    (unsigned long long)cum);
			else
				evbuffer_add_printf(out, "tandem_upstream_latency_seconds_bucket{command=\"%s\",le=\"+Inf\"} %llu\n",
						    command_label(i), (unsigned long long)cum);
		}
		evbuffer_add_printf(out, "tandem_upstream_latency_seconds_sum{command=\"%s\"} %.6f\n",
				    command_label(i), (double)load(&lat_sum_us[i]) / 1e6);
		evbuffer_add_printf(out, "tandem_upstream_latency_seconds_count{command=\"%s\"} %llu\n",
				    command_label(i), (unsigned long long)cum);
	}
}

static void render_lag(struct evbuffer *out)
{
	uint64_t cum = 0;

	evbuffer_add_printf(out, "# HELP tandem_dualwrite_lag_seconds MongoDB's reply to PostgreSQL's commit, per operation\n"
				 "# TYPE tandem_dualwrite_lag_seconds histogram\n");
	for (unsigned b = 0; b <= N_BOUNDS; b++) {
		cum += load(&lag_bucket[b]);
		if (b < N_BOUNDS)
			evbuffer_add_printf(out, "tandem_dualwrite_lag_seconds_bucket{le=\"%g\"} %llu\n",
					    (double)latency_bounds[b] / 1e6, (unsigned long long)cum);
		else
			evbuffer_add_printf(out, "tandem_dualwrite_lag_seconds_bucket{le=\"+Inf\"} %llu\n",
					    (unsigned long long)cum);
	}
	evbuffer_add_printf(out, "tandem_dualwrite_lag_seconds_sum %.6f\ntandem_dualwrite_lag_seconds_count %llu\n",
			    (double)load(&lag_sum_us) / 1e6, (unsigned long long)cum);
}

void metrics_render(struct evbuffer *out)
{
	for (unsigned i = 0; i < METRICS_PLAIN_COUNT; i++)
		evbuffer_add_printf(out, "# HELP " METRICS_NAME_PREFIX "%s %s\n# TYPE " METRICS_NAME_PREFIX
					 "%s counter\n" METRICS_NAME_PREFIX "%s %llu\n",
				    counter_names[i], counter_help[i], counter_names[i], counter_names[i],
				    (unsigned long long)load(&counters[i]));
	for (unsigned i = 0; i < METRIC_GAUGE_COUNT; i++)
		evbuffer_add_printf(out, "# HELP " METRICS_NAME_PREFIX "%s %s\n# TYPE " METRICS_NAME_PREFIX
					 "%s gauge\n" METRICS_NAME_PREFIX "%s %lld\n",
				    gauge_names[i], gauge_help[i], gauge_names[i], gauge_names[i],
				    (long long)atomic_load_explicit(&gauges[i], memory_order_relaxed));
	uint64_t now_ms = clock_wall_ms();
	for (unsigned i = 0; i < METRIC_AGE_COUNT; i++) {
		uint64_t t = load(&ages_ms[i]);
		evbuffer_add_printf(out, "# HELP " METRICS_NAME_PREFIX "%s %s\n# TYPE " METRICS_NAME_PREFIX
					 "%s gauge\n" METRICS_NAME_PREFIX "%s %.3f\n",
				    age_names[i], age_help[i], age_names[i], age_names[i],
				    t ? (double)(int64_t)(now_ms - t) / 1000.0 : -1.0);
	}
	render_labelled(out);
	render_messages(out);
	render_commands(out);
	render_lag(out);
	evbuffer_add_printf(out, "# HELP tandem_protocol_errors_total Client messages rejected, by reason\n"
				 "# TYPE tandem_protocol_errors_total counter\n");
	for (unsigned st = 1; st <= WIRE_ERR_NOMEM; st++)
		evbuffer_add_printf(out, "tandem_protocol_errors_total{reason=\"%s\"} %llu\n",
				    wire_status_to_str((enum wire_status)st),
				    (unsigned long long)load(&proto_errors[st]));
	metrics_shift_render(out);
}
