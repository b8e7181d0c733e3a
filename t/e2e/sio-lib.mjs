// t/e2e/sio-lib.mjs: helpers for the sio-*.test.mjs files: start
// realtime/sio-conformance on a free port (binary from $BUILD_DIR, default
// /work/main), a raw WebSocket with an awaitable message queue, RSS of a pid.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import WebSocket from 'ws';

export const BUILD_DIR = process.env.BUILD_DIR || '/work/main';
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function tryListen(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

// A free port in our block (3300-3399), else any.
export async function freePort() {
  const base = 3300 + Math.floor(Math.random() * 100);
  for (let i = 0; i < 100; i++) {
    const p = 3300 + ((base - 3300 + i) % 100);
    if (await tryListen(p)) return p;
  }
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

export async function startServer(port, extra = []) {
  port = port || await freePort();
  const bin = `${BUILD_DIR}/realtime/sio-conformance`;
  const proc = spawn(bin, ['--port', String(port), ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { if (stderr.length < 65536) stderr += d; });
  const exited = new Promise((r) => proc.once('exit', (code, sig) => r({ code, sig })));
  for (let i = 0; i < 250; i++) {
    if (await canConnect(port)) break;
    if (proc.exitCode !== null) throw new Error(`sio-conformance exited: ${stderr}`);
    await sleep(20);
  }
  return {
    port, proc,
    url: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}`,
    stderr: () => stderr,
    exited,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
      const r = await exited;
      clearTimeout(t);
      await sleep(50);
      if (/Sanitizer|runtime error:/.test(stderr))
        throw new Error(`sanitizer report from sio-conformance:\n${stderr.slice(0, 4000)}`);
      return r;
    },
  };
}

// ASan/UBSan builds inflate RSS: memory bounds are checked on plain builds.
export function sanitized(pid) {
  try { return /libasan|libubsan/.test(readFileSync(`/proc/${pid}/maps`, 'utf8')); } catch { return false; }
}

// field: VmRSS (all resident pages) or RssAnon (heap, no file-backed code pages)
export function rssKB(pid, field = 'VmRSS') {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

// A raw WebSocket whose messages can be awaited in order.
export function rawWS(url, opts = {}) {
  const ws = new WebSocket(url, opts);
  ws.binaryType = 'nodebuffer';
  const queue = [];
  const waiters = [];
  let closed = null;
  const closeWaiters = [];
  ws.on('message', (data, isBinary) => {
    const v = isBinary ? Buffer.from(data) : data.toString();
    if (waiters.length) waiters.shift().resolve(v); else queue.push(v);
  });
  ws.on('error', () => {});
  const onClose = (code) => {
    if (closed) return;
    closed = { code };
    for (const w of waiters.splice(0)) w.reject(new Error('closed'));
    for (const w of closeWaiters.splice(0)) w(closed);
  };
  ws.on('close', onClose);
  const opened = new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('close', () => reject(new Error('closed before open')));
    ws.once('unexpected-response', (req, res) => {
      reject(new Error(`HTTP ${res.statusCode}`));
      res.resume();
      req.destroy();
      onClose(res.statusCode);
    });
  });
  opened.catch(() => {});
  return {
    ws,
    opened,
    next(timeout = 2000) {
      if (queue.length) return Promise.resolve(queue.shift());
      if (closed) return Promise.reject(new Error('closed'));
      return new Promise((resolve, reject) => {
        const w = { resolve, reject };
        const t = setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error('timeout waiting for a message'));
        }, timeout);
        w.resolve = (v) => { clearTimeout(t); resolve(v); };
        w.reject = (e) => { clearTimeout(t); reject(e); };
        waiters.push(w);
      });
    },
    // next message that is not a ping "2" (answers the ping)
    async nextNonPing(timeout = 2000) {
      for (;;) {
        const m = await this.next(timeout);
        if (m === '2') { ws.send('3'); continue; }
        return m;
      }
    },
    closed(timeout = 3000) {
      if (closed) return Promise.resolve(closed);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('timeout waiting for close')), timeout);
        closeWaiters.push((c) => { clearTimeout(t); resolve(c); });
      });
    },
    send(d) { ws.send(d); },
    close() { try { ws.terminate(); } catch {} },
  };
}
