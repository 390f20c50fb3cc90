/*
 * ryw.c - the per-database write watermark (ryw.h).  Open addressing keyed
 * by a keyed hash of the name (names come from clients), RYW_PROBE slots
 * from the home slot; the shared floor takes what does not fit.
 */
#include "ryw.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "hash.h"

#define RYW_NAME_MAX 128

struct ryw_slot {
	uint64_t seq;             /* 0: free */
	char db[RYW_NAME_MAX];
};

static struct {
	pthread_mutex_t mu;
	bool (*settled)(uint64_t seq);
	uint64_t floor;           /* every database waits for this */
	struct ryw_slot s[RYW_SLOTS];
} ryw = {.mu = PTHREAD_MUTEX_INITIALIZER};

void ryw_init(bool (*settled)(uint64_t seq))
{
	pthread_mutex_lock(&ryw.mu);
	ryw.settled = settled;
	pthread_mutex_unlock(&ryw.mu);
}

void ryw_reset(void)
{
	pthread_mutex_lock(&ryw.mu);
	memset(ryw.s, 0, sizeof(ryw.s));
	ryw.floor = 0;
	pthread_mutex_unlock(&ryw.mu);
}

static bool done(uint64_t seq)
{
	return !ryw.settled || ryw.settled(seq);
}

static bool shared_name(const char *db)
{
	return !db[0] || !strcmp(db, "admin") || strlen(db) >= RYW_NAME_MAX;
}

void ryw_note(const char *db, uint64_t seq)
{
	struct ryw_slot *free_slot = NULL;

	pthread_mutex_lock(&ryw.mu);
	if (shared_name(db)) {
		if (seq > ryw.floor)
			ryw.floor = seq;
		pthread_mutex_unlock(&ryw.mu);
		return;
	}
	uint64_t h = hash_sip(db, strlen(db));
	for (unsigned i = 0; i < RYW_PROBE; i++) {
		struct ryw_slot *s = &ryw.s[(h + i) % RYW_SLOTS];
		if (s->seq && !strcmp(s->db, db)) {
			if (seq > s->seq)
				s->seq = seq;
			pthread_mutex_unlock(&ryw.mu);
			return;
		}
		if (!free_slot && (!s->seq || done(s->seq)))
			free_slot = s;   /* empty, or its writes are all in PostgreSQL */
	}
	if (free_slot) {
		snprintf(free_slot->db, sizeof(free_slot->db), "%s", db);
		free_slot->seq = seq;
	} else if (seq > ryw.floor) {
		ryw.floor = seq;
	}
	pthread_mutex_unlock(&ryw.mu);
}

uint64_t ryw_seq(const char *db)
{
	uint64_t seq;

	pthread_mutex_lock(&ryw.mu);
	seq = ryw.floor;
	if (!shared_name(db)) {
		uint64_t h = hash_sip(db, strlen(db));
		for (unsigned i = 0; i < RYW_PROBE; i++) {
			const struct ryw_slot *s = &ryw.s[(h + i) % RYW_SLOTS];
			if (s->seq && !strcmp(s->db, db)) {
				if (s->seq > seq)
					seq = s->seq;
				break;
			}
		}
	}
	pthread_mutex_unlock(&ryw.mu);
	return seq;
}
