/*
 * tandemctl.c - the SRE command line.
 *
 * `status` asks a running tandem's admin endpoint for /healthz and
 * /metrics and prints a short summary; `schema` prints or applies the DDL
 * of a mapping (ctl_schema.c); the flag commands mode, shift, shadow and
 * flags are in ctl_flags.c.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cfg.h"
#include "ctl_dump.h"
#include "ctl_flags.h"
#include "ctl_mismatches.h"
#include "ctl_replay.h"
#include "ctl_schema.h"

#define CTL_EXIT_USAGE 2
#define CTL_EXIT_DOWN 1
#define CTL_RESPONSE_MAX (4 * 1024 * 1024)

static void usage(FILE *out)
{
	fprintf(out, "Usage: tandemctl [--admin HOST:PORT] COMMAND\n\n"
		     "Commands:\n"
		     "  status    health, upstream and traffic counters of a running tandem\n"
		     "  schema    print the PostgreSQL DDL of a mapping (--apply runs it);\n"
		     "            see `tandemctl schema --help`\n"
		     "  dump      print a tenant's documents as PostgreSQL holds them (extended JSON);\n"
		     "            see `tandemctl dump --help`\n"
		     "  replay    apply the queued dual-write operations to PostgreSQL;\n"
		     "            see `tandemctl replay --help`\n"
		     "  mode      TENANT MODE: set a tenant's write_mode in Redis and notify tandem\n"
		     "  shift     TENANT PCT: set a tenant's read_pct (share of reads PostgreSQL serves)\n"
		     "  shadow    TENANT PCT: set a tenant's shadow_pct (share of reads compared)\n"
		     "  flags     TENANT: the tenant's effective flags and where they come from\n"
		     "            (all four: --redis URL, --config FILE; see `tandemctl shift --help`)\n"
		     "  mismatches TENANT: the newest shadow-read mismatches kept in Redis;\n"
		     "            see `tandemctl mismatches --help`\n\n"
		     "Options:\n"
		     "  --admin HOST:PORT   tandem's admin endpoint (default 127.0.0.1:9187,\n"
		     "                      or $TANDEM_ADMIN)\n"
		     "  --help, --version\n");
}

/* GET path from host:port; returns the malloc'd body and the HTTP status. */
static char *http_get(const char *addr, const char *path, int *status)
{
	char host[256], port[8], req[512];
	uint16_t p;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;

	if (!cfg_split_hostport(addr, host, sizeof(host), &p))
		return NULL;
	snprintf(port, sizeof(port), "%u", p);
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return NULL;
	int fd = socket(res->ai_family, SOCK_STREAM, 0);
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
		freeaddrinfo(res);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	freeaddrinfo(res);
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, addr);
	if (write(fd, req, (size_t)n) != n) {
		close(fd);
		return NULL;
	}
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap + 1);
	ssize_t r;
	while (buf && (r = read(fd, buf + len, cap - len)) > 0) {
		len += (size_t)r;
		if (len == cap) {
			if (cap >= CTL_RESPONSE_MAX)
				break;
			cap *= 2;
			char *nb = realloc(buf, cap + 1);
			if (!nb)
				break;
			buf = nb;
		}
	}
	close(fd);
	if (!buf)
		return NULL;
	buf[len] = '\0';
	char *body = strstr(buf, "\r\n\r\n");
	if (sscanf(buf, "HTTP/%*s %d", status) != 1 || !body) {
		free(buf);
		return NULL;
	}
	memmove(buf, body + 4, strlen(body + 4) + 1);
	return buf;
}

/* The value of an unlabelled sample, or -1. */
static double metric(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = text; (p = strstr(p, name)); p += n) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	}
	return -1;
}

/* The sum of a labelled family's samples (name{...} value), or 0. */
static double metric_sum(const char *text, const char *name)
{
	size_t n = strlen(name);
	double sum = 0;

	for (const char *p = text; (p = strstr(p, name)); p += n) {
		if ((p != text && p[-1] != '\n') || p[n] != '{')
			continue;
		const char *end = strchr(p, '}');
		if (end && end[1] == ' ')
			sum += strtod(end + 2, NULL);
	}
	return sum;
}

