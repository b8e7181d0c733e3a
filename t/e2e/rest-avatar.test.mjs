// t/e2e/rest-avatar.test.mjs: black-box tests of POST and DELETE
// /users/me/avatar and of serving /uploads/ through nginx (docs/api.md
// §2.7, §2.8, §3 and DESIGN "Resolved details": bytes checked by magic
// number, written whole or not at all).

import { describe, test } from './lib/node-test.mjs';
import assert from 'node:assert/strict';
import {
	req, registerAndLogin, sharedUser, assertError, uploadAvatar,
	makePng, makeJpeg, makeWebp, makeGif,
} from './lib/api.mjs';

const TWO_MB = 2 * 1024 * 1024;
const URL_RE = (ext) =>
    new RegExp(`^/uploads/avatars/[0-9a-f]{32}\\.${ext}$`);
const ONLY = 'Only jpg, png, webp allowed';

// One user for the tests that are refused and so change nothing.
const refused = sharedUser();

const me = (u) => req('GET', '/users/me', { token: u.access_token });
const get = (path) => req('GET', path);

async function assertServes(url, bytes, type) {
	const r = await get(url);
	assert.equal(r.status, 200, `GET ${url}: ${r.status}`);
	assert.ok(r.bytes.equals(bytes), `GET ${url}: other bytes`);
	assert.equal((r.headers.get('content-type') ?? '').split(';')[0]
	    .trim().toLowerCase(), type);
	assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
}

async function assert404(url) {
	const r = await get(url);
	assert.equal(r.status, 404, `GET ${url}: ${r.status}`);
}

