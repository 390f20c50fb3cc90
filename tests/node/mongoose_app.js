#!/usr/bin/env node
/*
 * mongoose_app.js - a small Mongoose application (users, products, orders)
 * that tandem's integration tests run through the proxy (issue 10: an ODM
 * sends shapes hand-written tests do not).
 *
 *   node mongoose_app.js URI --db NAME [--seed N] [--users N] [--products N]
 *                            [--orders N] [--rounds N] [--batch N] [--timeout-ms N] [--trace]
 *                            [--settle-ms N]
 *
 * Schemas with validation and timestamps; User {email (unique index), name,
 * age, tags[], address{city, zip}, score}, Product {sku (unique), price
 * (doubles), stock, category, ratings[]}, Order {user ref, items [{product ref,
 * qty, price}], total (a double sum), status}.  What it does, all of it
 * deterministic for a seed (mulberry32) and bounded in count and time:
 *
 *   Model.init() (createCollection + createIndexes), save() / create() /
 *   insertMany(), client-side validation errors, a duplicate email (E11000),
 *   then --rounds random steps of: findOne + save (read-then-write, __v),
 *   populate, findOneAndUpdate, updateMany, bulkWrite, subdocument array
 *   pull + save (versioned), a VersionError from two copies of one order,
 *   cursor() over several batches (batchSize --batch, getMores counted with
 *   command monitoring), countDocuments, estimatedDocumentCount, distinct,
 *   aggregate $unwind/$group ($sum of doubles), sort/skip/limit pagination,
 *   updateOne, deleteOne, projections.  A final pass checks the application's
 *   own invariants (every order's total is the sum of its items, cursor and
 *   pages see every document once).
 *
 * Output: one JSON line on stdout {ok, seed, db, ops, getMores, counts, ...}.
 * Exit 0 only when everything worked; 1 on any error or failed check (the
 * line then has ok:false and "error"); 3 when --timeout-ms (default 120 s)
 * runs out.  The database is left in place: the caller compares it.  --trace
 * prints every command and reply on stderr.  --settle-ms N waits N ms after
 * every read (query and aggregate post hooks), so that a shadow read is done
 * before the application's next write: it tells races from real differences.
 */
'use strict';

const mongoose = require('mongoose');
const { Schema } = mongoose;

function parseArgs(argv) {
	const o = { uri: null, db: 'tandem_mongoose', seed: 1, users: 24, products: 14, orders: 36, rounds: 120,
		batch: 4, timeoutMs: 120000, trace: false, settleMs: 0 };
	const ints = { '--seed': 'seed', '--users': 'users', '--products': 'products', '--orders': 'orders',
		'--rounds': 'rounds', '--batch': 'batch', '--timeout-ms': 'timeoutMs', '--settle-ms': 'settleMs' };
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		if (a === '--db') o.db = argv[++i];
		else if (a === '--trace') o.trace = true;
		else if (ints[a]) {
			o[ints[a]] = parseInt(argv[++i], 10);
			if (!Number.isFinite(o[ints[a]]) || o[ints[a]] < 0) throw new Error('bad value for ' + a);
		} else if (o.uri === null) o.uri = a;
		else throw new Error('unexpected argument ' + a);
	}
	if (!o.uri) throw new Error('usage: mongoose_app.js URI --db NAME [--seed N] [--rounds N] ...');
	o.users = Math.max(o.users, 4);
	o.products = Math.max(o.products, 4);
	o.batch = Math.max(o.batch, 1);
	return o;
}

/* mulberry32: a small seeded PRNG, so a seed reproduces a run. */
function rng(seed) {
	let a = (seed >>> 0) ^ 0x9e3779b9;
	const next = () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
	return {
		next,
		int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
		pick: (arr) => arr[Math.floor(next() * arr.length)],
		sample: (arr, n) => {
			const c = arr.slice();
			const out = [];
			while (out.length < n && c.length) out.push(c.splice(Math.floor(next() * c.length), 1)[0]);
			return out;
		},
	};
}

function check(cond, what, got) {
	if (!cond) throw new Error('check failed: ' + what + (got === undefined ? '' : ' (got ' + JSON.stringify(got) + ')'));
}

