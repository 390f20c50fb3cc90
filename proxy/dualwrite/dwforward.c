/*
 * dwforward.c - numbering of forwarded writes and the watermark of those
 * answered (see dwforward.h).
 *
 *   ring[n % RING] = 1 when write n ended; `done` = the largest d such that
 *   every write <= d ended.  Whoever ends a write advances `done` over the
 *   flags that follow it, clearing each after the advance, so a slot is free
 *   before the write RING numbers later can be given it (begin refuses to
 *   number more than RING - MARGIN writes past `done`).
 */
#include "dwforward.h"

#include <stdatomic.h>

static _Atomic uint64_t numbered;   /* the last number given */
static _Atomic uint64_t done;       /* every write <= done ended */
static atomic_uchar ended[DWFORWARD_RING];

uint64_t dwforward_begin(void)
{
	if (atomic_load(&numbered) - atomic_load(&done) >= DWFORWARD_RING - DWFORWARD_MARGIN)
		return 0;
	return atomic_fetch_add(&numbered, 1) + 1;
}

void dwforward_end(uint64_t n)
{
	if (n == 0)
		return;
	atomic_store(&ended[n % DWFORWARD_RING], 1);
	uint64_t d = atomic_load(&done);
	while (atomic_load(&ended[(d + 1) % DWFORWARD_RING])) {
		if (atomic_compare_exchange_strong(&done, &d, d + 1)) {
			atomic_store(&ended[(d + 1) % DWFORWARD_RING], 0);
			d++;
		}
	}
}

uint64_t dwforward_count(void)
{
	return atomic_load(&numbered);
}

bool dwforward_replied(uint64_t n)
{
	return atomic_load(&done) >= n;
}
