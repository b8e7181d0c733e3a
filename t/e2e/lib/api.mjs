// t/e2e/lib/api.mjs: shared helpers for the black-box REST tests.
// Talks plain HTTP to the stack's nginx (env CHAT_URL). Each request
// carries an X-Forwarded-For address (nginx trusts it from 127.0.0.1
// through its realip module), fresh and random unless the caller pins
// one, so every test gets its own rate-limit bucket.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import { pngChunk, pngRgb } from './png.mjs';

export const BASE = (process.env.CHAT_URL || 'http://127.0.0.1:3000')
    .replace(/\/+$/, '');
export const JWT_SECRET = process.env.JWT_SECRET || '';
export const JWT_REFRESH_SECRET = process.env.JWT_REFRESH_SECRET || '';
export const ACCESS_TOKEN_TTL = Number(process.env.ACCESS_TOKEN_TTL || 900);
export const REFRESH_TOKEN_TTL =
    Number(process.env.REFRESH_TOKEN_TTL || 604800);

// "N/SECONDS" from env, the defaults of DESIGN otherwise.
function limit(name, def) {
	const m = /^(\d+)\/(\d+)$/.exec(process.env[name] || def);
	assert.ok(m, `${name} must read N/SECONDS`);
	return { n: Number(m[1]), window: Number(m[2]) };
}
export const LIMIT_DEFAULT = limit('RATE_LIMIT_DEFAULT', '10/60');
export const LIMIT_AUTH = limit('RATE_LIMIT_AUTH', '5/60');
export const LIMIT_REFRESH = limit('RATE_LIMIT_REFRESH', '10/60');

export const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
export const HEX_COLOR = /^#[0-9a-f]{6}$/i;
export const REFRESH_RE = /^[0-9a-f]{80}$/;

// A fresh client address 10.x.y.z: consecutive from a random start, so
// no two in one process collide (and processes rarely overlap).
let ipNext = crypto.randomBytes(3).readUIntBE(0, 3);
export function clientIp() {
	let n;
	do
		n = ipNext++ & 0xffffff;
	while ((n & 0xff) === 0 || (n & 0xff) === 0xff);
	return `10.${n >> 16}.${(n >> 8) & 0xff}.${n & 0xff}`;
}

// A fresh valid username: [a-zA-Z0-9_], 3-30 chars.
export function uname(prefix = 'u') {
	return `${prefix}_${crypto.randomBytes(6).toString('hex')}`.slice(0, 30);
}

// One HTTP request. body: a plain value is sent as JSON; with raw, body
// (string, Buffer, FormData, Blob) goes as it is. Returns {status,
// headers, json, text, bytes}; json is undefined when the body is not
// JSON.
export async function req(method, path, opts = {}) {
	const { body, token, ip, headers = {}, raw = false } = opts;
	const h = { 'X-Forwarded-For': ip ?? clientIp(), ...headers };
	let payload;
	if (body !== undefined) {
		if (raw) {
			payload = body;
		} else {
			payload = JSON.stringify(body);
			if (!Object.keys(h).some((k) =>
			    k.toLowerCase() === 'content-type'))
				h['Content-Type'] = 'application/json';
		}
	}
	if (token !== undefined)
		h.Authorization = `Bearer ${token}`;
	const res = await fetch(BASE + path, {
		method, headers: h, body: payload, redirect: 'manual',
	});
	const bytes = Buffer.from(await res.arrayBuffer());
	const text = bytes.toString('utf8');
	let json;
	try {
		json = JSON.parse(text);
	} catch {
		json = undefined;
	}
	return { status: res.status, headers: res.headers, json, text, bytes };
}

// Asserts res is status with a JSON error body {statusCode, message, ...}.
export function assertError(res, status, message) {
	assert.equal(res.status, status,
	    `expected ${status}, got ${res.status}: ${res.text.slice(0, 300)}`);
	assert.equal(typeof res.json, 'object',
	    `error body is not JSON: ${res.text.slice(0, 300)}`);
	assert.ok(res.json !== null);
	assert.equal(res.json.statusCode, status);
	assert.ok('message' in res.json, 'error body lacks message');
	if (message !== undefined)
		assert.deepEqual(res.json.message, message);
}

