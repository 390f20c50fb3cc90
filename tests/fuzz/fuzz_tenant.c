/*
 * fuzz_tenant.c - libFuzzer target for tenant resolution in field mode
 * (shift/tenant.h) and the database-name refusal (common/wire/inspect.h).
 *
 * Input: one whole client message (the fuzz_wire corpus applies; seeds in
 * corpus_tenant/ carry tenant_id fields in filters, statements, $and and
 * kind-1 sequences).  What must hold: inspect_request either refuses it or
 * describes it; a refused database name gets a reply that parses as an
 * OP_MSG / OP_REPLY answering the request (or none for moreToCome); for a
 * valid name, tenant_of_request answers MATCHED with a name of 1..255
 * bytes, or UNRESOLVED with "" (no default tenant), and answers the same
 * twice.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "flags.h"
#include "inspect.h"
#include "opmsg.h"
#include "opquery.h"
#include "tenant.h"

static void start_field_mode(void)
{
	static bool started;
	struct cfg c;
	char err[256];

	if (started)
		return;
	cfg_init(&c);
	if (!cfg_set(&c, "tenant.from", "field", err, sizeof(err)) || !tenant_start(&c, err, sizeof(err)))
		abort();
	cfg_free(&c);
	started = true;
}

static void check_refusal(const struct msg_info *info)
{
	size_t len = 0;
	uint8_t *r = inspect_db_refusal(info, 1, &len);
	struct opmsg_view mv;
	struct opreply_view rv;

	if (!r) {
		if (info->expects_reply && (info->opcode == WIRE_OP_MSG || info->opcode == WIRE_OP_QUERY))
			abort();
		return;
	}
	if (info->opcode == WIRE_OP_MSG ? opmsg_parse(r, len, &mv) != WIRE_OK
					: opreply_parse(r, len, &rv) != WIRE_OK)
		abort();
	free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg_info info;
	char a[FLAGS_TENANT_NAME_MAX + 1], b[FLAGS_TENANT_NAME_MAX + 1];

	start_field_mode();
	if (size > (1u << 20) || inspect_request(data, size, 1 << 20, &info) != WIRE_OK)
		return 0;
	if (strlen(info.db) > INSPECT_DB_MAX)
		abort();
	if (info.db_status != INSPECT_DB_OK) {
		check_refusal(&info);
		return 0;
	}
	enum tenant_status st = tenant_of_request(&info, data, size, a, sizeof(a));
	if (st == TENANT_MATCHED && (a[0] == '\0' || strlen(a) > FLAGS_TENANT_NAME_MAX))
		abort();
	if (st == TENANT_UNRESOLVED && a[0] != '\0')
		abort();
	if (st == TENANT_DEFAULT || tenant_of_request(&info, data, size, b, sizeof(b)) != st ||
	    strcmp(a, b) != 0)
		abort();
	return 0;
}
