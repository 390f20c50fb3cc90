/*
 * ctl_replay.h - `tandemctl replay`: apply the durable dual-write queue
 * (Redis lists and a local spool) to PostgreSQL.
 */
#ifndef TANDEM_CTL_REPLAY_H
#define TANDEM_CTL_REPLAY_H

/* argv[0] is "replay".  Returns the process exit code. */
int ctl_replay(int argc, char **argv);

#endif
