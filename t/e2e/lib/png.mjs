// t/e2e/lib/png.mjs: PNG files made from scratch for the tests, no
// image library: chunks with their CRC, and whole RGB images
// (lib/api.mjs's tiny upload files, browser.test.mjs's avatar).

import zlib from 'node:zlib';

export const PNG_SIG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a,
    0x1a, 0x0a]);

const CRC_TABLE = (() => {
	const t = new Uint32Array(256);
	for (let n = 0; n < 256; n++) {
		let c = n;
		for (let k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
		t[n] = c >>> 0;
	}
	return t;
})();

function crc32(buf) {
	let c = 0xffffffff;
	for (const b of buf)
		c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
	return (c ^ 0xffffffff) >>> 0;
}

// One chunk: length, type, data, CRC of type and data.
export function pngChunk(type, data) {
	const len = Buffer.alloc(4);
	len.writeUInt32BE(data.length);
	const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
	const crc = Buffer.alloc(4);
	crc.writeUInt32BE(crc32(td));
	return Buffer.concat([len, td, crc]);
}

// An 8-bit RGB PNG of width x height, pixel(x, y) giving [r, g, b];
// the chunks in "extra" go between IHDR and IDAT.
export function pngRgb(width, height, pixel, extra = []) {
	const ihdr = Buffer.alloc(13);
	ihdr.writeUInt32BE(width, 0);
	ihdr.writeUInt32BE(height, 4);
	ihdr[8] = 8;		/* bit depth */
	ihdr[9] = 2;		/* RGB */
	const rows = [];
	for (let y = 0; y < height; y++) {
		const row = Buffer.alloc(1 + width * 3);	/* filter 0 */
		for (let x = 0; x < width; x++) {
			const [r, g, b] = pixel(x, y);
			row[1 + x * 3] = r;
			row[2 + x * 3] = g;
			row[3 + x * 3] = b;
		}
		rows.push(row);
	}
	return Buffer.concat([PNG_SIG, pngChunk('IHDR', ihdr), ...extra,
	    pngChunk('IDAT', zlib.deflateSync(Buffer.concat(rows))),
	    pngChunk('IEND', Buffer.alloc(0))]);
}
