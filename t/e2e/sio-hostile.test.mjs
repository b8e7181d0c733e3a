// t/e2e/sio-hostile.test.mjs: realtime/sio-conformance against hostile
// peers on raw sockets (node:net): a reader that never drains, a client
// sending one byte at a time, huge declared WebSocket frames, polling
// bodies over maxPayload, and a flood of sessions that never CONNECT.
// The server must stay responsive and its memory bounded.
import { test, after } from './lib/node-test.mjs';
import assert from 'node:assert/strict';
import net from 'node:net';
import crypto from 'node:crypto';
import { io } from 'socket.io-client';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { startServer, rawWS, sleep, rssKB, sanitized, freePort, BUILD_DIR } from './sio-lib.mjs';

const servers = [];
after(async () => { for (const s of servers) await s.stop(); });
async function server(extra) {
  const s = await startServer(undefined, extra);
  servers.push(s);
  return s;
}

function connect(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

function closedP(sock, ms) {
  return new Promise((resolve, reject) => {
    if (sock.destroyed) return resolve();
    const t = setTimeout(() => reject(new Error('socket not closed in time')), ms);
    sock.once('close', () => { clearTimeout(t); resolve(); });
  });
}

// Collects everything the server sends.
function collect(sock) {
  const st = { buf: Buffer.alloc(0) };
  sock.on('data', (d) => { st.buf = Buffer.concat([st.buf, d]); });
  sock.on('error', () => {});
  return st;
}

async function until(fn, ms, what) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (fn()) return;
    await sleep(10);
  }
  throw new Error(`timeout: ${what}`);
}

function frame(op, payload) {
  const p = Buffer.from(payload);
  const mask = crypto.randomBytes(4);
  let head;
  if (p.length < 126) head = Buffer.from([0x80 | op, 0x80 | p.length]);
  else if (p.length < 65536) { head = Buffer.alloc(4); head[0] = 0x80 | op; head[1] = 0x80 | 126; head.writeUInt16BE(p.length, 2); }
  else { head = Buffer.alloc(10); head[0] = 0x80 | op; head[1] = 0x80 | 127; head.writeBigUInt64BE(BigInt(p.length), 2); }
  const m = Buffer.alloc(p.length);
  for (let i = 0; i < p.length; i++) m[i] = p[i] ^ mask[i & 3];
  return Buffer.concat([head, mask, m]);
}

// Raw WebSocket handshake to the Socket.IO path; resolves after the 101.
async function rawWsOpen(port) {
  const sock = await connect(port);
  const st = collect(sock);
  const key = crypto.randomBytes(16).toString('base64');
  sock.write(`GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  await until(() => st.buf.includes('\r\n\r\n'), 3000, '101');
  assert.match(st.buf.toString('latin1'), /^HTTP\/1\.1 101/);
  return { sock, st };
}

// Is the server still serving others quickly?
async function serves(srv) {
  const t0 = Date.now();
  const r = await fetch(`${srv.url}/socket.io/?EIO=4&transport=polling`);
  assert.equal(r.status, 200);
  await r.text();
  return Date.now() - t0;
}

test('a reader that never drains is cut at the output cap; memory stays bounded', async () => {
  const srv = await server(['--ping-interval', '20000', '--ping-timeout', '20000', '--connect-timeout', '20000']);
  const rss0 = rssKB(srv.proc.pid);
  const { sock } = await rawWsOpen(srv.port);
  sock.pause();				// never read again
  sock.write(frame(1, '40'));
  const msg = frame(1, `42["message","${'x'.repeat(16 * 1024)}"]`);
  let peak = 0;
  let sent = 0;
  const t0 = Date.now();
  while (!sock.destroyed && sent < 64 * 1024 * 1024 && Date.now() - t0 < 20000) {
    if (!sock.write(msg)) await Promise.race([new Promise((r) => sock.once('drain', r)), sleep(200)]);
    sent += msg.length;
    if ((sent & ((1 << 20) - 1)) < msg.length) {
      peak = Math.max(peak, rssKB(srv.proc.pid));
      const ok = await fetch(`${srv.url}/socket.io/?EIO=4&transport=polling`).then((r) => r.status, () => 0);
      if (sock.destroyed || sock.writableEnded) break;
      assert.equal(ok, 200);
    }
  }
  peak = Math.max(peak, rssKB(srv.proc.pid));
  sock.resume();
  await closedP(sock, 10000);
  console.log(`# slow reader: sent ${(sent / 1048576).toFixed(1)} MB, server RSS ${rss0} -> peak ${peak} kB`);
  if (!sanitized(srv.proc.pid))
    assert.ok(peak - rss0 < 24 * 1024, `server RSS grew by ${peak - rss0} kB`);
  assert.ok(await serves(srv) < 1000);
});

test('a client sending one byte at a time does not hold up others', async () => {
  const srv = await server();
  const slow = await connect(srv.port);
  const st = collect(slow);
  const req = Buffer.from('GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n');
  let i = 0;
  const drip = setInterval(() => { if (i < req.length && !slow.destroyed) slow.write(req.subarray(i, ++i)); }, 25);
  try {
    for (let k = 0; k < 10; k++) {
      assert.ok(await serves(srv) < 500);
      const c = io(srv.url, { forceNew: true, reconnection: false, transports: ['websocket'] });
      await new Promise((r) => c.once('auth', r));
      c.emit('message', k);
      const [v] = await new Promise((r) => c.once('message-back', (...a) => r(a)));
      assert.equal(v, k);
      c.disconnect();
      await sleep(100);
    }
    await until(() => i >= req.length, 5000, 'drip done');
    await until(() => st.buf.includes('"sid"'), 2000, 'slow client answered');
    assert.match(st.buf.toString(), /^HTTP\/1\.1 200/);
  } finally {
    clearInterval(drip);
    slow.destroy();
  }
});

