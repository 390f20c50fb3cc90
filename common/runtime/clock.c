/*
 * clock.c - wall and monotonic clock readings (see clock.h).
 */
#include "clock.h"

static struct timespec clock_read(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts;
}

uint64_t clock_wall_ns(void)
{
	struct timespec ts = clock_read(CLOCK_REALTIME);

	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t clock_wall_ms(void)
{
	struct timespec ts = clock_read(CLOCK_REALTIME);

	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t clock_mono_us(void)
{
	struct timespec ts = clock_read(CLOCK_MONOTONIC);

	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t clock_mono_ms(void)
{
	struct timespec ts = clock_read(CLOCK_MONOTONIC);

	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct timespec clock_wall_after(uint64_t ms)
{
	struct timespec ts = clock_read(CLOCK_REALTIME);

	ts.tv_sec += (time_t)(ms / 1000u);
	ts.tv_nsec += (long)(ms % 1000u) * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	return ts;
}