// A 400 from validation: message is a non-empty array of strings.
export function assertValidation(res) {
	assertError(res, 400);
	assert.ok(Array.isArray(res.json.message),
	    `message is not an array: ${JSON.stringify(res.json.message)}`);
	assert.ok(res.json.message.length > 0);
	for (const m of res.json.message)
		assert.equal(typeof m, 'string');
}

export function assertUnauthorized(res) {
	assertError(res, 401, 'Unauthorized');
}

// Registers a user; returns {id, username, password, displayName, ip}.
export async function register(opts = {}) {
	const username = opts.username ?? uname();
	const password = opts.password ?? `pw-${crypto.randomBytes(6)
	    .toString('hex')}`;
	const ip = opts.ip ?? clientIp();
	const body = { username, password };
	if (opts.displayName !== undefined)
		body.displayName = opts.displayName;
	const res = await req('POST', '/auth/register', { body, ip });
	assert.equal(res.status, 200,
	    `register ${username}: ${res.status} ${res.text.slice(0, 300)}`);
	return { id: res.json.id, username, password,
	    displayName: opts.displayName, ip };
}

// Logs in; returns {access_token, refresh_token}. Takes (username,
// password[, ip]) or one object {username, password[, ip]}, such as what
// register() returns.
export async function login(username, password, ip) {
	if (typeof username === 'object' && username !== null)
		({ username, password, ip } = username);
	ip ??= clientIp();
	const res = await req('POST', '/auth/login',
	    { body: { username, password }, ip });
	assert.equal(res.status, 200,
	    `login ${username}: ${res.status} ${res.text.slice(0, 300)}`);
	return res.json;
}

// Registers and logs in from one address; returns {id, username,
// password, access_token, refresh_token, ip}.
export async function registerAndLogin(opts = {}) {
	const u = await register(opts);
	const t = await login(u.username, u.password, u.ip);
	return { ...u, ...t };
}

// A user made on first use and then shared, for tests that only read it
// or are refused: const someone = sharedUser(); ... await someone().
export function sharedUser(opts) {
	let p;
	return () => (p ??= registerAndLogin(opts));
}

// JWTs, made by hand so the tests can forge bad ones.
export function b64url(x) {
	return Buffer.from(x).toString('base64url');
}

export function decodeJwt(token) {
	const p = token.split('.');
	assert.equal(p.length, 3, 'a JWT has three parts');
	return {
		header: JSON.parse(Buffer.from(p[0], 'base64url').toString()),
		payload: JSON.parse(Buffer.from(p[1], 'base64url').toString()),
		signature: p[2],
	};
}

const HMAC = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };

// Signs payload; alg HS256/HS384/HS512 use secret, anything else gets
// an empty signature. header overrides the default {alg, typ}.
export function signJwt(payload, opts = {}) {
	const alg = opts.alg ?? 'HS256';
	const secret = opts.secret ?? JWT_SECRET;
	const header = opts.header ?? { alg, typ: 'JWT' };
	const data = `${b64url(JSON.stringify(header))}.${
	    b64url(JSON.stringify(payload))}`;
	const sig = HMAC[alg] ? crypto.createHmac(HMAC[alg], secret)
	    .update(data).digest('base64url') : '';
	return `${data}.${sig}`;
}

export function verifyHs256(token, secret = JWT_SECRET) {
	const i = token.lastIndexOf('.');
	const want = crypto.createHmac('sha256', secret)
	    .update(token.slice(0, i)).digest('base64url');
	return want === token.slice(i + 1);
}

export function now() {
	return Math.floor(Date.now() / 1000);
}

