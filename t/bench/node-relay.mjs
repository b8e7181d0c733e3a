// t/bench/node-relay.mjs: the baseline for sio-load's chat mode.
// A plain Node socket.io relay with no database: auth by the userId in
// the auth payload, sendMessage -> newMessage to every socket of the
// recipient and messageSent to every socket of the sender, payloads
// shaped like the spec's.  With PRESENCE=1 (default) it also broadcasts
// userOnline/userOffline to everyone as the spec asks.
// Usage: node t/bench/node-relay.mjs PORT   (env PING_INTERVAL,
// PING_TIMEOUT, PRESENCE).  Listens on 127.0.0.1 only.
import { createRequire } from 'node:module';
import { createServer } from 'node:http';

const require = createRequire(new URL('../e2e/package.json', import.meta.url));
const { Server } = require('socket.io');

const port = Number(process.argv[2] || process.env.PORT || 3521);
const presence = (process.env.PRESENCE ?? '1') === '1';
const http = createServer((req, res) => { res.writeHead(404); res.end(); });
const io = new Server(http, {
	pingInterval: Number(process.env.PING_INTERVAL || 25000),
	pingTimeout: Number(process.env.PING_TIMEOUT || 20000),
	maxHttpBufferSize: 1e6,
	perMessageDeflate: false,
	httpCompression: false,
	cors: { origin: '*' },
});
const online = new Map();	// userId -> number of sockets
let nextId = 0;

io.use((socket, next) => {
	const uid = Number(socket.handshake.auth?.userId);
	if (!Number.isInteger(uid) || uid <= 0)
		return next(new Error('Unauthorized'));
	socket.data.user = { id: uid, username: `user${uid}` };
	next();
});

io.on('connection', (socket) => {
	const me = socket.data.user;
	socket.join(`u:${me.id}`);
	const n = (online.get(me.id) || 0) + 1;
	online.set(me.id, n);
	if (n === 1 && presence)
		io.emit('userOnline', { userId: me.id });
	socket.on('sendMessage', (p) => {
		const rid = Number(p?.recipientId);
		const content = typeof p?.content === 'string' ? p.content.trim() : '';
		if (!Number.isInteger(rid) || rid <= 0 || content.length < 1 ||
		    content.length > 5000) {
			socket.emit('error', { message: 'Message content must be between 1 and 5000 characters' });
			return;
		}
		const msg = {
			id: ++nextId,
			content,
			senderId: me.id,
			senderUsername: me.username,
			conversationId: Math.min(me.id, rid) * 1000003 + Math.max(me.id, rid),
			createdAt: new Date().toISOString(),
			readAt: null,
		};
		io.to(`u:${rid}`).emit('newMessage', msg);
		io.to(`u:${me.id}`).emit('messageSent', msg);
	});
	socket.on('disconnect', () => {
		const left = (online.get(me.id) || 1) - 1;
		if (left > 0) {
			online.set(me.id, left);
			return;
		}
		online.delete(me.id);
		if (presence)
			io.emit('userOffline', { userId: me.id });
	});
});

http.listen(port, '127.0.0.1', () => {
	console.log(`node-relay listening on 127.0.0.1:${port} pid ${process.pid}`);
});
for (const sig of ['SIGTERM', 'SIGINT'])
	process.on(sig, () => { io.close(); process.exit(0); });
