// t/e2e/sio-protocol.test.mjs: the checks of the official engine.io-protocol
// and socket.io-protocol test suites (v4/v5), written again here against
// realtime/sio-conformance: status codes, bodies, heartbeat timings
// (pingInterval 300 ms, pingTimeout 200 ms), upgrade, Socket.IO packets.
import { test, describe, before, after } from './lib/node-test.mjs';
import assert from 'node:assert/strict';
import { startServer, rawWS, sleep } from './sio-lib.mjs';

const PING_INTERVAL = 300;
const PING_TIMEOUT = 200;
let srv;

before(async () => { srv = await startServer(); });
after(async () => { await srv.stop(); });

const eurl = (q) => `${srv.url}/engine.io/?${q}`;
const surl = (q) => `${srv.url}/socket.io/?${q}`;

async function pollingSession(base = '/engine.io/') {
  const r = await fetch(`${srv.url}${base}?EIO=4&transport=polling`);
  assert.equal(r.status, 200);
  const t = await r.text();
  assert.ok(t.startsWith('0'));
  return JSON.parse(t.slice(1)).sid;
}

function checkHandshake(v, upgrades) {
  assert.deepEqual(Object.keys(v).sort(), ['maxPayload', 'pingInterval', 'pingTimeout', 'sid', 'upgrades']);
  assert.equal(typeof v.sid, 'string');
  assert.match(v.sid, /^00[A-Za-z0-9_-]{18}$/, 'sid: node id 00 + 18 url-safe chars');
  assert.deepEqual(v.upgrades, upgrades);
  assert.equal(v.pingInterval, PING_INTERVAL);
  assert.equal(v.pingTimeout, PING_TIMEOUT);
  assert.equal(v.maxPayload, 1000000);
}

describe('Engine.IO handshake', () => {
  test('polling opens a session', async () => {
    const r = await fetch(eurl('EIO=4&transport=polling'));
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    const t = await r.text();
    assert.ok(t.startsWith('0'));
    checkHandshake(JSON.parse(t.slice(1)), ['websocket']);
  });
  test('bad EIO is 400 (EIO=3: code 5)', async () => {
    for (const q of ['transport=polling', 'EIO=abc&transport=polling']) {
      const r = await fetch(eurl(q));
      assert.equal(r.status, 400, q);
      await r.text();
    }
    const r = await fetch(eurl('EIO=3&transport=polling'));
    assert.equal(r.status, 400);
    assert.deepEqual(await r.json(), { code: 5, message: 'Unsupported protocol version' });
  });
  test('bad transport is 400 (code 0)', async () => {
    for (const q of ['EIO=4', 'EIO=4&transport=abc']) {
      const r = await fetch(eurl(q));
      assert.equal(r.status, 400, q);
      assert.deepEqual(await r.json(), { code: 0, message: 'Transport unknown' });
    }
  });
  test('bad method is 400', async () => {
    for (const method of ['POST', 'PUT']) {
      const r = await fetch(eurl('EIO=4&transport=polling'), { method });
      assert.equal(r.status, 400, method);
      assert.deepEqual(await r.json(), { code: 2, message: 'Bad handshake method' });
    }
  });
  test('unknown sid is 400 (code 1)', async () => {
    const r = await fetch(eurl('EIO=4&transport=polling&sid=nope'));
    assert.equal(r.status, 400);
    assert.deepEqual(await r.json(), { code: 1, message: 'Session ID unknown' });
  });
  test('WebSocket opens a session with no upgrades', async () => {
    const s = rawWS(`${srv.ws}/engine.io/?EIO=4&transport=websocket`);
    const m = await s.next();
    assert.ok(m.startsWith('0'));
    checkHandshake(JSON.parse(m.slice(1)), []);
    s.close();
  });
  test('WebSocket with bad EIO or transport is refused', async () => {
    for (const q of ['transport=websocket', 'EIO=abc&transport=websocket', 'EIO=4', 'EIO=4&transport=abc']) {
      const s = rawWS(`${srv.ws}/engine.io/?${q}`);
      await assert.rejects(s.opened, q);
      await s.closed();
    }
  });
});

