/*
 * ctl_dump.h - `tandemctl dump`: print the documents PostgreSQL holds for a
 * tenant's collection (and, hidden, `--load FILE` to store documents).
 */
#ifndef TANDEM_CTL_DUMP_H
#define TANDEM_CTL_DUMP_H

/* argv[0] is "dump".  Returns the process exit code. */
int ctl_dump(int argc, char **argv);

#endif
