/*
 * ctl_flags.h - `tandemctl mode TENANT MODE`, `shift TENANT PCT`, `shadow
 * TENANT PCT` and `flags TENANT`: set a tenant's write_mode, read_pct or
 * shadow_pct in Redis (HSET + PUBLISH tandem:flags, old and new value
 * printed) and print the effective flags with where each field comes from.
 */
#ifndef TANDEM_CTL_FLAGS_H
#define TANDEM_CTL_FLAGS_H

/* argv[0] is "mode", "shift", "shadow" or "flags".  Returns the process exit code. */
int ctl_flags(int argc, char **argv);

#endif
