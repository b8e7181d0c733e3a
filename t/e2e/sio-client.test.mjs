// t/e2e/sio-client.test.mjs: realtime/sio-conformance with the official
// socket.io-client: WebSocket only, polling then upgrade, polling only,
// events, acks, binary, namespaces, reconnection after the server goes
// away, and 1000 clients at once.
import { test, before, after } from './lib/node-test.mjs';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { startServer, sleep, rssKB } from './sio-lib.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv.stop(); });

function once(sock, ev, ms = 3000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${ev}`)), ms);
    sock.once(ev, (...a) => { clearTimeout(t); resolve(a); });
  });
}

function ackOf(c, ...args) {
  return new Promise((resolve, reject) => {
    c.timeout(3000).emit(...args, (err, ...res) => (err ? reject(err) : resolve(res)));
  });
}

function client(nsp = '/', opts = {}) {
  return io(`${srv.url}${nsp}`, { forceNew: true, reconnection: false, ...opts });
}

for (const [name, opts] of [
  ['websocket only', { transports: ['websocket'] }],
  ['polling then upgrade', { transports: ['polling', 'websocket'] }],
  ['polling only', { transports: ['polling'] }],
]) {
  test(`${name}: connect, auth, events, acks, binary`, async () => {
    const c = client('/', { ...opts, auth: { token: 'T1' } });
    const [auth] = await once(c, 'auth');
    assert.deepEqual(auth, { token: 'T1' });
    assert.match(c.id, /^00[A-Za-z0-9_-]{18}$/);
    if (name === 'polling then upgrade') {
      if (c.io.engine.transport.name !== 'websocket')
        await once(c.io.engine, 'upgrade');
      assert.equal(c.io.engine.transport.name, 'websocket');
    }
    c.emit('message', 1, 'two', { three: [true, null] });
    assert.deepEqual(await once(c, 'message-back'), [1, 'two', { three: [true, null] }]);
    const ack = await ackOf(c, 'message-with-ack', 'x', 42);
    assert.deepEqual(ack, ['x', 42]);
    const bin = Buffer.from([0, 1, 2, 255]);
    c.emit('message', 'bin', bin, { nested: Buffer.from('abc') });
    const back = await once(c, 'message-back');
    assert.equal(back[0], 'bin');
    assert.deepEqual(Buffer.from(back[1]), bin);
    assert.deepEqual(Buffer.from(back[2].nested), Buffer.from('abc'));
    const back2 = await ackOf(c, 'message-with-ack', Buffer.from([9, 8]));
    assert.deepEqual(Buffer.from(back2[0]), Buffer.from([9, 8]));
    // many in a row keep their order
    const got = [];
    const done = new Promise((r) => c.on('message-back', (i) => { got.push(i); if (got.length === 200) r(); }));
    for (let i = 0; i < 200; i++) c.emit('message', i);
    await done;
    assert.deepEqual(got, [...Array(200).keys()]);
    c.disconnect();
  });
}

test('namespaces: /custom over the same connection, invalid namespace', async () => {
  const c = client('/', { transports: ['websocket'] });
  await once(c, 'auth');
  const m = c.io.socket('/custom', { auth: { k: 'v' } });
  const [a] = await once(m, 'auth');
  assert.deepEqual(a, { k: 'v' });
  m.emit('message', 'custom');
  assert.deepEqual(await once(m, 'message-back'), ['custom']);
  const bad = c.io.socket('/nope');
  const [err] = await once(bad, 'connect_error');
  assert.equal(err.message, 'Invalid namespace');
  // the other namespaces still work
  c.emit('message', 'main');
  assert.deepEqual(await once(c, 'message-back'), ['main']);
  m.disconnect();
  c.emit('message', 'still');
  assert.deepEqual(await once(c, 'message-back'), ['still']);
  c.disconnect();
});

test('reconnects after the server goes away and comes back', async () => {
  const c = io(srv.url, { forceNew: true, transports: ['websocket'], reconnectionDelay: 100, reconnectionDelayMax: 200 });
  let p;
  try {
  await once(c, 'auth');
  const first = c.id;
  const port = srv.port;
  p = io(srv.url, { forceNew: true, reconnection: false, transports: ['polling'] });
  await once(p, 'auth');
  const gone = once(c, 'disconnect', 5000);
  const pgone = once(p, 'disconnect', 5000);
  // SIGTERM: graceful shutdown, Engine.IO close without Socket.IO
  // DISCONNECT, so clients reconnect (elsewhere, behind nginx)
  const exit = await srv.stop();
  assert.deepEqual(exit, { code: 0, sig: null });
  const [reason] = await gone;
  assert.equal(reason, 'transport close');
  const [preason] = await pgone;
  assert.ok(['transport close', 'transport error'].includes(preason), preason);
  // Listen before the server is back: the client (100-200 ms backoff)
  // may reconnect while startServer is still polling the port, and a
  // 'connect' emitted before the listener is added would be missed.
  // Generous: under a loaded sanitizer run the client's backoff and the
  // server's start can take seconds; the timing bound lives in the
  // rolling-restart test.
  const back = once(c, 'connect', 30000);
  srv = await startServer(port);
  await back;
  assert.notEqual(c.id, first);
  c.emit('message', 'again');
  assert.deepEqual(await once(c, 'message-back'), ['again']);
  } finally {
    // A client left reconnecting would keep this file's process alive.
    c.disconnect();
    p?.disconnect();
  }
});

test('1000 clients at once', async () => {
  // One node process drives all clients: give it a gentler heartbeat than
  // the conformance 300/200 ms, which a busy client cannot keep up with.
  const big = await startServer(undefined, ['--ping-interval', '10000', '--ping-timeout', '10000', '--connect-timeout', '20000']);
  const N = 1000;
  const rss0 = rssKB(big.proc.pid);
  const clients = [];
  const ready = [];
  for (let i = 0; i < N; i++) {
    const c = io(big.url, { forceNew: true, reconnection: false, transports: ['websocket'] });
    clients.push(c);
    ready.push(once(c, 'auth', 30000));
  }
  await Promise.all(ready);
  await sleep(300);
  const rss1 = rssKB(big.proc.pid);
  const echoes = clients.map((c, i) => {
    const p = once(c, 'message-back', 20000);
    c.emit('message', i);
    return p;
  });
  const res = await Promise.all(echoes);
  res.forEach((r, i) => assert.deepEqual(r, [i]));
  console.log(`# 1000 clients: server RSS ${rss0} kB -> ${rss1} kB (${((rss1 - rss0) * 1024 / N).toFixed(0)} bytes per connected socket)`);
  for (const c of clients) c.disconnect();
  await sleep(300);
  await big.stop();
});