const CITIES = ['Lyon', 'Porto', 'Gent', 'Turku', 'Brno', 'Cork', 'Bergen', 'Graz'];
const TAGS = ['new', 'vip', 'beta', 'churn-risk', 'newsletter', 'b2b', 'mobile'];
const CATEGORIES = ['book', 'tool', 'food', 'toy', 'music'];
const STATUSES = ['new', 'paid', 'shipped', 'cancelled'];
/* Prices with cents: sums of these doubles are not exact in binary. */
const PRICES = [0.1, 0.2, 0.3, 1.1, 2.35, 9.99, 19.99, 4.15, 0.7, 33.33, 12.5, 7.05];

function schemas() {
	const Address = new Schema({
		city: { type: String, required: true, trim: true, enum: CITIES },
		zip: { type: String, match: /^[0-9]{5}$/ },
	}, { _id: false });
	const User = new Schema({
		email: { type: String, required: true, unique: true, lowercase: true, trim: true, match: /^[^@\s]+@[^@\s]+$/ },
		name: { type: String, required: true, minlength: 2, maxlength: 60 },
		age: { type: Number, min: 0, max: 150, validate: { validator: Number.isInteger, message: 'age must be an integer' } },
		tags: [{ type: String, maxlength: 20 }],
		address: Address,
		score: { type: Number, default: 0 },
		active: { type: Boolean, default: true },
	}, { timestamps: true });
	const Product = new Schema({
		sku: { type: String, required: true, unique: true, match: /^P-[0-9]+$/ },
		name: { type: String, required: true },
		price: { type: Number, required: true, min: 0 },
		stock: { type: Number, min: 0, default: 0 },
		category: { type: String, enum: CATEGORIES, required: true },
		ratings: [Number],
	}, { timestamps: true });
	const Item = new Schema({
		product: { type: Schema.Types.ObjectId, ref: 'Product', required: true },
		qty: { type: Number, required: true, min: 1, max: 50 },
		price: { type: Number, required: true, min: 0 },
	});
	const Order = new Schema({
		user: { type: Schema.Types.ObjectId, ref: 'User', required: true, index: true },
		items: { type: [Item], validate: { validator: (v) => v.length > 0, message: 'an order has items' } },
		total: { type: Number, min: 0 },
		status: { type: String, enum: STATUSES, default: 'new' },
		note: String,
	}, { timestamps: true });
	Order.pre('validate', function () {
		this.total = sumItems(this.items);
	});
	return { User, Product, Order };
}

/* The order total as the application computes it: a double sum in item order. */
function sumItems(items) {
	let t = 0;
	for (const it of items) t += it.qty * it.price;
	return t;
}

async function expectError(p, pred, what) {
	try {
		await p;
	} catch (e) {
		check(pred(e), what + ': unexpected error ' + (e && e.name) + ' ' + (e && e.code) + ' ' + (e && e.message));
		return e;
	}
	throw new Error('check failed: ' + what + ' did not fail');
}