// Images, valid by their bytes. Each call returns different bytes (a
// random comment), so a test can tell two uploads apart.
const JPEG_B64 = '/9j/4AAQSkZJRgABAQEAAQABAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsOCwkJDRENDg8QEBEQCgwSExIQEw8QEBD/2wBDAQMDAwQDBAgEBAgQCwkLEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBD/wAARCAAQABADASIAAhEBAxEB/8QAFgABAQEAAAAAAAAAAAAAAAAABwQF/8QAJBAAAQQBBAICAwAAAAAAAAAAAQIDBAYFBwgSExEiABQJMTL/xAAVAQEBAAAAAAAAAAAAAAAAAAAABv/EACMRAAECBQMFAAAAAAAAAAAAAAECEQMEBQYhABIxFRZhgeH/2gAMAwEAAhEDEQA/ABSm0mobc8HmExLUlRzzEWPkJWW+ulrsaUVAseUgslSlH9LKuPryIKuWPZdskzXmm3fX5m2nF4GlVxx/HOpx4ks51+MiU/Iaad7UcUo4tILoS4kqcWkezS0hO/HvuRp0rO6hWnWO1UisZVuFi4GFeyEpmGepa5S5SWVPuciFKRFLgSrwetnyPIB+Vb4N9mKhQMzo5po9XLdDs9d6ZVix2VEhiL9kuNPxw2gEKcDQ/rs8AuA8VAe0vdl7VOYn+27flGAUgmITjbhSmCg3BYlyeWDkMolvw4KOp1KM6iCNvngZHwetf//Z';
const WEBP_B64 = 'UklGRqgBAABXRUJQVlA4WAoAAAAQAAAADwAADwAAQUxQSMMAAAABJ6KokSTleucYX+ffKpmImP90cY3gJjDi4Yt3MsjBEVyDKzDosHgVjnhRNcEIDAJPkqBqsFUZHNa2bUYvTsZ2PLbtd/uvKa4hov9J0f2PkPe6REkkGzolkTTzFG0Ox9PlFiD0CxS+kOGDtxoynjaCfx0pfk52CPuInrOR75lzRugygtv4zEiy90UwfSD9NheMITJWLaXWayO8XeOlWRXVnIGk2W6WdYoYMQ+KqixQNPowgt+6a1BSKbUtz+lUFAoBAAAAVlA4IL4AAACQAgCdASoQABAAAwA0JbACdDBPCIUMfAMdCCz96AD+/XSg/QKbH4r3Q3ycN/bSDK/T/zVo4u6nvclvG/SqxWOuup+XhN9BojvaW+Tv+MvxvX/hr/o/5Qns9LtmX/+qKdl/yWznhuasl7nkxvSTI4xf3Y85VSB/lU/8Ofj/b9JrA+ifvIOYZm2x1RP/dhfmsf5diuSfR7+z+r/+HR3zEo/+XM/B+vkYw73Pzx+ROaAB/ZoBSzEs3rzZe6qsAAAA';

// A 1x1 PNG; with size, padded with a tEXt chunk to exactly size bytes.
export function makePng(size) {
	const rgb = crypto.randomBytes(3);
	const pixel = () => rgb;
	const key = Buffer.from('Comment\0', 'latin1');
	let pad = crypto.randomBytes(8).toString('hex');
	if (size !== undefined) {
		const n = size - pngRgb(1, 1, pixel).length - 12 - key.length;
		assert.ok(n >= 0, 'PNG too small to pad');
		pad = crypto.randomBytes(Math.ceil(n / 2)).toString('hex')
		    .slice(0, n);
	}
	const out = pngRgb(1, 1, pixel, [pngChunk('tEXt', Buffer.concat([key,
	    Buffer.from(pad, 'latin1')]))]);
	if (size !== undefined)
		assert.equal(out.length, size);
	return out;
}

// A 16x16 JPEG with a random COM segment after SOI.
export function makeJpeg() {
	const j = Buffer.from(JPEG_B64, 'base64');
	const c = Buffer.from(crypto.randomBytes(8).toString('hex'));
	const seg = Buffer.alloc(4);
	seg[0] = 0xff;
	seg[1] = 0xfe;
	seg.writeUInt16BE(c.length + 2, 2);
	return Buffer.concat([j.subarray(0, 2), seg, c, j.subarray(2)]);
}

// A 16x16 extended WebP with a random unknown chunk at the end (the RIFF
// size is fixed up).
export function makeWebp() {
	const w = Buffer.from(WEBP_B64, 'base64');
	const extra = Buffer.concat([Buffer.from('XTRA'),
	    Buffer.from([8, 0, 0, 0]), crypto.randomBytes(8)]);
	const out = Buffer.concat([w, extra]);
	out.writeUInt32LE(out.length - 8, 4);
	return out;
}

export function makeGif() {
	// 1x1 transparent GIF89a.
	return Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7',
	    'base64');
}

// POST /users/me/avatar with one file part. field defaults to "avatar".
export async function uploadAvatar(token, bytes, filename, type, opts = {}) {
	const fd = new FormData();
	fd.append(opts.field ?? 'avatar', new Blob([bytes], { type }), filename);
	return req('POST', '/users/me/avatar',
	    { body: fd, raw: true, token, ip: opts.ip });
}

export function sleep(ms) {
	return new Promise((r) => setTimeout(r, ms));
}
