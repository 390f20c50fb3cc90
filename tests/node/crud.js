#!/usr/bin/env node
/*
 * crud.js - a Node.js `mongodb` driver client that tandem's integration
 * tests run through the proxy and against the upstream directly.
 *
 *   node crud.js URI [--db NAME] [--rs] [--batch N] [--docs N]
 *
 * It runs, on a fresh database NAME (dropped at the start and at the end):
 * CRUD (insertOne/insertMany/find/updateOne/upsert/replaceOne/deleteOne/
 * deleteMany/findOneAndUpdate, a duplicate-key write error), a cursor across
 * getMore batches (batchSize N, getMore commands counted with command
 * monitoring), countDocuments, distinct, aggregate, an explicit session, and
 * with --rs a committed and an aborted multi-document transaction.
 *
 * Output: exactly one JSON line on stdout.  "result" holds only values that
 * must be equal whatever the path (direct or through tandem), so a test can
 * compare two runs; "servers" and "topologyType" describe what the driver
 * discovered.  Exit code 0 only when every check passed; 1 on a failed check
 * or an error (the line then has ok:false and "error"); 3 on the watchdog.
 */
'use strict';

const { MongoClient } = require('mongodb');

function parseArgs(argv) {
	const opts = { uri: null, db: 'tandem_node', rs: false, batch: 5, docs: 23 };
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		if (a === '--rs') opts.rs = true;
		else if (a === '--db') opts.db = argv[++i];
		else if (a === '--batch') opts.batch = parseInt(argv[++i], 10);
		else if (a === '--docs') opts.docs = parseInt(argv[++i], 10);
		else if (opts.uri === null) opts.uri = a;
		else throw new Error('unexpected argument ' + a);
	}
	if (!opts.uri) throw new Error('usage: crud.js URI [--db NAME] [--rs] [--batch N] [--docs N]');
	return opts;
}

function check(cond, what, got) {
	if (!cond) throw new Error('check failed: ' + what + (got === undefined ? '' : ' (got ' + JSON.stringify(got) + ')'));
}

/* Plain JSON of documents, keys in server order, for comparison between runs. */
function plain(x) {
	return JSON.parse(JSON.stringify(x));
}

async function runCrud(db, result) {
	const c = db.collection('people');
	const one = await c.insertOne({ _id: 1, name: 'ada', age: 36, tags: ['math', 'code'] });
	check(one.acknowledged && one.insertedId === 1, 'insertOne acknowledged', one);
	const many = await c.insertMany([
		{ _id: 2, name: 'bob', age: 25, tags: ['ops'] },
		{ _id: 3, name: 'cy', age: 41, tags: ['code'] },
		{ _id: 4, name: 'dee', age: 25, tags: [] },
	]);
	check(many.insertedCount === 3, 'insertMany count', many.insertedCount);

	const found = await c.find({ age: { $gte: 30 } }).sort({ _id: 1 }).toArray();
	check(found.length === 2 && found[0].name === 'ada' && found[1].name === 'cy', 'find $gte', found);

	const upd = await c.updateOne({ _id: 2 }, { $set: { age: 26 }, $push: { tags: 'dba' } });
	check(upd.matchedCount === 1 && upd.modifiedCount === 1, 'updateOne', upd);
	const ups = await c.updateOne({ _id: 5 }, { $set: { name: 'eve', age: 30 } }, { upsert: true });
	check(ups.upsertedCount === 1 && ups.upsertedId === 5, 'upsert', ups);
	const rep = await c.replaceOne({ _id: 4 }, { name: 'dee', age: 52 });
	check(rep.modifiedCount === 1, 'replaceOne', rep);
	const fam = await c.findOneAndUpdate({ _id: 3 }, { $inc: { age: 1 } }, { returnDocument: 'after' });
	const famDoc = fam && fam.value !== undefined ? fam.value : fam;
	check(famDoc && famDoc.age === 42, 'findOneAndUpdate returns the new document', fam);

	let dupCode = null;
	try {
		await c.insertOne({ _id: 1, name: 'dup' });
	} catch (e) {
		dupCode = e.code;
	}
	check(dupCode === 11000, 'duplicate _id gives E11000', dupCode);

	const del = await c.deleteOne({ _id: 5 });
	check(del.deletedCount === 1, 'deleteOne', del);
	const all = await c.find({}).sort({ _id: 1 }).toArray();
	check(all.length === 4, 'four documents left', all.length);
	result.crud = plain(all);

	const delMany = await c.deleteMany({ age: { $lt: 40 } });
	check(delMany.deletedCount === 2, 'deleteMany', delMany);
	result.crudLeft = await c.countDocuments({});
}