async function run(o, conn, res, count) {
	const r = rng(o.seed);
	const s = schemas();
	if (o.settleMs > 0) {
		const settle = () => new Promise((done) => setTimeout(done, o.settleMs));
		for (const sch of Object.values(s)) {
			sch.post(['find', 'findOne', 'countDocuments', 'estimatedDocumentCount', 'distinct'], settle);
			sch.post('aggregate', settle);
		}
	}
	const User = conn.model('User', s.User);
	const Product = conn.model('Product', s.Product);
	const Order = conn.model('Order', s.Order);
	const step = (name) => { res.ops[name] = (res.ops[name] || 0) + 1; };

	await User.init();
	await Product.init();
	await Order.init();
	const idx = await User.listIndexes();
	check(idx.some((i) => i.key && i.key.email === 1 && i.unique), 'unique email index', idx);

	// ---- seed data: save(), create(), insertMany()
	const users = [];
	for (let i = 0; i < o.users; i++) {
		const doc = {
			email: ' User' + i + '.S' + o.seed + '@Example.org ',
			name: 'user ' + i,
			age: r.int(18, 80),
			tags: r.sample(TAGS, r.int(0, 3)),
			address: r.next() < 0.8 ? { city: r.pick(CITIES), zip: String(r.int(10000, 99999)) } : undefined,
			score: r.int(0, 1000) / 8,
		};
		if (i % 3 === 0) users.push(await new User(doc).save());
		else if (i % 3 === 1) users.push(await User.create(doc));
		else users.push(...await User.insertMany([doc]));
		step('user.insert');
	}
	check(users[0].email === 'user0.s' + o.seed + '@example.org', 'lowercase/trim setters', users[0].email);
	check(users[0].__v === 0 && users[0].createdAt instanceof Date, 'versionKey and timestamps', users[0]);

	// client-side validation: nothing reaches the server
	await expectError(new User({ email: 'not-an-email', name: 'x', age: 1.5 }).validate(),
		(e) => e.name === 'ValidationError' && e.errors.email && e.errors.name && e.errors.age, 'validation');
	await expectError(Product.create({ sku: 'bad', name: 'n', price: -1, category: 'cars' }),
		(e) => e.name === 'ValidationError', 'product validation');
	// server-side: the unique index
	await expectError(User.create({ email: users[1].email, name: 'dup' }), (e) => e.code === 11000, 'duplicate email');
	step('validation');

	const products = await Product.insertMany(Array.from({ length: o.products }, (_, i) => ({
		sku: 'P-' + (1000 + i), name: 'product ' + i, price: r.pick(PRICES), stock: r.int(0, 500),
		category: r.pick(CATEGORIES), ratings: Array.from({ length: r.int(0, 4) }, () => r.int(1, 5)),
	})));
	step('product.insertMany');

	const newOrder = async () => {
		const u = r.pick(users);
		const items = r.sample(products, r.int(1, 4)).map((p) => ({ product: p._id, qty: r.int(1, 7), price: p.price }));
		const ord = new Order({ user: u._id, items, status: r.pick(STATUSES), note: r.next() < 0.3 ? 'gift' : undefined });
		await ord.save();
		check(ord.total === sumItems(items), 'pre(validate) total', ord.total);
		return ord;
	};
	const orderIds = [];
	for (let i = 0; i < o.orders; i++) {
		orderIds.push((await newOrder())._id);
		step('order.save');
	}

	let skuNext = 5000;
	const deadline = Date.now() + o.timeoutMs * 0.8;
	for (let round = 0; round < o.rounds && Date.now() < deadline; round++) {
		const k = r.int(0, 16);
		if (k === 0) {
			// read-then-write: findOne, change, save (one $set/$push, __v where needed)
			const u = await User.findOne({ email: r.pick(users).email });
			check(u !== null, 'findOne by email');
			u.age = Math.min(150, u.age + 1);
			u.tags.push(r.pick(TAGS));
			u.score = u.score + 0.1;
			if (r.next() < 0.5) u.address = { city: r.pick(CITIES), zip: String(r.int(10000, 99999)) };
			await u.save();
			step('findOne+save');
		} else if (k === 1) {
			const ord = await Order.findById(r.pick(orderIds)).populate('user').populate('items.product');
			if (ord) {
				check(ord.user === null || typeof ord.user.email === 'string', 'populated user', ord.user);
				for (const it of ord.items) check(it.product === null || typeof it.product.sku === 'string', 'populated product');
			}
			step('populate');
		} else if (k === 2) {
			const u = r.pick(users);
			const after = await User.findOneAndUpdate({ email: u.email }, { $inc: { age: 1 }, $addToSet: { tags: 'vip' } },
				{ new: true, runValidators: true });
			check(after && after.tags.includes('vip'), 'findOneAndUpdate returns the new document', after);
			step('findOneAndUpdate');
		} else if (k === 3) {
			const cat = r.pick(CATEGORIES);
			const res2 = await Product.updateMany({ category: cat, stock: { $gt: 0 } },
				{ $inc: { stock: -1, price: 0.05 } });
			check(res2.acknowledged && res2.matchedCount >= res2.modifiedCount, 'updateMany', res2);
			step('updateMany');
		} else if (k === 4) {
			const a = r.pick(products);
			const sku = 'P-' + (skuNext++);
			const bw = await Product.bulkWrite([
				{ insertOne: { document: { sku, name: 'bulk ' + sku, price: r.pick(PRICES), stock: 3, category: r.pick(CATEGORIES) } } },
				{ updateOne: { filter: { _id: a._id }, update: { $push: { ratings: r.int(1, 5) } } } },
				{ updateMany: { filter: { category: a.category }, update: { $set: { name: 'cat ' + a.category } } } },
				{ deleteOne: { filter: { sku: 'P-' + (skuNext - 3) } } },
			], { ordered: true });
			check(bw.insertedCount === 1 && bw.matchedCount >= 1, 'bulkWrite', bw);
			step('bulkWrite');
		} else if (k === 5) {
			// subdocument array pull + save: versioned ({_id, __v} filter, $inc __v)
			const ord = await Order.findById(r.pick(orderIds));
			if (ord && ord.items.length > 1) {
				const v = ord.__v;
				ord.items.pull(ord.items[0]._id);
				await ord.save();
				check(ord.__v === v + 1, '__v incremented by pull+save', ord.__v);
				const again = await Order.findById(ord._id).lean();
				check(again.__v === v + 1 && again.items.length === ord.items.length && again.total === sumItems(again.items),
					'pull persisted', again);
			}
			step('pull+save');
		} else if (k === 6) {
			// two copies of one order: c1's pull bumps __v ($inc), so c2's
			// positional change ({_id, __v} filter, $set items.N.qty) loses
			const id = r.pick(orderIds);
			const c1 = await Order.findById(id);
			const c2 = await Order.findById(id);
			if (c1 && c1.items.length > 2) {
				c1.items.pull(c1.items[c1.items.length - 1]._id);
				await c1.save();
				c2.items[0].qty = Math.min(50, c2.items[0].qty + 1);
				await expectError(c2.save(), (e) => e.name === 'VersionError', 'stale save');
				step('versionError');
			}
		} else if (k === 7) {
			// cursor over several batches
			let n = 0, last = null;
			const cur = Order.find({}).sort({ _id: 1 }).batchSize(o.batch).cursor();
			for await (const d of cur) {
				check(last === null || String(d._id) > last, 'cursor order');
				last = String(d._id);
				n++;
			}
			const all = await Order.countDocuments({});
			check(n === all, 'cursor saw every order', [n, all]);
			step('cursor');
		} else if (k === 8) {
			const st = r.pick(STATUSES);
			const c = await Order.countDocuments({ status: st });
			const e = await Order.estimatedDocumentCount();
			const vip = await User.countDocuments({ tags: 'vip', age: { $gte: 30 } });
			check(c <= e && vip <= users.length, 'counts', [c, e, vip]);
			step('count');
		} else if (k === 9) {
			const tags = await User.distinct('tags');
			const cities = await User.distinct('address.city', { active: true });
			const cats = await Product.distinct('category', { price: { $lt: 10 } });
			check(Array.isArray(tags) && cities.every((c) => CITIES.includes(c)) && Array.isArray(cats), 'distinct');
			step('distinct');
		} else if (k === 10) {
			const perUser = await Order.aggregate([
				{ $match: { status: { $ne: 'cancelled' } } },
				{ $unwind: '$items' },
				{ $group: { _id: '$user', spent: { $sum: { $multiply: ['$items.qty', '$items.price'] } }, units: { $sum: '$items.qty' } } },
				{ $sort: { _id: 1 } },
			]);
			const byStatus = await Order.aggregate([
				{ $group: { _id: '$status', total: { $sum: '$total' }, n: { $sum: 1 }, avg: { $avg: '$total' } } },
				{ $sort: { _id: 1 } },
			]);
			const byProduct = await Order.aggregate([
				{ $unwind: '$items' },
				{ $group: { _id: '$items.product', qty: { $sum: '$items.qty' }, revenue: { $sum: { $multiply: ['$items.qty', '$items.price'] } } } },
				{ $sort: { revenue: -1, _id: 1 } },
				{ $limit: 5 },
			]);
			const n = byStatus.reduce((a, b) => a + b.n, 0);
			check(n === await Order.countDocuments({}) && perUser.every((x) => x.spent >= 0) && byProduct.length <= 5,
				'aggregate', [n, perUser.length]);
			step('aggregate');
		} else if (k === 11) {
			// pagination: sort/skip/limit pages cover every active user once
			const size = r.int(3, 7);
			const seen = new Set();
			const total = await User.countDocuments({ active: true });
			for (let p = 0; p * size < total && p < 50; p++) {
				const page = await User.find({ active: true }).sort({ age: 1, _id: 1 }).skip(p * size).limit(size).lean();
				for (const u of page) seen.add(String(u._id));
			}
			check(seen.size === total, 'pages', [seen.size, total]);
			step('paginate');
		} else if (k === 12) {
			const id = r.pick(orderIds);
			const res2 = await Order.updateOne({ _id: id, status: 'new' }, { $set: { status: 'paid' } });
			check(res2.acknowledged, 'updateOne');
			step('updateOne');
		} else if (k === 13 && orderIds.length > 4) {
			const id = orderIds.splice(r.int(0, orderIds.length - 1), 1)[0];
			const d = await Order.deleteOne({ _id: id });
			check(d.deletedCount === 1, 'deleteOne', d);
			step('deleteOne');
		} else if (k === 14) {
			const list = await User.find({ tags: r.pick(TAGS) }).select('email name -_id').sort({ email: 1 }).lean();
			check(list.every((u) => u._id === undefined && typeof u.email === 'string'), 'projection');
			const mine = await Order.find({ user: r.pick(users)._id }).sort({ createdAt: -1, _id: 1 }).limit(3).lean();
			check(mine.length <= 3, 'orders of a user');
			step('find');
		} else if (k === 15) {
			orderIds.push((await newOrder())._id);
			step('order.save');
		} else {
			// read-then-write on an order: change an item's quantity and save
			const ord = await Order.findById(r.pick(orderIds));
			if (ord) {
				const it = r.pick(ord.items);
				it.qty = Math.min(50, it.qty + 1);
				await ord.save();
				const back = await Order.findById(ord._id).lean();
				check(back.total === sumItems(back.items), 'total after item change', back);
			}
			step('order.findById+save');
		}
	}

	// ---- final pass: the application's invariants
	for await (const ord of Order.find({}).batchSize(o.batch).lean().cursor()) {
		check(ord.total === sumItems(ord.items), 'stored total', ord);
	}
	res.counts = {
		users: await User.countDocuments({}),
		products: await Product.countDocuments({}),
		orders: await Order.countDocuments({}),
	};
	check(res.counts.orders === orderIds.length, 'orders counted', [res.counts.orders, orderIds.length]);
	res.getMores = count.getMore || 0;
	check(res.getMores >= 2, 'cursors crossed batches', res.getMores);
}

