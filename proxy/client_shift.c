/*
 * client_shift.c - a session's side of reads served by PostgreSQL
 * (shift.h, docs/shift.md):
 *
 *   request: getMore / killCursors of tandem's cursors -> answered here
 *            read in a served bucket, authorized -> kept bytes + pending
 *              slot (served), job to the served-read thread
 *   inbox:   reply -> client_served (client_io.c)
 *            fallback -> client_fallback: the kept bytes go to MongoDB,
 *              the slot waits for MongoDB's reply like any other
 */
#include "client_io.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "metrics.h"
#include "shift.h"

/* getMore / killCursors of tandem's own cursors: answered here (or, for
 * a killCursors naming MongoDB's ids too, MongoDB's part forwarded).  True
 * when the message was consumed. */
bool client_answer_cursor_command(struct client *c, const struct msg_info *info, const uint8_t *msg)
{
	struct evbuffer *in = bufferevent_get_input(c->cbev);
	size_t len = 0;
	bool to_upstream = false;
	uint8_t *out = shift_cursor_command(c->id, info, msg, (size_t)info->header.length, &len,
					    &to_upstream);

	if (!out)
		return false;
	evbuffer_drain(in, (size_t)info->header.length);
	if (to_upstream) {   /* MongoDB's part of a killCursors; its reply answers */
		client_pending_add(c, info, NULL, false);
		evbuffer_add(bufferevent_get_output(c->ubev), out, len);
	} else {
		(void)metrics_command(info->command, (size_t)info->header.length);
		metrics_message(METRICS_OUT, WIRE_OP_MSG, len);
		evbuffer_add(bufferevent_get_output(c->cbev), out, len);
	}
	free(out);
	return true;
}

/* A read of a tenant whose bucket PostgreSQL serves: handed to the
 * served-read thread, the request kept for a fallback.  True when the
 * message was consumed. */
bool client_route_read(struct client *c, const struct msg_info *info, const uint8_t *msg)
{
	size_t len = (size_t)info->header.length;
	struct shift_job *sj = info->expects_reply ? shift_route(c->id, info, msg, len) : NULL;
	uint8_t *orig;

	if (!sj)
		return false;
	if (authz_check(c, shift_job_db(sj), shift_job_coll(sj), AUTHZ_FIND) != AUTHZ_ALLOW) {
		shift_job_drop(sj, METRICS_SHIFT_UNAUTHORIZED);
		return false;
	}
	if (!(orig = malloc(len))) {
		shift_job_drop(sj, METRICS_SHIFT_BUSY);
		return false;
	}
	memcpy(orig, msg, len);
	client_pending_add(c, info, NULL, true);
	c->pending[c->npending - 1].orig = orig;
	c->pending[c->npending - 1].orig_len = len;
	evbuffer_drain(bufferevent_get_input(c->cbev), len);
	shift_submit(sj, c->w);
	return true;
}

void client_fallback(struct client *c, int32_t response_to)
{
	int i = client_pending_find(c, response_to, true);
	struct client_pending *p;

	if (i < 0 || !c->pending[i].orig || c->state == CLIENT_ST_CLOSING || !c->ubev)
		return;
	p = &c->pending[i];
	p->served = false;   /* MongoDB's reply now answers it (client_pump_replies) */
	evbuffer_add(bufferevent_get_output(c->ubev), p->orig, p->orig_len);
	free(p->orig);
	p->orig = NULL;
	client_send(c, c->ubev);
}
