/*
 * hello.h - keep drivers on tandem: rewrite what the upstream's
 * hello/isMaster reply says about the replica set.
 *
 * A driver given a replica-set URI connects to every host that hello lists.
 * Through tandem it must only ever see tandem, so in a reply that describes
 * a replica set member:
 *
 *   hosts     -> [advertise]          passives, arbiters -> removed
 *   me        -> advertise            primary -> advertise (if the member is
 *                                                the writable primary; else removed)
 *
 * Everything else (setName, setVersion, electionId, maxWireVersion,
 * topologyVersion, $clusterTime...) is kept as the upstream sent it, in its
 * order.  A standalone or mongos reply has none of these fields and is left
 * alone.
 */
#ifndef TANDEM_HELLO_H
#define TANDEM_HELLO_H

#include <bson/bson.h>
#include <stdbool.h>

/* True for "hello", "isMaster" and "ismaster". */
bool hello_is_hello(const char *command);

/*
 * Rewrite reply into out (initialised here) for a client of tandem reachable
 * at advertise ("host:port").  Returns true when out holds a rewritten reply,
 * false when the reply needs no change (out is then left uninitialised).
 */
bool hello_rewrite(const bson_t *reply, const char *advertise, bson_t *out)
	__attribute__((warn_unused_result));

#endif
