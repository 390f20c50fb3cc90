/*
 * dwtouch.h - which documents the applier has written to PostgreSQL, and
 * for which write, so that a shadow read is compared only against the
 * PostgreSQL state that matches MongoDB's answer (docs/shadow.md, "Races").
 *
 * Writes and resyncs are numbered on one clock (dwtouch_tick): a write
 * when its reply is handed to the applier (dualwrite_submit), a resync
 * after it has read MongoDB.  A read captured at n = dwtouch_now() saw, on
 * MongoDB, every write numbered <= n (their replies had reached tandem
 * before the read was sent) and what every resync numbered <= n read (it
 * read MongoDB before); a write or resync numbered > n may or may not be
 * in MongoDB's answer.  If
 * such a write reached PostgreSQL before the shadow SELECT, the two sides
 * are not the same moment for the documents it wrote:
 *
 *   applier: computing a unit, for each row it writes
 *              dwtouch_doc(tenant, coll, _id, seq)    (before the batch is sent)
 *            for a statement whose rows it cannot name (drop)
 *              dwtouch_coll_all(tenant, coll, seq)
 *   shadow:  after its SELECT came back
 *              dwtouch_doc_seq(...) > n   -> leave that document out, or
 *              dwtouch_coll_seq(...) > n  -> the read is `raced`
 *
 * Two direct-mapped tables of atomic maxima keyed by SipHash, fixed size,
 * no lock: a collision makes a slot answer a later number than its own
 * document's, so every error leans toward "raced", never toward comparing
 * two different moments.  Published before the write is sent, so a SELECT
 * that can see a write finds it published.  Any thread may call any of
 * these; tenant names are client-controlled, hence the keyed hash.
 */
#ifndef TANDEM_DWTOUCH_H
#define TANDEM_DWTOUCH_H

#include <stdint.h>

#include <bson/bson.h>

/* The next number of the clock (a write handed to the applier, a resync
 * that has read MongoDB), and the current one (a read's capture). */
uint64_t dwtouch_tick(void);
uint64_t dwtouch_now(void);

/* A row of document id in tenant's coll is about to be written by the
 * write or resync numbered seq (0: not known, e.g. drained from the queue:
 * the current number is used, which is later than the write), whose
 * reply reached tandem at ack_us (wall µs; 0: unknown). */
void dwtouch_doc(const char *tenant, const char *coll, const bson_value_t *id, uint64_t seq,
		 uint64_t ack_us);

/* Every row of tenant's coll may change (drop). */
void dwtouch_coll_all(const char *tenant, const char *coll, uint64_t seq);

/* The latest write number published for document id (including
 * dwtouch_coll_all of its collection); 0 when none. */
uint64_t dwtouch_doc_seq(const char *tenant, const char *coll, const bson_value_t *id);

/* The latest reply time (ack_us) of a write applied to document id (or to
 * one sharing its slot: later, never earlier); 0 when none.  *by (may be
 * NULL) gets the number (seq) of the write that set it.  The applier asks
 * it before applying a write forwarded at sent_us: a value >= sent_us set
 * by another write means both were at MongoDB together, in an order
 * tandem cannot know (dwapply_resync.c, overlaps).  Only the applier
 * thread publishes acks. */
uint64_t dwtouch_doc_acked(const char *tenant, const char *coll, const bson_value_t *id, uint64_t *by);

/* The latest write number published for any document of tenant's coll. */
uint64_t dwtouch_coll_seq(const char *tenant, const char *coll);

#endif
