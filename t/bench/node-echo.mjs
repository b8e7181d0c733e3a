// t/bench/node-echo.mjs: the baseline for sio-load's echo and idle modes.
// The official Node socket.io server (from t/e2e/node_modules) with the
// sio-conformance semantics: "message" -> "message-back" with the same
// arguments, "message-with-ack" answered by its ack, "auth" emitted on
// connect with the handshake's auth payload.
// Usage: node t/bench/node-echo.mjs PORT   (env PING_INTERVAL, PING_TIMEOUT
// in ms, default 25000/20000).  Listens on 127.0.0.1 only.
import { createRequire } from 'node:module';
import { createServer } from 'node:http';

const require = createRequire(new URL('../e2e/package.json', import.meta.url));
const { Server } = require('socket.io');

const port = Number(process.argv[2] || process.env.PORT || 3520);
const http = createServer((req, res) => { res.writeHead(404); res.end(); });
const io = new Server(http, {
	pingInterval: Number(process.env.PING_INTERVAL || 25000),
	pingTimeout: Number(process.env.PING_TIMEOUT || 20000),
	connectTimeout: 45000,
	maxHttpBufferSize: 1e6,
	perMessageDeflate: false,
	httpCompression: false,
	cors: { origin: '*' },
});

io.on('connection', (socket) => {
	socket.emit('auth', socket.handshake.auth);
	socket.on('message', (...args) => socket.emit('message-back', ...args));
	socket.on('message-with-ack', (...args) => {
		const ack = args.pop();
		if (typeof ack === 'function')
			ack(...args);
	});
});

http.listen(port, '127.0.0.1', () => {
	console.log(`node-echo listening on 127.0.0.1:${port} pid ${process.pid}`);
});
for (const sig of ['SIGTERM', 'SIGINT'])
	process.on(sig, () => { io.close(); process.exit(0); });