describe('Engine.IO messages', () => {
  for (const body of ['4hello', '4test1\x1e4test2\x1e4test3', '4hello\x1ebAQIDBA==']) {
    test(`polling echo of ${JSON.stringify(body)}`, async () => {
      const sid = await pollingSession();
      const p = await fetch(eurl(`EIO=4&transport=polling&sid=${sid}`), { method: 'POST', body });
      assert.equal(p.status, 200);
      assert.equal(await p.text(), 'ok');
      const g = await fetch(eurl(`EIO=4&transport=polling&sid=${sid}`));
      assert.equal(g.status, 200);
      assert.equal(await g.text(), body);
    });
  }
  test('polling: invalid packet closes the session', async () => {
    const sid = await pollingSession();
    try {
      const p = await fetch(eurl(`EIO=4&transport=polling&sid=${sid}`), { method: 'POST', body: 'abc' });
      assert.equal(p.status, 400);
    } catch { /* closed abnormally is fine too */ }
    const g = await fetch(eurl(`EIO=4&transport=polling&sid=${sid}`));
    assert.equal(g.status, 400);
  });
  test('polling: a cancelled GET closes the session', async () => {
    const sid = await pollingSession();
    const ac = new AbortController();
    fetch(eurl(`EIO=4&transport=polling&sid=${sid}`), { signal: ac.signal }).catch(() => {});
    await sleep(5);
    ac.abort();
    const g = await fetch(eurl(`EIO=4&transport=polling&sid=${sid}`));
    assert.equal(g.status, 400);
  });
  test('polling: a second concurrent GET closes the session', async () => {
    const sid = await pollingSession();
    const [a, b] = await Promise.all([
      fetch(eurl(`EIO=4&transport=polling&sid=${sid}`)),
      sleep(5).then(() => fetch(eurl(`EIO=4&transport=polling&sid=${sid}&t=burst`))),
    ]);
    assert.equal(a.status, 200);
    assert.equal(await a.text(), '1');
    assert.equal(b.status, 400);
    await b.text();
    const g = await fetch(eurl(`EIO=4&transport=polling&sid=${sid}`));
    assert.equal(g.status, 400);
  });
  test('WebSocket text and binary echo', async () => {
    const s = rawWS(`${srv.ws}/engine.io/?EIO=4&transport=websocket`);
    await s.next();
    s.send('4hello');
    assert.equal(await s.next(), '4hello');
    s.send(Uint8Array.from([1, 2, 3, 4]));
    assert.deepEqual(await s.next(), Buffer.from([1, 2, 3, 4]));
    s.close();
  });
  test('WebSocket: invalid packet closes', async () => {
    const s = rawWS(`${srv.ws}/engine.io/?EIO=4&transport=websocket`);
    await s.next();
    s.send('abc');
    await s.closed();
  });
});

describe('Engine.IO heartbeat', () => {
  test('polling ping/pong', async () => {
    const sid = await pollingSession();
    for (let i = 0; i < 3; i++) {
      const g = await fetch(eurl(`EIO=4&transport=polling&sid=${sid}`));
      assert.equal(g.status, 200);
      assert.equal(await g.text(), '2');
      const p = await fetch(eurl(`EIO=4&transport=polling&sid=${sid}`), { method: 'POST', body: '3' });
      assert.equal(p.status, 200);
      assert.equal(await p.text(), 'ok');
    }
  });
  test('polling: ping timeout closes the session', async () => {
    const sid = await pollingSession();
    await sleep(PING_INTERVAL + PING_TIMEOUT);
    const g = await fetch(eurl(`EIO=4&transport=polling&sid=${sid}`));
    assert.equal(g.status, 400);
  });
  test('WebSocket ping/pong, and ping timing', async () => {
    const s = rawWS(`${srv.ws}/engine.io/?EIO=4&transport=websocket`);
    await s.next();
    let t0 = Date.now();
    for (let i = 0; i < 3; i++) {
      assert.equal(await s.next(), '2');
      const dt = Date.now() - t0;
      assert.ok(dt >= PING_INTERVAL - 15 && dt <= PING_INTERVAL + 60, `ping after ${dt} ms`);
      s.send('3');
      t0 = Date.now();
    }
    s.close();
  });
  test('WebSocket: ping timeout closes', async () => {
    const s = rawWS(`${srv.ws}/engine.io/?EIO=4&transport=websocket`);
    await s.next();
    const t0 = Date.now();
    await s.closed(2000);
    const dt = Date.now() - t0;
    assert.ok(dt >= PING_INTERVAL + PING_TIMEOUT - 20 && dt <= PING_INTERVAL + PING_TIMEOUT + 100, `closed after ${dt} ms`);
  });
});

describe('Engine.IO close', () => {
  test('polling: client close answers the pending GET with noop', async () => {
    const sid = await pollingSession();
    const [g] = await Promise.all([
      fetch(eurl(`EIO=4&transport=polling&sid=${sid}`)),
      sleep(5).then(() => fetch(eurl(`EIO=4&transport=polling&sid=${sid}`), { method: 'POST', body: '1' })),
    ]);
    assert.equal(g.status, 200);
    assert.equal(await g.text(), '6');
    const g2 = await fetch(eurl(`EIO=4&transport=polling&sid=${sid}`));
    assert.equal(g2.status, 400);
  });
  test('WebSocket: close packet closes', async () => {
    const s = rawWS(`${srv.ws}/engine.io/?EIO=4&transport=websocket`);
    await s.next();
    s.send('1');
    await s.closed();
  });
});

