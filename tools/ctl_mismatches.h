/*
 * ctl_mismatches.h - `tandemctl mismatches TENANT`: print the last shadow
 * mismatches kept for a tenant in Redis (tandem:mismatches:<TENANT>).
 */
#ifndef TANDEM_CTL_MISMATCHES_H
#define TANDEM_CTL_MISMATCHES_H

/* The Redis list the shadow runner LPUSHes (and LTRIMs) one JSON line to
 * per mismatch; index 0 is the newest. */
#define CTL_MISMATCHES_KEY_PREFIX "tandem:mismatches:"

/* argv[0] is "mismatches".  Returns the process exit code. */
int ctl_mismatches(int argc, char **argv);

#endif
