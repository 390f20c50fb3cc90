/*
 * dwtouch.c - the applier's record of which documents it wrote, and for
 * which write (see dwtouch.h).
 *
 * Slots hold the largest write number published into them; they are
 * never cleared.  A slot is chosen by SipHash of (tenant, coll[, _id]):
 *
 *   docs[h(tenant, coll, id) % DOC_SLOTS]     per document
 *   colls[h(tenant, coll) % COLL_SLOTS].any   any document of the collection
 *   colls[...].all                            every document (drop)
 *   acks[h(tenant, coll, id) % DOC_SLOTS]     the latest reply time (µs) of a
 *                                             write the applier applied to it
 *
 * 2 * 2^16 + 2 * 2^12 eight-byte slots: 1.1 MiB, allocated statically.
 */
#include "dwtouch.h"

#include <stdatomic.h>
#include <string.h>

#include "hash.h"

#define DOC_SLOTS (1u << 16)
#define COLL_SLOTS (1u << 12)

static _Atomic uint64_t docs[DOC_SLOTS];
static _Atomic uint64_t acks[DOC_SLOTS];
static _Atomic uint64_t ack_by[DOC_SLOTS];   /* the number (seq) of the write that set acks[] */
static _Atomic uint64_t touch_clock;   /* dwtouch_tick / dwtouch_now */
static struct {
	_Atomic uint64_t any, all;
} colls[COLL_SLOTS];

/* Names are framed by their lengths, so ("ab","c") and ("a","bc") differ. */
static void add_name(struct hash_sip *st, const char *s)
{
	uint64_t n = strlen(s);

	hash_sip_add(st, &n, sizeof(n));
	hash_sip_add(st, s, n);
}

static uint64_t coll_hash(const char *tenant, const char *coll, struct hash_sip *st)
{
	hash_sip_init(st);
	add_name(st, tenant);
	add_name(st, coll);
	struct hash_sip copy = *st;
	return hash_sip_end(&copy);
}

/* The document's slot: the collection's state plus the _id as one BSON
 * element (type byte and value; the same _id always gives the same bytes
 * because both sides read it from the stored document). */
static size_t doc_slot(const char *tenant, const char *coll, const bson_value_t *id)
{
	struct hash_sip st;
	bson_t b = BSON_INITIALIZER;

	(void)coll_hash(tenant, coll, &st);
	bson_append_value(&b, "", 0, id);
	hash_sip_add(&st, bson_get_data(&b), b.len);
	bson_destroy(&b);
	return (size_t)(hash_sip_end(&st) % DOC_SLOTS);
}

static size_t coll_slot(const char *tenant, const char *coll)
{
	struct hash_sip st;

	return (size_t)(coll_hash(tenant, coll, &st) % COLL_SLOTS);
}

static void raise_to(_Atomic uint64_t *slot, uint64_t seq)
{
	uint64_t cur = atomic_load_explicit(slot, memory_order_relaxed);

	while (cur < seq && !atomic_compare_exchange_weak(slot, &cur, seq))
		;
}

uint64_t dwtouch_tick(void)
{
	return atomic_fetch_add(&touch_clock, 1) + 1;
}

uint64_t dwtouch_now(void)
{
	return atomic_load(&touch_clock);
}

static uint64_t known_seq(uint64_t seq)
{
	return seq ? seq : dwtouch_now();
}

void dwtouch_doc(const char *tenant, const char *coll, const bson_value_t *id, uint64_t seq,
		 uint64_t ack_us)
{
	size_t s = doc_slot(tenant, coll, id);

	seq = known_seq(seq);
	raise_to(&docs[s], seq);
	if (ack_us && ack_us >= atomic_load(&acks[s])) {   /* the applier is the only writer */
		atomic_store(&acks[s], ack_us);
		atomic_store(&ack_by[s], seq);
	}
	raise_to(&colls[coll_slot(tenant, coll)].any, seq);
}

uint64_t dwtouch_doc_acked(const char *tenant, const char *coll, const bson_value_t *id, uint64_t *by)
{
	size_t s = doc_slot(tenant, coll, id);

	if (by)
		*by = atomic_load(&ack_by[s]);
	return atomic_load(&acks[s]);
}

void dwtouch_coll_all(const char *tenant, const char *coll, uint64_t seq)
{
	size_t s = coll_slot(tenant, coll);

	seq = known_seq(seq);
	raise_to(&colls[s].all, seq);
	raise_to(&colls[s].any, seq);
}

uint64_t dwtouch_doc_seq(const char *tenant, const char *coll, const bson_value_t *id)
{
	uint64_t d = atomic_load(&docs[doc_slot(tenant, coll, id)]);
	uint64_t all = atomic_load(&colls[coll_slot(tenant, coll)].all);

	return d > all ? d : all;
}

uint64_t dwtouch_coll_seq(const char *tenant, const char *coll)
{
	return atomic_load(&colls[coll_slot(tenant, coll)].any);
}
