// t/bench/gen-tokens.mjs: access tokens for benchmark users, signed like
// lib/jwt_util.c does (HS256, {sub, username, iat, exp}) with env JWT_SECRET,
// so thousands of users need no bcrypt login.  Reads "id username" lines
// on stdin, writes "id token" lines (sio-load -t format).  Env TTL (s,
// default 3600).
import { createHmac } from 'node:crypto';
import { createInterface } from 'node:readline';

const secret = process.env.JWT_SECRET;
if (!secret) {
	console.error('gen-tokens: JWT_SECRET is not set');
	process.exit(2);
}
const ttl = Number(process.env.TTL || 3600);
const b64 = (s) => Buffer.from(s).toString('base64url');
const head = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
const now = Math.floor(Date.now() / 1000);
const out = [];
for await (const line of createInterface({ input: process.stdin })) {
	const [id, username] = line.trim().split(/\s+/);
	if (!/^[0-9]+$/.test(id || '') || !username)
		continue;
	const body = b64(JSON.stringify({ sub: Number(id), username, iat: now,
	    exp: now + ttl }));
	const sig = createHmac('sha256', secret).update(`${head}.${body}`)
	    .digest('base64url');
	out.push(`${id} ${head}.${body}.${sig}`);
}
process.stdout.write(out.join('\n') + '\n');