static int cmd_status(const char *admin)
{
	int hs = 0, ms = 0;
	char *health = http_get(admin, "/healthz", &hs);

	if (!health) {
		fprintf(stderr, "tandemctl: cannot reach tandem's admin endpoint at %s: %s\n", admin,
			errno ? strerror(errno) : "no answer");
		return CTL_EXIT_DOWN;
	}
	char *m = http_get(admin, "/metrics", &ms);
	printf("health:              %s", health);
	if (m) {
		printf("client connections:  %.0f\n", metric(m, "tandem_client_connections"));
		printf("upstream connections:%.0f\n", metric(m, "tandem_upstream_connections"));
		printf("requests in flight:  %.0f\n", metric(m, "tandem_requests_in_flight"));
		printf("accepted (total):    %.0f\n", metric(m, "tandem_client_connections_accepted_total"));
		printf("closed on error:     %.0f\n", metric(m, "tandem_client_connections_closed_error_total"));
		printf("upstream errors:     %.0f\n", metric(m, "tandem_upstream_errors_total"));
		printf("primary changes:     %.0f\n", metric(m, "tandem_topology_primary_changes_total"));
		printf("dual-write applied:  %.0f (pending %.0f, queued now %.0f, dead letters %.0f, "
		       "resyncs %.0f, divergences %.0f)\n",
		       metric(m, "tandem_dualwrite_applied_total"), metric(m, "tandem_dualwrite_pending"),
		       metric(m, "tandem_dualwrite_queue_depth"), metric(m, "tandem_dualwrite_dead_letters_total"),
		       metric(m, "tandem_dualwrite_resyncs_total"), metric(m, "tandem_dualwrite_divergences_total"));
		printf("served by PostgreSQL:%.0f writes (pg_primary/pg_only; failed %.0f)\n",
		       metric(m, "tandem_pgserve_writes_total"), metric(m, "tandem_pgserve_failed_total"));
		printf("shadow reads:        %.0f (matched %.0f, mismatched %.0f, skipped %.0f, shed %.0f)\n",
		       metric_sum(m, "tandem_shadow_reads_total"), metric_sum(m, "tandem_shadow_matches_total"),
		       metric_sum(m, "tandem_shadow_mismatches_total"),
		       metric_sum(m, "tandem_shadow_skipped_total"), metric_sum(m, "tandem_shadow_shed_total"));
	}
	free(health);
	free(m);
	return hs == 200 ? 0 : CTL_EXIT_DOWN;
}

int main(int argc, char **argv)
{
	const char *admin = getenv("TANDEM_ADMIN") ? getenv("TANDEM_ADMIN") : "127.0.0.1:9187";
	const char *cmd = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--version")) {
			printf("tandemctl %s\n", TANDEM_VERSION);
			return 0;
		} else if (!strcmp(argv[i], "--admin") && i + 1 < argc) {
			admin = argv[++i];
		} else if (!cmd && argv[i][0] != '-') {
			cmd = argv[i];
			if (!strcmp(cmd, "schema"))
				return ctl_schema(argc - i, argv + i);
			if (!strcmp(cmd, "dump"))
				return ctl_dump(argc - i, argv + i);
			if (!strcmp(cmd, "replay"))
				return ctl_replay(argc - i, argv + i);
			if (!strcmp(cmd, "mode") || !strcmp(cmd, "shift") || !strcmp(cmd, "shadow") ||
			    !strcmp(cmd, "flags"))
				return ctl_flags(argc - i, argv + i);
			if (!strcmp(cmd, "mismatches"))
				return ctl_mismatches(argc - i, argv + i);
		} else {
			fprintf(stderr, "tandemctl: unexpected argument '%s' (see --help)\n", argv[i]);
			return CTL_EXIT_USAGE;
		}
	}
	if (!cmd) {
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	if (!strcmp(cmd, "status"))
		return cmd_status(admin);
	fprintf(stderr, "tandemctl: unknown command '%s' (see --help)\n", cmd);
	return CTL_EXIT_USAGE;
}
