/*
 * clock.h - the process's two clocks, read one way everywhere.
 *
 *   wall  CLOCK_REALTIME since the Unix epoch (UTC): timestamps that leave
 *         the process (logs, queue entries, $currentDate, Redis fields) and
 *         deadlines for pthread_cond_timedwait.  It may jump.
 *   mono  CLOCK_MONOTONIC since an arbitrary start: durations, timeouts,
 *         retry and rate-limit intervals.  Never decreases; meaningless
 *         outside the process.
 *
 * Every function is thread-safe and cannot fail (clock_gettime with these
 * clocks has no failure mode on Linux).
 */
#ifndef TANDEM_CLOCK_H
#define TANDEM_CLOCK_H

#include <stdint.h>
#include <time.h>

uint64_t clock_wall_ns(void);
uint64_t clock_wall_ms(void);
uint64_t clock_mono_us(void);
uint64_t clock_mono_ms(void);

/* The wall-clock instant ms milliseconds from now, as the absolute
 * deadline pthread_cond_timedwait takes. */
struct timespec clock_wall_after(uint64_t ms);

#endif
