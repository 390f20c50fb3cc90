/*
 * test_metrics.c - counters and the Prometheus exposition.
 */
#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <string.h>

#include "metrics.h"

static char *render(void)
{
	struct evbuffer *b = evbuffer_new();

	metrics_render(b);
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);
	evbuffer_remove(b, s, n);
	s[n] = '\0';
	evbuffer_free(b);
	return s;
}

Test(metrics, counters_and_labels_render)
{
	metrics_inc(METRIC_CLIENT_ACCEPTED);
	metrics_gauge_add(METRIC_CLIENT_CONNECTIONS, 2);
	metrics_message(METRICS_IN, WIRE_OP_MSG, 100);
	metrics_message(METRICS_IN, 9999, 10);
	unsigned find = metrics_command("find", 120);
	metrics_latency(find, 300);
	(void)metrics_command("$hostileCommandName\"\n", 7);
	metrics_protocol_error(WIRE_ERR_CHECKSUM);

	char *s = render();
	cr_assert(strstr(s, "tandem_client_connections_accepted_total 1\n"), "%s", s);
	cr_assert(strstr(s, "tandem_client_connections 2\n"));
	cr_assert(strstr(s, "tandem_messages_total{direction=\"in\",opcode=\"OP_MSG\"} 1\n"));
	cr_assert(strstr(s, "tandem_message_bytes_total{direction=\"in\",opcode=\"OP_MSG\"} 100\n"));
	cr_assert(strstr(s, "tandem_messages_total{direction=\"in\",opcode=\"other\"} 1\n"));
	cr_assert(strstr(s, "tandem_commands_total{command=\"find\"} 1\n"));
	cr_assert(strstr(s, "tandem_command_bytes_total{command=\"find\"} 120\n"));
	cr_assert(strstr(s, "tandem_commands_total{command=\"other\"} 1\n"), "hostile names fold into other");
	cr_assert_null(strstr(s, "hostileCommandName"));
	cr_assert(strstr(s, "tandem_upstream_latency_seconds_bucket{command=\"find\",le=\"0.00025\"} 0\n"));
	cr_assert(strstr(s, "tandem_upstream_latency_seconds_bucket{command=\"find\",le=\"0.0005\"} 1\n"));
	cr_assert(strstr(s, "tandem_upstream_latency_seconds_count{command=\"find\"} 1\n"));
	free(s);
}

Test(metrics, every_line_is_a_comment_or_a_sample)
{
	char *s = render();
	char *save, *line = strtok_r(s, "\n", &save);

	for (; line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		cr_assert(strncmp(line, "tandem_", 7) == 0, "bad line: %s", line);
		cr_assert(strrchr(line, ' '), "no value: %s", line);
	}
	free(s);
}
