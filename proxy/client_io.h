/*
 * client_io.h - private to client.c / client_io.c / client_shift.c: moving whole messages
 * between a session's two bufferevents, with back-pressure.
 */
#ifndef TANDEM_CLIENT_IO_H
#define TANDEM_CLIENT_IO_H

#include <event2/bufferevent.h>
#include <stdbool.h>

#include "client.h"
#include "inspect.h"
#include "wire.h"

/* Bytes queued toward one side before the other side stops being read. */
#define CLIENT_BACKPRESSURE_BYTES (4u * 1024u * 1024u)

/* Reasons client reads are paused (client.paused bits). */
#define CLIENT_PAUSE_UPSTREAM_FULL 0x1  /* upstream output above the mark */
#define CLIENT_PAUSE_PENDING_FULL 0x2   /* CLIENT_MAX_PENDING in flight */
#define CLIENT_PAUSE_DRAINING 0x4
#define CLIENT_PAUSE_CLOSING 0x8
#define CLIENT_PAUSE_AUTHZ 0x10         /* the privileges were asked for (authz.h) */

/* A request id for a message tandem makes itself (never 0). */
int32_t client_new_request_id(void);

/* Turn reading from the client / the upstream on or off (plaintext read
 * events or the TLS bufferevent alike). */
void client_reading(struct client *c, bool on);
void upstream_reading(struct client *c, bool on);

void client_pause(struct client *c, unsigned bit);
void client_resume(struct client *c, unsigned bit);

/* Frame, inspect and forward every complete request in the client's input.
 * Returns false when the session was closed (c is then freed). */
bool client_pump_requests(struct client *c);

/* Forward every complete reply in the upstream's input to the client,
 * rewriting hello replies.  Returns false when the session was closed. */
bool client_pump_replies(struct client *c);

/* Write what is queued on bev now when it is a plaintext socket; enable its
 * write event only for what the kernel did not take. */
void client_send(struct client *c, struct bufferevent *bev);

/* From a write callback: a plaintext bev that has flushed everything turns
 * its write event off again. */
void client_sent(struct client *c, struct bufferevent *bev);

/* Reject the client's current message: answer a MongoDB-format error when
 * the protocol allows, then close once it is flushed.  h may be NULL. */
void client_fail(struct client *c, enum wire_status st, const struct wire_header *h,
		 const uint8_t *first_bytes, size_t nfirst);

/* End the session gracefully: drop the upstream, let the client read what
 * is queued (at most CLIENT_CLOSE_FLUSH_SEC), then close.  Returns false
 * when c was freed at once. */
bool client_finish(struct client *c, const char *reason, bool error);

/* A request in flight: a pending slot (pauses reading when the table is
 * full); served: PostgreSQL answers it (client_served / client_fallback). */
void client_pending_add(struct client *c, const struct msg_info *info, struct dwjob *dw,
			bool served);
/* The slot of request response_to, served or forwarded; -1 when none. */
int client_pending_find(const struct client *c, int32_t response_to, bool served);

/* client_shift.c: getMore / killCursors of tandem's cursors answered, and
 * reads handed to the served-read thread; true when the message at the
 * head of the client's input was consumed. */
bool client_answer_cursor_command(struct client *c, const struct msg_info *info, const uint8_t *msg);
bool client_route_read(struct client *c, const struct msg_info *info, const uint8_t *msg);

/* A session closing gives the client this long to read what is queued. */
#define CLIENT_CLOSE_FLUSH_SEC 5

#endif
