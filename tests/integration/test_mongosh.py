"""mongosh (npm, tests/node) through tandem.

`mongosh URI --quiet --eval SCRIPT` inserts, finds, aggregates and counts on a
fresh database and prints one JSON line; the test parses it, checks the
values, and compares the run through tandem with a run against the upstream
directly.  Skips when tests/node/node_modules is missing (`npm ci`).
"""
import json
import os
import subprocess
import tempfile
import uuid

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MONGOSH = os.path.join(ROOT, "tests", "node", "node_modules", ".bin", "mongosh")

SCRIPT = r"""
const d = db.getSiblingDB(%(db)s);
d.dropDatabase();
const ins = d.people.insertMany([
  {_id: 1, name: 'ada', age: 36, team: 'x'},
  {_id: 2, name: 'bob', age: 25, team: 'y'},
  {_id: 3, name: 'cy', age: 41, team: 'x'},
  {_id: 4, name: 'dee', age: 29, team: 'y'},
  {_id: 5, name: 'eve', age: 52, team: 'x'},
]);
const one = d.people.insertOne({_id: 6, name: 'fay', age: 33, team: 'z'});
const upd = d.people.updateOne({_id: 2}, {$inc: {age: 1}});
const found = d.people.find({age: {$gte: 30}}, {name: 1, _id: 0}).sort({name: 1}).toArray();
const agg = d.people.aggregate([
  {$group: {_id: '$team', n: {$sum: 1}, age: {$sum: '$age'}}},
  {$sort: {_id: 1}},
]).toArray();
const out = {
  inserted: Object.keys(ins.insertedIds).length + (one.acknowledged ? 1 : 0),
  modified: upd.modifiedCount,
  found: found.map(x => x.name),
  agg: agg,
  count: d.people.countDocuments({team: 'x'}),
  bob: d.people.findOne({_id: 2}).age,
};
d.dropDatabase();
print('RESULT ' + JSON.stringify(out));
"""


def run_mongosh(uri, timeout=120):
    if not os.path.exists(MONGOSH):
        pytest.fail("mongosh missing: run `npm ci` in tests/node")
    db = "tandem_sh_" + uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, HOME=home, MONGOSH_NO_UPDATE_CHECK="1", DO_NOT_TRACK="1")
        p = subprocess.run([MONGOSH, uri, "--quiet", "--norc", "--eval",
                            SCRIPT % {"db": json.dumps(db)}],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                           env=env, stdin=subprocess.DEVNULL)
    out = p.stdout.decode(errors="replace")
    lines = [l for l in out.splitlines() if l.startswith("RESULT ")]
    assert p.returncode == 0 and lines, "mongosh failed (rc %d): %s\n%s" % (
        p.returncode, out[-2000:], p.stderr.decode(errors="replace")[-2000:])
    return json.loads(lines[-1][len("RESULT "):])


def check_result(r):
    assert r["inserted"] == 6
    assert r["modified"] == 1
    assert r["found"] == ["ada", "cy", "eve", "fay"]
    assert r["agg"] == [{"_id": "x", "n": 3, "age": 129},
                        {"_id": "y", "n": 2, "age": 55},
                        {"_id": "z", "n": 1, "age": 33}]
    assert r["count"] == 3
    assert r["bob"] == 26


def test_mongosh_through_tandem(start_tandem, upstream):
    t = start_tandem(upstream.uri)
    proxied = run_mongosh(t.uri)
    check_result(proxied)
    direct = run_mongosh(upstream.uri)
    assert proxied == direct
    assert t.proc.poll() is None


def test_mongosh_server_error_reaches_the_shell(start_tandem, upstream):
    """An error from the upstream reaches mongosh through tandem (non-zero exit,
    the server's message): the harness can fail."""
    if not os.path.exists(MONGOSH):
        pytest.fail("mongosh missing: run `npm ci` in tests/node")
    t = start_tandem(upstream.uri)
    with tempfile.TemporaryDirectory() as home:
        p = subprocess.run([MONGOSH, t.uri, "--quiet", "--norc", "--eval",
                            "db.adminCommand({noSuchCommandTandem: 1})"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                           env=dict(os.environ, HOME=home), stdin=subprocess.DEVNULL)
    text = (p.stdout + p.stderr).decode(errors="replace")
    assert p.returncode != 0, text
    assert "no such command" in text.lower(), text
    assert t.proc.poll() is None
