/*
 * ctl_schema.h - `tandemctl schema`: print (or apply) the PostgreSQL DDL
 * that a mapping file describes.
 */
#ifndef TANDEM_CTL_SCHEMA_H
#define TANDEM_CTL_SCHEMA_H

/* argv[0] is "schema".  Returns the process exit code. */
int ctl_schema(int argc, char **argv);

#endif