async function runCursor(db, opts, result, getMores) {
	const c = db.collection('items');
	const docs = [];
	for (let i = 0; i < opts.docs; i++) docs.push({ _id: i, n: i, grp: i % 3, name: 'item' + i });
	await c.insertMany(docs);

	const before = getMores.count;
	const seen = [];
	for await (const d of c.find({}).sort({ _id: 1 }).batchSize(opts.batch)) seen.push(d._id);
	const used = getMores.count - before;
	check(seen.length === opts.docs, 'cursor returned every document', seen.length);
	check(seen.every((v, i) => v === i), 'cursor order', seen);
	/* The first batch comes with find; each further batch needs a getMore. */
	const minGetMores = Math.ceil(opts.docs / opts.batch) - 1;
	check(used >= minGetMores, 'cursor used at least ' + minGetMores + ' getMores', used);
	result.cursorDocs = seen.length;
	result.getMores = used;

	result.countDocuments = await c.countDocuments({ grp: 1 });
	check(result.countDocuments === docs.filter((d) => d.grp === 1).length, 'countDocuments', result.countDocuments);
	result.distinct = (await c.distinct('grp')).sort();
	check(JSON.stringify(result.distinct) === '[0,1,2]', 'distinct', result.distinct);
	result.aggregate = plain(await c.aggregate([
		{ $match: { n: { $gte: 3 } } },
		{ $group: { _id: '$grp', total: { $sum: '$n' }, count: { $sum: 1 } } },
		{ $sort: { _id: 1 } },
	]).toArray());
	check(result.aggregate.length === 3, 'aggregate groups', result.aggregate);
	const want0 = docs.filter((d) => d.n >= 3 && d.grp === 0).reduce((s, d) => s + d.n, 0);
	check(result.aggregate[0].total === want0, 'aggregate $sum', result.aggregate[0]);
}

async function runSession(client, db, result) {
	const c = db.collection('sess');
	const session = client.startSession();
	try {
		await c.insertOne({ _id: 's1', v: 1 }, { session });
		await c.updateOne({ _id: 's1' }, { $inc: { v: 1 } }, { session });
		const d = await c.findOne({ _id: 's1' }, { session });
		check(d && d.v === 2, 'read inside an explicit session', d);
		result.sessionDoc = plain(d);
	} finally {
		await session.endSession();
	}
}

async function runTransactions(client, db, result) {
	const c = db.collection('txn');
	await db.createCollection('txn').catch(() => {}); /* no implicit create inside a transaction on old servers */
	const session = client.startSession();
	try {
		session.startTransaction();
		await c.insertOne({ _id: 'committed-1', v: 1 }, { session });
		await c.insertOne({ _id: 'committed-2', v: 2 }, { session });
		await session.commitTransaction();

		session.startTransaction();
		await c.insertOne({ _id: 'aborted-1', v: 3 }, { session });
		await session.abortTransaction();
	} finally {
		await session.endSession();
	}
	const ids = (await c.find({}).sort({ _id: 1 }).toArray()).map((d) => d._id);
	check(ids.includes('committed-1') && ids.includes('committed-2'), 'committed transaction visible', ids);
	check(!ids.includes('aborted-1'), 'aborted transaction not visible', ids);
	result.txnIds = ids;
}

async function main() {
	const opts = parseArgs(process.argv.slice(2));
	const out = { ok: false, result: {}, servers: [], topologyType: null, commands: {} };
	const getMores = { count: 0 };
	/* Defaults for what the URI does not set (options given here would win over the URI). */
	const clientOpts = { monitorCommands: true };
	const defaults = { serverSelectionTimeoutMS: 10000, connectTimeoutMS: 5000, socketTimeoutMS: 20000 };
	for (const [k, v] of Object.entries(defaults))
		if (!new RegExp('[?&]' + k + '=', 'i').test(opts.uri)) clientOpts[k] = v;
	const client = new MongoClient(opts.uri, clientOpts);
	client.on('commandStarted', (ev) => {
		out.commands[ev.commandName] = (out.commands[ev.commandName] || 0) + 1;
		if (ev.commandName === 'getMore') getMores.count++;
	});
	try {
		await client.connect();
		const db = client.db(opts.db);
		await db.dropDatabase();
		await runCrud(db, out.result);
		await runCursor(db, opts, out.result, getMores);
		await runSession(client, db, out.result);
		if (opts.rs) await runTransactions(client, db, out.result);
		await db.dropDatabase();
		out.ok = true;
	} catch (e) {
		out.error = String((e && e.stack) || e);
	} finally {
		const desc = client.topology && client.topology.description;
		if (desc) {
			out.servers = Array.from(desc.servers.keys()).sort();
			out.topologyType = desc.type;
		}
		await client.close().catch(() => {});
	}
	process.stdout.write(JSON.stringify(out) + '\n');
	process.exit(out.ok ? 0 : 1);
}

/* Watchdog: a hung server must not hang the test. */
setTimeout(() => {
	process.stdout.write(JSON.stringify({ ok: false, error: 'watchdog: crud.js took longer than 90 s' }) + '\n');
	process.exit(3);
}, 90000).unref();

main().catch((e) => {
	process.stdout.write(JSON.stringify({ ok: false, error: String(e) }) + '\n');
	process.exit(1);
});
