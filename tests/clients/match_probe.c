/*
 * match_probe.c - the exact matcher (common/mql/match.h) as a filter over
 * Extended JSON lines, for tests/integration/test_rowstore_pg.py:
 *
 *   match_probe FILTER_JSON < docs.jsonl
 *
 * prints every input line whose document FILTER matches, unchanged, in
 * input order.  Exit 0; 1 when the filter is refused by match.h or a line
 * is not a document (message on stderr); 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#include "match.h"

static int match_lines(const bson_t *filter)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;
	bson_error_t err;

	while (rc == 0 && (n = getline(&line, &cap, stdin)) > 0) {
		if (n == 1 && line[0] == '\n')
			continue;
		bson_t *doc = bson_new_from_json((const uint8_t *)line, n, &err);
		if (!doc) {
			fprintf(stderr, "match_probe: bad line: %s\n", err.message);
			rc = 1;
			break;
		}
		enum match_status st = match_doc(filter, doc, NULL, &err);
		if (st == MATCH_YES)
			fputs(line, stdout);
		else if (st != MATCH_NO) {
			fprintf(stderr, "match_probe: %s\n", err.message);
			rc = 1;
		}
		bson_destroy(doc);
	}
	free(line);
	return rc;
}

int main(int argc, char **argv)
{
	bson_error_t err;
	bson_t *filter;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: match_probe FILTER_JSON < docs.jsonl\n");
		return 2;
	}
	if (!(filter = bson_new_from_json((const uint8_t *)argv[1], -1, &err))) {
		fprintf(stderr, "match_probe: filter: %s\n", err.message);
		return 1;
	}
	rc = match_lines(filter);
	bson_destroy(filter);
	return rc;
}