describe('POST /users/me/avatar', { concurrency: 8 }, () => {
	for (const [ext, type, make] of [
		['png', 'image/png', makePng],
		['jpg', 'image/jpeg', makeJpeg],
		['webp', 'image/webp', makeWebp],
	]) {
		test(`a ${ext} is stored and served back through nginx`,
		    async () => {
			const u = await registerAndLogin();
			const bytes = make();
			const r = await uploadAvatar(u.access_token, bytes,
			    `photo.${ext}`, type);
			assert.equal(r.status, 200, r.text);
			assert.deepEqual(Object.keys(r.json), ['avatarUrl']);
			assert.match(r.json.avatarUrl, URL_RE(ext));
			await assertServes(r.json.avatarUrl, bytes, type);
			const m = await me(u);
			assert.equal(m.json.avatarUrl, r.json.avatarUrl);
		});
	}

	test('a Dart http MultipartRequest-shaped body works', async () => {
		// package:http writes lower-case part headers, content-type
		// first, and a boundary with "+", "_", "-" and ".".
		const u = await registerAndLogin();
		const b = `dart-http-boundary-${'aZ9+_-.'.repeat(8).slice(0, 50)}`;
		const png = makePng();
		const body = Buffer.concat([Buffer.from(`--${b}\r\n` +
		    'content-type: image/png\r\n' +
		    'content-disposition: form-data; name="avatar"; ' +
		    'filename="image_picker_1.png"\r\n\r\n'), png,
		    Buffer.from(`\r\n--${b}--\r\n`)]);
		const r = await req('POST', '/users/me/avatar', {
			token: u.access_token, raw: true, body,
			headers: { 'Content-Type':
			    `multipart/form-data; boundary=${b}` },
		});
		assert.equal(r.status, 200, r.text);
		assert.match(r.json.avatarUrl, URL_RE('png'));
		await assertServes(r.json.avatarUrl, png, 'image/png');
	});

	test('a file name in UTF-8 is fine', async () => {
		const u = await registerAndLogin();
		const bytes = makePng();
		const r = await uploadAvatar(u.access_token, bytes,
		    'zdjęcie żółwia 😀.png', 'image/png');
		assert.equal(r.status, 200, r.text);
		assert.match(r.json.avatarUrl, URL_RE('png'));
		await assertServes(r.json.avatarUrl, bytes, 'image/png');
	});

	test('a .jpeg name keeps its extension', async () => {
		const u = await registerAndLogin();
		const bytes = makeJpeg();
		const r = await uploadAvatar(u.access_token, bytes, 'a.jpeg',
		    'image/jpeg');
		assert.equal(r.status, 200, r.text);
		assert.match(r.json.avatarUrl, URL_RE('jpeg'));
		await assertServes(r.json.avatarUrl, bytes, 'image/jpeg');
	});

	test('PATCH /users/me then shows the avatarUrl', async () => {
		const u = await registerAndLogin();
		const r = await uploadAvatar(u.access_token, makePng(), 'a.png',
		    'image/png');
		const p = await req('PATCH', '/users/me', {
			token: u.access_token, body: { displayName: 'P' } });
		assert.equal(p.json.avatarUrl, r.json.avatarUrl);
	});

	test('a GIF is 400 "Only jpg, png, webp allowed"', async () => {
		const u = await refused();
		const r = await uploadAvatar(u.access_token, makeGif(), 'a.gif',
		    'image/gif');
		assertError(r, 400, ONLY);
		assert.equal((await me(u)).json.avatarUrl, null);
	});

	test('a text file named x.png of type image/png is 400', async () => {
		const u = await refused();
		const r = await uploadAvatar(u.access_token,
		    Buffer.from('hello, I am not a picture\n'), 'x.png',
		    'image/png');
		assertError(r, 400);
		assert.equal((await me(u)).json.avatarUrl, null);
	});

	test('GIF bytes declared as a png are 400', async () => {
		const u = await refused();
		assertError(await uploadAvatar(u.access_token, makeGif(),
		    'x.png', 'image/png'), 400);
	});

	test('HTML declared as a jpeg is 400', async () => {
		const u = await refused();
		assertError(await uploadAvatar(u.access_token,
		    Buffer.from('<html><script>alert(1)</script></html>'),
		    'x.jpg', 'image/jpeg'), 400);
	});

	test('PNG bytes declared as image/gif are 400', async () => {
		const u = await refused();
		assertError(await uploadAvatar(u.access_token, makePng(),
		    'x.gif', 'image/gif'), 400);
	});

	test('an empty file is 400',
	    async () => {
		const u = await refused();
		assertError(await uploadAvatar(u.access_token, Buffer.alloc(0),
		    'x.png', 'image/png'), 400);
	});

	test('a png named x.html is refused or stored as an image',
	    async () => {
		const u = await registerAndLogin();
		const bytes = makePng();
		const r = await uploadAvatar(u.access_token, bytes, 'x.html',
		    'image/png');
		if (r.status === 200) {
			assert.match(r.json.avatarUrl,
			    /^\/uploads\/avatars\/[0-9a-f]{32}\.(png|jpe?g|webp)$/);
			const g = await get(r.json.avatarUrl);
			assert.match(g.headers.get('content-type') ?? '',
			    /^image\//);
		} else {
			assertError(r, 400);
		}
	});

	test('a path in the filename does not escape the folder', async () => {
		const u = await registerAndLogin();
		const bytes = makePng();
		const r = await uploadAvatar(u.access_token, bytes,
		    '../../../../tmp/evil.png', 'image/png');
		if (r.status === 200) {
			assert.match(r.json.avatarUrl, URL_RE('png'));
			await assertServes(r.json.avatarUrl, bytes, 'image/png');
		} else {
			assertError(r, 400);
		}
	});

	test('exactly 2 MB is accepted', async () => {
		const u = await registerAndLogin();
		const bytes = makePng(TWO_MB);
		const r = await uploadAvatar(u.access_token, bytes, 'big.png',
		    'image/png');
		assert.equal(r.status, 200, r.text.slice(0, 300));
		await assertServes(r.json.avatarUrl, bytes, 'image/png');
	});

	test('2 MB + 1 byte is refused and the old avatar is kept',
	    async () => {
		const u = await registerAndLogin();
		const small = makePng();
		const first = await uploadAvatar(u.access_token, small, 'a.png',
		    'image/png');
		assert.equal(first.status, 200, first.text);
		const r = await uploadAvatar(u.access_token,
		    makePng(TWO_MB + 1), 'big.png', 'image/png');
		assert.ok(r.status >= 400 && r.status < 500,
		    `status ${r.status}`);
		assert.ok(r.status === 413 || r.status === 400,
		    `status ${r.status}`);
		assert.equal(typeof r.json, 'object',
		    `body is not JSON: ${r.text.slice(0, 200)}`);
		assert.equal(r.json.statusCode, r.status);
		assert.equal((await me(u)).json.avatarUrl, first.json.avatarUrl);
		await assertServes(first.json.avatarUrl, small, 'image/png');
	});

	test('a 5 MB upload is refused with JSON', async () => {
		const u = await refused();
		const r = await uploadAvatar(u.access_token,
		    makePng(5 * 1024 * 1024), 'huge.png', 'image/png');
		assert.ok(r.status === 413 || r.status === 400,
		    `status ${r.status}`);
		assert.equal(r.json?.statusCode, r.status, r.text.slice(0, 200));
		assert.equal((await me(u)).json.avatarUrl, null);
	});

	test('a missing avatar field is 400', async () => {
		const u = await refused();
		const r = await uploadAvatar(u.access_token, makePng(), 'a.png',
		    'image/png', { field: 'file' });
		assertError(r, 400);
		assert.equal((await me(u)).json.avatarUrl, null);
	});

	test('a multipart body with no parts at all is 400', async () => {
		const u = await refused();
		const r = await req('POST', '/users/me/avatar', {
			token: u.access_token, raw: true, body: '--b--\r\n',
			headers: { 'Content-Type':
			    'multipart/form-data; boundary=b' },
		});
		assertError(r, 400);
	});

	test('a JSON body is 400', async () => {
		const u = await refused();
		const r = await req('POST', '/users/me/avatar', {
			token: u.access_token, body: { avatar: 'x' } });
		assertError(r, 400);
	});

	test('a truncated multipart body is 400', async () => {
		const u = await refused();
		const png = makePng();
		const body = Buffer.concat([Buffer.from('--XyZ\r\n' +
		    'Content-Disposition: form-data; name="avatar"; ' +
		    'filename="a.png"\r\nContent-Type: image/png\r\n\r\n'),
		    png]);
		const r = await req('POST', '/users/me/avatar', {
			token: u.access_token, raw: true, body,
			headers: { 'Content-Type':
			    'multipart/form-data; boundary=XyZ' },
		});
		assertError(r, 400);
		assert.equal((await me(u)).json.avatarUrl, null);
	});

	test('a second upload replaces the first', async () => {
		const u = await registerAndLogin();
		const a = makePng();
		const b = makeJpeg();
		const r1 = await uploadAvatar(u.access_token, a, 'a.png',
		    'image/png');
		assert.equal(r1.status, 200, r1.text);
		const r2 = await uploadAvatar(u.access_token, b, 'b.jpg',
		    'image/jpeg');
		assert.equal(r2.status, 200, r2.text);
		assert.notEqual(r1.json.avatarUrl, r2.json.avatarUrl);
		await assert404(r1.json.avatarUrl);
		await assertServes(r2.json.avatarUrl, b, 'image/jpeg');
		assert.equal((await me(u)).json.avatarUrl, r2.json.avatarUrl);
	});

	test('two uploads at once: exactly one URL serves and is the profile\'s',
	    async () => {
		const u = await registerAndLogin();
		let prev;
		for (let round = 0; round < 3; round++) {
			const files = [makePng(), makePng(200000)];
			const rs = await Promise.all(files.map((f, i) =>
			    uploadAvatar(u.access_token, f, `c${i}.png`,
			    'image/png')));
			for (const r of rs)
				assert.equal(r.status, 200, r.text);
			const urls = rs.map((r) => r.json.avatarUrl);
			assert.notEqual(urls[0], urls[1]);
			const gets = await Promise.all(urls.map(get));
			const st = gets.map((g) => g.status);
			assert.deepEqual([...st].sort(), [200, 404],
			    `round ${round}: ${st}`);
			const live = st.indexOf(200);
			assert.ok(gets[live].bytes.equals(files[live]));
			assert.equal((await me(u)).json.avatarUrl, urls[live]);
			if (prev)
				await assert404(prev);
			prev = urls[live];
		}
	});

	test('upload and delete at once: profile and files agree', async () => {
		const u = await registerAndLogin();
		for (let round = 0; round < 4; round++) {
			const [up, del] = await Promise.all([
				uploadAvatar(u.access_token, makePng(), 'a.png',
				    'image/png'),
				req('DELETE', '/users/me/avatar',
				    { token: u.access_token }),
			]);
			assert.equal(up.status, 200, up.text);
			assert.equal(del.status, 200, del.text);
			const now = (await me(u)).json.avatarUrl;
			const g = await get(up.json.avatarUrl);
			if (now === up.json.avatarUrl)
				assert.equal(g.status, 200, `round ${round}`);
			else {
				assert.equal(now, null, `round ${round}`);
				assert.equal(g.status, 404, `round ${round}: ` +
				    'a removed avatar still serves');
			}
		}
	});

	test('one user\'s upload does not remove another\'s', async () => {
		const a = await registerAndLogin();
		const b = await registerAndLogin();
		const fa = makePng();
		const ra = await uploadAvatar(a.access_token, fa, 'a.png',
		    'image/png');
		await uploadAvatar(b.access_token, makePng(), 'b.png',
		    'image/png');
		await uploadAvatar(b.access_token, makePng(), 'b.png',
		    'image/png');
		await assertServes(ra.json.avatarUrl, fa, 'image/png');
	});
});

describe('DELETE /users/me/avatar', { concurrency: 8 }, () => {
	test('removes the file and sets avatarUrl null', async () => {
		const u = await registerAndLogin();
		const bytes = makeWebp();
		const up = await uploadAvatar(u.access_token, bytes, 'a.webp',
		    'image/webp');
		assert.equal(up.status, 200, up.text);
		const r = await req('DELETE', '/users/me/avatar',
		    { token: u.access_token });
		assert.equal(r.status, 200, r.text);
		assert.deepEqual(r.json, { message: 'Avatar removed' });
		await assert404(up.json.avatarUrl);
		assert.equal((await me(u)).json.avatarUrl, null);
	});

	test('with no avatar it still answers "Avatar removed"', async () => {
		const u = await registerAndLogin();
		const r = await req('DELETE', '/users/me/avatar',
		    { token: u.access_token });
		assert.equal(r.status, 200, r.text);
		assert.deepEqual(r.json, { message: 'Avatar removed' });
		assert.equal((await me(u)).json.avatarUrl, null);
	});

	test('a new upload after removal works', async () => {
		const u = await registerAndLogin();
		await uploadAvatar(u.access_token, makePng(), 'a.png',
		    'image/png');
		await req('DELETE', '/users/me/avatar',
		    { token: u.access_token });
		const bytes = makePng();
		const r = await uploadAvatar(u.access_token, bytes, 'b.png',
		    'image/png');
		assert.equal(r.status, 200, r.text);
		await assertServes(r.json.avatarUrl, bytes, 'image/png');
	});
});

describe('/uploads/', () => {
	test('an unknown avatar is 404', async () => {
		await assert404(`/uploads/avatars/${'0'.repeat(32)}.png`);
	});

	test('no directory listing and no escape', async () => {
		const r = await get('/uploads/avatars/');
		assert.ok(r.status === 403 || r.status === 404,
		    `listing: ${r.status}`);
		for (const p of ['/uploads/../../etc/passwd',
		    '/uploads/%2e%2e/%2e%2e/etc/passwd',
		    '/uploads/avatars/..%2f..%2f..%2fetc%2fpasswd']) {
			const e = await get(p);
			assert.ok(!e.text.includes('root:'), `${p} leaked`);
		}
	});
});