describe('Engine.IO upgrade', () => {
  test('polling -> WebSocket', async () => {
    const sid = await pollingSession();
    const s = rawWS(`${srv.ws}/engine.io/?EIO=4&transport=websocket&sid=${sid}`);
    await s.opened;
    s.send('2probe');
    assert.equal(await s.next(), '3probe');
    const g = await fetch(eurl(`EIO=4&transport=polling&sid=${sid}`));
    assert.equal(g.status, 200);
    assert.equal(await g.text(), '6');
    s.send('5');
    s.send('4hello');
    assert.equal(await s.next(), '4hello');
    s.close();
  });
  test('HTTP requests with the sid are refused after the upgrade', async () => {
    const sid = await pollingSession();
    const s = rawWS(`${srv.ws}/engine.io/?EIO=4&transport=websocket&sid=${sid}`);
    await s.opened;
    s.send('2probe');
    assert.equal(await s.next(), '3probe');
    s.send('5');
    await sleep(20);
    const g = await fetch(eurl(`EIO=4&transport=polling&sid=${sid}`));
    assert.equal(g.status, 400);
    s.send('4hello');
    assert.equal(await s.next(), '4hello');
    s.close();
  });
  test('a second WebSocket with the sid is refused after the upgrade', async () => {
    const sid = await pollingSession();
    const s = rawWS(`${srv.ws}/engine.io/?EIO=4&transport=websocket&sid=${sid}`);
    await s.opened;
    s.send('2probe');
    assert.equal(await s.next(), '3probe');
    s.send('5');
    await sleep(20);
    const s2 = rawWS(`${srv.ws}/engine.io/?EIO=4&transport=websocket&sid=${sid}`);
    await s2.closed();
    s.send('4hello');
    assert.equal(await s.next(), '4hello');
    s.close();
  });
  test('queued packets go out on the WebSocket after the upgrade', async () => {
    const sid = await pollingSession();
    const s = rawWS(`${srv.ws}/engine.io/?EIO=4&transport=websocket&sid=${sid}`);
    await s.opened;
    s.send('2probe');
    assert.equal(await s.next(), '3probe');
    const p = await fetch(eurl(`EIO=4&transport=polling&sid=${sid}`), { method: 'POST', body: '4queued' });
    assert.equal(await p.text(), 'ok');
    s.send('5');
    assert.equal(await s.next(), '4queued');
    s.close();
  });
});

async function sioWS() {
  const s = rawWS(`${srv.ws}/socket.io/?EIO=4&transport=websocket`);
  const hs = await s.next();
  assert.ok(hs.startsWith('0'));
  return s;
}

async function sioConnected() {
  const s = await sioWS();
  s.send('40');
  assert.ok((await s.nextNonPing()).startsWith('40'));
  assert.equal(await s.nextNonPing(), '42["auth",{}]');
  return s;
}

describe('Socket.IO connect', () => {
  test('main namespace', async () => {
    const s = await sioWS();
    s.send('40');
    const m = await s.next();
    assert.ok(m.startsWith('40'));
    const h = JSON.parse(m.slice(2));
    assert.deepEqual(Object.keys(h), ['sid']);
    assert.match(h.sid, /^00[A-Za-z0-9_-]{18}$/);
    assert.equal(await s.next(), '42["auth",{}]');
    s.close();
  });
  test('main namespace with a payload', async () => {
    const s = await sioWS();
    s.send('40{"token":"123"}');
    assert.ok((await s.next()).startsWith('40'));
    assert.equal(await s.next(), '42["auth",{"token":"123"}]');
    s.close();
  });
  test('custom namespace, with and without payload', async () => {
    for (const [pkt, auth] of [['40/custom,', '{}'], ['40/custom,{"token":"abc"}', '{"token":"abc"}']]) {
      const s = await sioWS();
      s.send(pkt);
      const m = await s.next();
      assert.ok(m.startsWith('40/custom,'));
      assert.deepEqual(Object.keys(JSON.parse(m.slice(10))), ['sid']);
      assert.equal(await s.next(), `42/custom,["auth",${auth}]`);
      s.close();
    }
  });
  test('unknown namespace gets CONNECT_ERROR', async () => {
    const s = await sioWS();
    s.send('40/random');
    assert.equal(await s.next(), '44/random,{"message":"Invalid namespace"}');
    s.close();
  });
  test('invalid handshake closes', async () => {
    const s = await sioWS();
    s.send('4abc');
    await s.closed();
  });
  test('no CONNECT within connectTimeout closes', async () => {
    const s = await sioWS();
    const t0 = Date.now();
    // answer pings so only the connect timeout can close it
    const pump = (async () => { try { for (;;) await s.nextNonPing(5000); } catch {} })();
    await s.closed(3000);
    const dt = Date.now() - t0;
    assert.ok(dt >= 950 && dt < 1500, `closed after ${dt} ms`);
    await pump;
  });
  test('polling: the CONNECT answer, then auth (one payload or two)', async () => {
    const sid = await pollingSession('/socket.io/');
    const p = await fetch(surl(`EIO=4&transport=polling&sid=${sid}`), { method: 'POST', body: '40' });
    assert.equal(await p.text(), 'ok');
    // sio-conformance sends "auth" 10 ms after the answer (AUTH_DELAY):
    // a GET may carry both, or the answer alone and the next one "auth".
    const parts = [];
    for (let i = 0; i < 3 && parts.length < 2; i++) {
      const g = await fetch(surl(`EIO=4&transport=polling&sid=${sid}`));
      parts.push(...(await g.text()).split('\x1e').filter((x) => x !== '2'));
    }
    assert.equal(parts.length, 2, parts.join(' | '));
    assert.ok(parts[0].startsWith('40{"sid":"00'));
    assert.equal(parts[1], '42["auth",{}]');
  });
});