async function main() {
	const res = { ok: false, seed: null, db: null, ops: {}, getMores: 0 };
	let conn = null;
	let o;
	try {
		o = parseArgs(process.argv.slice(2));
	} catch (e) {
		console.log(JSON.stringify({ ok: false, error: String(e.message || e) }));
		process.exit(1);
	}
	res.seed = o.seed;
	res.db = o.db;
	const started = Date.now();
	const watchdog = setTimeout(() => {
		res.error = 'timeout after ' + o.timeoutMs + ' ms';
		res.elapsedMs = Date.now() - started;
		console.log(JSON.stringify(res));
		process.exit(3);
	}, o.timeoutMs);
	const count = {};
	try {
		mongoose.set('strictQuery', true);
		conn = mongoose.createConnection(o.uri, { dbName: o.db, serverSelectionTimeoutMS: 10000,
			monitorCommands: true, maxPoolSize: 4, autoIndex: true, autoCreate: true });
		conn.on('error', () => {});
		await conn.asPromise();
		conn.getClient().on('commandStarted', (ev) => {
			count[ev.commandName] = (count[ev.commandName] || 0) + 1;
			if (o.trace) process.stderr.write(JSON.stringify(ev.command) + '\n');
		});
		if (o.trace) conn.getClient().on('commandSucceeded', (ev) => process.stderr.write('  -> ' + JSON.stringify(ev.reply) + '\n'));
		await run(o, conn, res, count);
		res.ok = true;
	} catch (e) {
		res.error = (e && (e.stack || e.message)) ? String(e.stack || e.message) : String(e);
		if (e && e.code !== undefined) res.code = e.code;
	}
	res.commands = count;
	res.elapsedMs = Date.now() - started;
	try {
		if (conn) await conn.close();
	} catch (e) { /* already reported */ }
	clearTimeout(watchdog);
	console.log(JSON.stringify(res));
	process.exit(res.ok ? 0 : 1);
}

main();
