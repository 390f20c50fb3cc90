/*
 * ctl_flags.h - `tandemctl mode TENANT MODE` and `tandemctl flags TENANT`:
 * set a tenant's write mode in Redis (HSET + PUBLISH tandem:flags) and print
 * the effective flags with where each field comes from.
 */
#ifndef TANDEM_CTL_FLAGS_H
#define TANDEM_CTL_FLAGS_H

/* argv[0] is "mode" or "flags".  Returns the process exit code. */
int ctl_flags(int argc, char **argv);

#endif