describe('Socket.IO disconnect', () => {
  test('from the main namespace: the connection stays (pings), then connectTimeout closes it', async () => {
    const s = await sioConnected();
    s.send('41');
    assert.equal(await s.next(), '2');
    s.send('3');
    const t0 = Date.now();
    const pump = (async () => { try { for (;;) await s.nextNonPing(5000); } catch {} })();
    await s.closed(3000);
    assert.ok(Date.now() - t0 < 1500);
    await pump;
  });
  test('reconnect to the main namespace after disconnecting it', async () => {
    const s = await sioConnected();
    s.send('41');
    s.send('40');
    assert.ok((await s.nextNonPing()).startsWith('40{"sid":"00'));
    assert.equal(await s.nextNonPing(), '42["auth",{}]');
    s.send('42["message","again"]');
    assert.equal(await s.nextNonPing(), '42["message-back","again"]');
    s.close();
  });
  test('connect then disconnect a custom namespace', async () => {
    const s = await sioConnected();
    s.send('40/custom');
    assert.ok((await s.nextNonPing()).startsWith('40/custom,'));
    assert.equal(await s.nextNonPing(), '42/custom,["auth",{}]');
    s.send('41/custom');
    s.send('42["message","message to main namespace"]');
    assert.equal(await s.nextNonPing(), '42["message-back","message to main namespace"]');
    s.close();
  });
});

describe('Socket.IO messages', () => {
  test('plain-text event', async () => {
    const s = await sioConnected();
    s.send('42["message",1,"2",{"3":[true]}]');
    assert.equal(await s.nextNonPing(), '42["message-back",1,"2",{"3":[true]}]');
    s.close();
  });
  test('event with binary attachments', async () => {
    const s = await sioConnected();
    s.send('452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    s.send(Uint8Array.from([1, 2, 3]));
    s.send(Uint8Array.from([4, 5, 6]));
    assert.equal(await s.nextNonPing(), '452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    assert.deepEqual(await s.nextNonPing(), Buffer.from([1, 2, 3]));
    assert.deepEqual(await s.nextNonPing(), Buffer.from([4, 5, 6]));
    s.close();
  });
  test('event with an ack', async () => {
    const s = await sioConnected();
    s.send('42456["message-with-ack",1,"2",{"3":[false]}]');
    assert.equal(await s.nextNonPing(), '43456[1,"2",{"3":[false]}]');
    s.close();
  });
  test('binary event with an ack', async () => {
    const s = await sioConnected();
    s.send('452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    s.send(Uint8Array.from([1, 2, 3]));
    s.send(Uint8Array.from([4, 5, 6]));
    assert.equal(await s.nextNonPing(), '462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    assert.deepEqual(await s.nextNonPing(), Buffer.from([1, 2, 3]));
    assert.deepEqual(await s.nextNonPing(), Buffer.from([4, 5, 6]));
    s.close();
  });
  for (const bad of ['42{"a":1}', '42abc["message"]', '47', '42["message"', '45-["x"]', '43["x"]']) {
    test(`malformed packet ${JSON.stringify(bad)} closes`, async () => {
      const s = await sioConnected();
      s.send(bad);
      await s.closed();
    });
  }
  test('binary message without a BINARY_EVENT closes', async () => {
    const s = await sioConnected();
    s.send(Uint8Array.from([1]));
    await s.closed();
  });
});
