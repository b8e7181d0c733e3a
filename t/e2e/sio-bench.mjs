// t/e2e/sio-bench.mjs: echo throughput and idle memory of
// realtime/sio-conformance, from raw sockets (node:net, prebuilt masked
// frames, so the client costs little).  Not part of `node --test`.
// Usage: BUILD_DIR=... node sio-bench.mjs [seconds=5] [conns=50] [window=200] [idle=5000]
import net from 'node:net';
import crypto from 'node:crypto';
import { startServer, sleep, rssKB } from './sio-lib.mjs';

const [secs = 5, conns = 50, windowSz = 200, idle = 5000] = process.argv.slice(2).map(Number);

function frame(payload) {
  const p = Buffer.from(payload);
  const head = Buffer.from([0x81, 0x80 | p.length, 1, 2, 3, 4]);
  const m = Buffer.alloc(p.length);
  for (let i = 0; i < p.length; i++) m[i] = p[i] ^ head[2 + (i & 3)];
  return Buffer.concat([head, m]);
}

// Count complete server frames in a stream; returns [count, rest].
function countFrames(buf) {
  let n = 0, pos = 0;
  for (;;) {
    if (buf.length - pos < 2) break;
    let len = buf[pos + 1] & 0x7f, hl = 2;
    if (len === 126) { if (buf.length - pos < 4) break; len = buf.readUInt16BE(pos + 2); hl = 4; }
    else if (len === 127) { if (buf.length - pos < 10) break; len = Number(buf.readBigUInt64BE(pos + 2)); hl = 10; }
    if (buf.length - pos < hl + len) break;
    const isPing = len === 1 && buf[pos + hl] === 0x32;
    if (!isPing) n++;
    pos += hl + len;
  }
  return [n, buf.subarray(pos)];
}

async function open(port, connect = true) {
  const s = net.connect(port, '127.0.0.1');
  await new Promise((r, j) => { s.once('connect', r); s.once('error', j); });
  s.setNoDelay(true);
  const key = crypto.randomBytes(16).toString('base64');
  s.write(`GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  let buf = Buffer.alloc(0);
  await new Promise((resolve) => {
    const on = (d) => {
      buf = Buffer.concat([buf, d]);
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      let [n, rest] = countFrames(buf.subarray(i + 4));
      if (n >= (connect ? 3 : 1)) { s.off('data', on); resolve(); }	// open, 40, auth
    };
    s.on('data', on);
    if (connect) s.write(frame('40'));
  });
  return s;
}

const srv = await startServer(undefined, ['--ping-interval', '60000', '--ping-timeout', '60000', '--connect-timeout', '60000']);
try {
  const one = frame('42["message","hello"]');
  const batch = Buffer.concat(Array(windowSz).fill(one));
  const socks = [];
  for (let i = 0; i < conns; i++) socks.push(await open(srv.port));
  let total = 0;
  let running = true;
  for (const s of socks) {
    let rest = Buffer.alloc(0);
    s.on('data', (d) => {
      const [n, r] = countFrames(rest.length ? Buffer.concat([rest, d]) : d);
      rest = Buffer.from(r);
      total += n;
      if (running && n > 0) s.write(n <= windowSz ? batch.subarray(0, n * one.length) : Buffer.concat(Array(n).fill(one)));
    });
    s.write(batch);
  }
  await sleep(500);
  const t0 = Date.now(), c0 = total;
  const cpu0 = process.cpuUsage();
  await sleep(secs * 1000);
  const rate = (total - c0) * 1000 / (Date.now() - t0);
  running = false;
  console.log(`echo: ${rate.toFixed(0)} msgs/s over ${conns} WebSocket connections, window ${windowSz}`);
  for (const s of socks) s.destroy();
  await sleep(1500);

  // idle memory: N connected Socket.IO sockets doing nothing
  const a0 = rssKB(srv.proc.pid, 'RssAnon'), v0 = rssKB(srv.proc.pid);
  const idles = [];
  for (let i = 0; i < idle; i++) idles.push(await open(srv.port));
  await sleep(500);
  const a1 = rssKB(srv.proc.pid, 'RssAnon'), v1 = rssKB(srv.proc.pid);
  console.log(`idle: ${idle} connected sockets: RssAnon +${a1 - a0} kB (${((a1 - a0) * 1024 / idle).toFixed(0)} B each), VmRSS +${v1 - v0} kB (${((v1 - v0) * 1024 / idle).toFixed(0)} B each)`);
  for (const s of idles) s.destroy();
} finally {
  await srv.stop();
}