test('WebSocket frames announcing huge lengths are refused before any payload', async () => {
  const srv = await server();
  const heads = [
    Buffer.from([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]),		// 2^63
    Buffer.from([0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4]),	// 2^63-1
    Buffer.from([0x81, 0xff, 0, 0, 0, 0, 0, 0x0f, 0x42, 0x41, 1, 2, 3, 4]),	// maxPayload + 1
  ];
  for (const h of heads) {
    const { sock, st } = await rawWsOpen(srv.port);
    const before = st.buf.length;
    sock.write(h);
    await closedP(sock, 3000);
    const tail = st.buf.subarray(before);
    const i = tail.lastIndexOf(0x88);	// close frame
    assert.ok(i >= 0, 'close frame sent');
    const code = tail.readUInt16BE(i + 2);
    assert.ok(code === 1009 || code === 1002, `close code ${code}`);
  }
  assert.ok(await serves(srv) < 1000);
});

test('polling body over maxPayload gets 413', async () => {
  const srv = await server();
  const r0 = await fetch(`${srv.url}/socket.io/?EIO=4&transport=polling`);
  const sid = JSON.parse((await r0.text()).slice(1)).sid;
  const body = '4' + 'x'.repeat(1000000);
  let status = 0;
  try {
    const r = await fetch(`${srv.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body });
    status = r.status;
    await r.text();
  } catch { status = -1; }
  assert.equal(status, 413);
  // a raw request announcing a huge body is refused from the head alone
  const s = await connect(srv.port);
  const st = collect(s);
  s.write(`POST /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n`);
  await closedP(s, 3000);
  assert.match(st.buf.toString(), /^HTTP\/1\.1 413/);
  // chunked bodies are refused too
  const s2 = await connect(srv.port);
  const st2 = collect(s2);
  s2.write(`POST /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`);
  await closedP(s2, 3000);
  assert.match(st2.buf.toString(), /^HTTP\/1\.1 4\d\d/);
  assert.ok(await serves(srv) < 1000);
});

test('a flood of sessions that never CONNECT is closed after connectTimeout; RSS comes back', async () => {
  const srv = await server(['--ping-interval', '20000', '--ping-timeout', '20000', '--connect-timeout', '1000']);
  // warm up: code pages of the WebSocket path (libcrypto SHA-1) are
  // file-backed RSS that stays; the check below is on anonymous memory
  const w = rawWS(`${srv.ws}/socket.io/?EIO=4&transport=websocket`);
  await w.next();
  w.close();
  await sleep(100);
  const rss0 = rssKB(srv.proc.pid, 'RssAnon');
  const N = 2000;
  const socks = [];
  for (let i = 0; i < N; i++) {
    socks.push(rawWS(`${srv.ws}/socket.io/?EIO=4&transport=websocket`));
    if (i % 200 === 199) await sleep(20);
  }
  await Promise.all(socks.map((s) => s.next(5000)));
  const peak = rssKB(srv.proc.pid, 'RssAnon');
  const t0 = Date.now();
  await Promise.all(socks.map((s) => s.closed(12000)));
  const dt = Date.now() - t0;
  await sleep(1500);		// the server trims freed memory on its 1 s sweep
  const rss1 = rssKB(srv.proc.pid, 'RssAnon');
  console.log(`# never-CONNECT flood of ${N}: RssAnon ${rss0} -> ${peak} -> ${rss1} kB, all closed ${dt} ms after open`);
  assert.ok(dt < 10000, `closed after ${dt} ms`);
  if (!sanitized(srv.proc.pid))
    assert.ok(rss1 - rss0 < Math.max(2048, (peak - rss0) / 2), `RSS did not come back: ${rss0} -> ${peak} -> ${rss1}`);
  assert.ok(await serves(srv) < 1000);
});

function cpuTicks(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);	// utime + stime
}

test('out of file descriptors (EMFILE): accept backs off, no spinning, recovers', async () => {
  const port = await freePort();
  const proc = spawn('/bin/sh', ['-c', `ulimit -n 40 && exec "${BUILD_DIR}/realtime/sio-conformance" --port ${port} --ping-interval 20000 --ping-timeout 20000 --connect-timeout 20000`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { if (stderr.length < 65536) stderr += d; });
  const exited = new Promise((r) => proc.once('exit', (code) => r(code)));
  try {
    let up = false;
    for (let i = 0; i < 250 && !up; i++) {
      up = await connect(port).then((s) => { s.destroy(); return true; }, () => false);
      if (!up) await sleep(20);
    }
    assert.ok(up, 'server up');
    const held = [];
    for (let i = 0; i < 80; i++) {
      const s = await connect(port).catch(() => null);
      if (s) { s.on('error', () => {}); held.push(s); }
    }
    await sleep(200);
    const t0 = cpuTicks(proc.pid);
    await sleep(1000);
    const used = cpuTicks(proc.pid) - t0;	// clock ticks (1/100 s)
    assert.ok(used < 30, `server used ${used} ticks in 1 s while out of fds`);
    for (const s of held) s.destroy();
    await sleep(400);
    const r = await fetch(`http://127.0.0.1:${port}/socket.io/?EIO=4&transport=polling`);
    assert.equal(r.status, 200);
    await r.text();
    assert.match(stderr, /accept4/);
  } finally {
    proc.kill('SIGTERM');
    await exited;
  }
});
