// t/e2e/lib/fcgi.mjs: the smallest FastCGI client that can ask one
// chat-fcgi instance a GET straight over its socket (no nginx), for tests
// of an instance started on its own.  One request per connection, as
// nginx does it here (no keep-conn).  FastCGI 1.0: BEGIN_REQUEST,
// PARAMS, empty STDIN; the STDOUT records hold a CGI response.
import net from 'node:net';

const VERSION = 1, BEGIN = 1, END = 3, PARAMS = 4, STDIN = 5, STDOUT = 6;

function record(type, body) {
	const pad = (8 - (body.length % 8)) % 8;
	const h = Buffer.alloc(8);
	h.writeUInt8(VERSION, 0);
	h.writeUInt8(type, 1);
	h.writeUInt16BE(1, 2);		// request id
	h.writeUInt16BE(body.length, 4);
	h.writeUInt8(pad, 6);
	return Buffer.concat([h, body, Buffer.alloc(pad)]);
}

function nameValue(name, value) {
	const n = Buffer.from(name), v = Buffer.from(value);
	const len = (x) => x.length < 128 ? Buffer.from([x.length]) :
	    Buffer.from([(x.length >>> 24) | 0x80, x.length >>> 16 & 255,
		x.length >>> 8 & 255, x.length & 255]);
	return Buffer.concat([len(n), len(v), n, v]);
}

// GET "path" from the FastCGI socket at "sock" (a unix path);
// resolves { status, headers, body }.
export function fcgiGet(sock, path, timeoutMs = 5000) {
	const params = {
		REQUEST_METHOD: 'GET', REQUEST_URI: path, SCRIPT_NAME: path,
		DOCUMENT_URI: path, QUERY_STRING: '', SERVER_PROTOCOL: 'HTTP/1.1',
		REMOTE_ADDR: '127.0.0.1', SERVER_NAME: 'localhost',
		SERVER_PORT: '80', CONTENT_LENGTH: '0', GATEWAY_INTERFACE: 'CGI/1.1',
	};
	const pbody = Buffer.concat(Object.entries(params).map(([k, v]) =>
	    nameValue(k, v)));
	const begin = Buffer.from([0, 1, 0, 0, 0, 0, 0, 0]);	// responder
	return new Promise((resolve, reject) => {
		const c = net.connect(sock);
		const chunks = [];
		const timer = setTimeout(() => { c.destroy();
			reject(new Error(`FastCGI ${path}: no answer`)); }, timeoutMs);
		c.on('connect', () => c.write(Buffer.concat([record(BEGIN, begin),
			record(PARAMS, pbody), record(PARAMS, Buffer.alloc(0)),
			record(STDIN, Buffer.alloc(0))])));
		c.on('data', (d) => chunks.push(d));
		c.on('error', (e) => { clearTimeout(timer); reject(e); });
		c.on('close', () => {
			clearTimeout(timer);
			let buf = Buffer.concat(chunks), out = Buffer.alloc(0);
			while (buf.length >= 8) {
				const type = buf.readUInt8(1), len = buf.readUInt16BE(4);
				const pad = buf.readUInt8(6);
				if (buf.length < 8 + len + pad)
					break;
				if (type === STDOUT)
					out = Buffer.concat([out, buf.subarray(8, 8 + len)]);
				buf = buf.subarray(8 + len + pad);
				if (type === END)
					break;
			}
			const text = out.toString();
			const cut = text.indexOf('\r\n\r\n');
			const head = cut < 0 ? text : text.slice(0, cut);
			const headers = {};
			for (const l of head.split('\r\n')) {
				const i = l.indexOf(':');
				if (i > 0)
					headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
			}
			const status = Number((headers.status || '200').split(' ')[0]);
			resolve({ status, headers, body: cut < 0 ? '' : text.slice(cut + 4) });
		});
	});
}
