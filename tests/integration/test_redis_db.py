"""One Redis URL for every Redis user of tandem (issue 9).

`redis: redis://HOST:PORT/2` must put everything in database 2: the flags
are read there, and the writes PostgreSQL could not take queue there
(tandem:queue:<tenant>), not in database 0 where the durable queue used to
land.  A URL with a password AUTHs on every connection (tandem's flag cache
and tandemctl alike).

Uses the shared reference upstream and Redis (conftest.py); the test that
stops PostgreSQL starts its own, the AUTH test its own redis-server.
"""

import re
import subprocess

import pymongo

import dualwrite_helpers as dw
import servers


def _db_url(url, db):
	return re.sub(r"/\d*$", "", url) + "/%d" % db


def _metric(t, name):
	return dw.metrics_values(t.metrics()).get(name, 0)


def test_flags_and_durable_queue_use_the_urls_database(start_tandem, upstream, redis, dbname, tmp_path):
	"""Flags HSET in db 2 switch the tenant to dual_write; with PostgreSQL
	down its writes queue in db 2 and nothing of it appears in db 0."""
	url0, url2 = _db_url(redis.url, 0), _db_url(redis.url, 2)
	key = "tandem:queue:%s" % dbname
	for url in (url0, url2):
		dw.redis_command(url, "DEL", key, key + ":processing", "tandem:tenant:%s" % dbname)
	own_pg = servers.Postgres()
	try:
		t = dw.start_mode(start_tandem, upstream.uri, "mongo_only", own_pg.dsn, url2,
			dualwrite={"spool_path": str(tmp_path / "db2.spool")})
		c = pymongo.MongoClient(t.uri, serverSelectionTimeoutMS=10000)[dbname].queued
		c.find_one({})   # the tenant's first request registers it in the flag cache
		dw.set_tenant_mode(url2, dbname, "dual_write")   # only db 2 says dual_write; waits 1.1 s
		assert _metric(t, "tandem_flags_redis_connected") == 1
		assert _metric(t, "tandem_flags_refreshes_total") > 0
		dw.pg_stop(own_pg)
		c.insert_many([{"_id": i, "v": i} for i in range(20)])
		servers.wait_until(lambda: _metric(t, "tandem_dualwrite_queued_total") >= 20, timeout=30,
			what="the writes to queue (the tenant's dual_write flag comes from db 2)")
		depth2 = dw.redis_command(url2, "LLEN", key) + dw.redis_command(url2, "LLEN", key + ":processing")
		assert depth2 >= 20, "the queue is not in the URL's database 2"
		assert dw.redis_command(url0, "EXISTS", key, key + ":processing") == 0, "queued in database 0"
		assert dw.redis_command(url0, "EXISTS", "tandem:tenant:%s" % dbname) == 0
		assert _metric(t, "tandem_dualwrite_spooled_total") == 0, "Redis was up: nothing spooled"
	finally:
		own_pg.stop()


def test_a_password_in_the_url_is_sent_with_auth(start_tandem, upstream, tandem_bin, dbname, tmp_path):
	"""redis://:PASSWORD@HOST:PORT/3: tandem's flag cache connects (it
	would be refused without AUTH) and tandemctl writes db 3; a wrong
	password is an error that does not print the password."""
	port = servers.free_port()
	proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", str(tmp_path), "--requirepass", "s3cret"],
		stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=servers._die_with_parent)
	try:
		url = "redis://:s3cret@127.0.0.1:%d/3" % port
		servers.wait_until(lambda: _pong(url), what="redis-server with a password")
		ctl = dw.tandemctl_path(tandem_bin)
		r = subprocess.run([ctl, "mode", dbname, "dual_write", "--redis", url], stdout=subprocess.PIPE,
			stderr=subprocess.PIPE, timeout=30)
		assert r.returncode == 0, r.stderr
		assert dw.redis_command(url, "HGET", "tandem:tenant:%s" % dbname, "write_mode") == b"dual_write"
		assert dw.redis_command(_db_url(url, 0), "EXISTS", "tandem:tenant:%s" % dbname) == 0

		bad = subprocess.run([ctl, "flags", dbname, "--redis", url.replace("s3cret", "wrong")],
			stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
		assert bad.returncode == 1 and b"refused AUTH" in bad.stderr, bad.stderr
		assert b"wrong" not in bad.stderr and b":***@" in bad.stderr, bad.stderr

		t = start_tandem(upstream.uri, redis=url)
		servers.wait_until(lambda: _metric(t, "tandem_flags_refreshes_total") > 0, timeout=10,
			what="a flag refresh through AUTH")
		assert _metric(t, "tandem_flags_redis_connected") == 1
		assert "s3cret" not in t.log_text()
	finally:
		servers.stop_process(proc)


def _pong(url):
	try:
		return dw.redis_command(url, "PING") == "PONG"
	except OSError:
		return False


def test_a_bad_redis_url_stops_tandem_at_once(tandem_bin, tmp_path):
	"""The URL is checked when the config is read: one line naming the key,
	exit code 2, before anything starts (no log line before it)."""
	for url, why in (("redis://127.0.0.1:6379/abc", "database 'abc'"), ("redis://[::1:6379", "unterminated '['"),
			("127.0.0.1:6379", "expected redis://")):
		r = subprocess.run([tandem_bin, "--mongo-uri", "mongodb://127.0.0.1:1", "--redis", url],
			stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, cwd=str(tmp_path))
		err = r.stderr.decode()
		assert r.returncode == 2, err
		assert err.count("\n") == 1 and "key 'redis'" in err and why in err, err
