/*
 * dwforward.h - captured writes forwarded to MongoDB and not yet answered.
 *
 * A shadow read compares MongoDB's answer with PostgreSQL only once every
 * write that answer may hold is in PostgreSQL.  A write MongoDB applied
 * before the read ran may reply after the read does (another connection, a
 * busy worker); it is still in flight when the read's reply arrives.  So
 * each captured write gets a number when it is forwarded, and ends when its
 * reply is handed to the applier (or when none will come):
 *
 *   worker, request:  n = dwforward_begin()        (dwcapture_request)
 *   worker, reply:    dwforward_end(n)             (dualwrite_submit / dwjob_free)
 *   shadow, reply:    f = dwforward_count()        every write <= f may be in the answer
 *   shadow runner:    wait for dwforward_replied(f), then for the dual-write
 *                     watermark of what was submitted by then
 *
 * A ring of DWFORWARD_RING done flags and a watermark, no lock.  A write
 * forwarded while DWFORWARD_RING - DWFORWARD_MARGIN others are in flight
 * is not numbered (0): it cannot hold the watermark back, and shadow reads
 * racing it may compare two moments (never reached with bounded
 * connections: each has at most a few requests in flight).
 */
#ifndef TANDEM_DWFORWARD_H
#define TANDEM_DWFORWARD_H

#include <stdbool.h>
#include <stdint.h>

#define DWFORWARD_RING (1u << 20)
#define DWFORWARD_MARGIN 4096u

/* A captured write is about to be forwarded: its number (0: not tracked). */
uint64_t dwforward_begin(void);

/* Write n (from dwforward_begin; 0 is ignored) has its reply, or never will. */
void dwforward_end(uint64_t n);

/* Writes numbered so far. */
uint64_t dwforward_count(void);

/* Whether every write numbered <= n has ended. */
bool dwforward_replied(uint64_t n);

#endif
