// nginx/public/ui.js: small DOM and formatting helpers for app.js.
// Everything that comes from users goes in as textContent or as a
// checked same-origin URL, never as HTML.

export const $ = (sel) => document.querySelector(sel);

// el('li', {className, dataset: {...}, textContent, ...}, ...children)
export function el(tag, props = {}, ...children) {
	const n = document.createElement(tag);
	for (const [k, v] of Object.entries(props)) {
		if (k === 'dataset')
			Object.assign(n.dataset, v);
		else if (k === 'ariaHidden')
			n.setAttribute('aria-hidden', v);
		else
			n[k] = v;
	}
	n.append(...children);
	return n;
}

// Makes parent's children exactly nodes, moving as few as it can (a
// node re-inserted would restart its animation and lose focus).
export function reconcile(parent, nodes) {
	let cur = parent.firstChild;
	for (const node of nodes) {
		if (node === cur) {
			cur = cur.nextSibling;
			continue;
		}
		parent.insertBefore(node, cur);
	}
	while (cur) {
		const next = cur.nextSibling;
		cur.remove();
		cur = next;
	}
}

export function codePoints(s) {
	return Array.from(String(s ?? '')).length;
}

export function displayName(u) {
	const d = u && typeof u.displayName === 'string' ?
	    u.displayName.trim() : '';
	return d || (u && u.username) || '?';
}

export function initials(u) {
	const words = displayName(u).split(/[\s_.-]+/).filter(Boolean);
	const first = (w) => Array.from(w)[0] || '';
	let s = words.length > 1 ? first(words[0]) + first(words[1]) :
	    Array.from(words[0] || '?').slice(0, 2).join('');
	s = s.toUpperCase();
	return s || '?';
}

const PALETTE = ['#e8590c', '#d6336c', '#ae3ec9', '#7048e8', '#4263eb',
    '#1c7ed6', '#1098ad', '#0ca678', '#37b24d', '#f59f00'];

function fallbackColor(name) {
	let h = 0;
	for (const ch of String(name))
		h = (h * 31 + ch.codePointAt(0)) >>> 0;
	return PALETTE[h % PALETTE.length];
}

// Only our own uploads (or plain http(s)) may become an <img src>.
export function safeUrl(u) {
	if (typeof u !== 'string' || u === '')
		return null;
	if (/^\/(?!\/)/.test(u))
		return u;
	try {
		const x = new URL(u, location.href);
		return x.protocol === 'http:' || x.protocol === 'https:' ?
		    x.href : null;
	} catch {
		return null;
	}
}

function safeColor(c) {
	return typeof c === 'string' && /^#[0-9a-f]{3,8}$/i.test(c) ? c : null;
}

// An avatar: the photo, or initials on the user's colour; with online
// set (true/false) it carries the presence dot.
export function avatar(u, { size = '', online } = {}) {
	const a = el('span', { className: `avatar ${size}`.trim() });
	a.dataset.testid = 'avatar';
	a.style.backgroundColor = safeColor(u && u.avatarColor) ||
	    fallbackColor(u && u.username);
	const url = safeUrl(u && u.avatarUrl);
	const showInitials = () => {
		a.replaceChildren(document.createTextNode(initials(u)));
		if (dot)
			a.append(dot);
		a.dataset.kind = 'initials';
	};
	let dot = null;
	if (online !== undefined) {
		dot = el('span', { className: 'dot' });
		dot.dataset.testid = 'online-dot';
		dot.hidden = !online;
		a.dataset.online = String(!!online);
	}
	if (url) {
		const img = el('img', { alt: '', src: url, decoding: 'async' });
		img.addEventListener('error', showInitials, { once: true });
		a.append(img);
		a.dataset.kind = 'photo';
		if (dot)
			a.append(dot);
	} else {
		showInitials();
	}
	a.setAttribute('aria-hidden', 'true');
	return a;
}

// Puts an avatar into slot unless the one there already shows the same.
export function setAvatar(slot, u, opts = {}) {
	const sig = JSON.stringify([u && u.avatarUrl, u && u.avatarColor,
	    displayName(u), opts.size || '', opts.online]);
	if (slot.dataset.sig === sig)
		return;
	slot.dataset.sig = sig;
	slot.replaceChildren(avatar(u, opts));
}

const timeFmt = new Intl.DateTimeFormat(undefined,
    { hour: '2-digit', minute: '2-digit' });
const dayFmt = new Intl.DateTimeFormat(undefined,
    { weekday: 'long', day: 'numeric', month: 'long' });
const yearDayFmt = new Intl.DateTimeFormat(undefined,
    { day: 'numeric', month: 'long', year: 'numeric' });
const weekdayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
const shortFmt = new Intl.DateTimeFormat(undefined,
    { day: 'numeric', month: 'short' });

function dateOf(iso) {
	const d = new Date(iso);
	return Number.isNaN(d.getTime()) ? new Date() : d;
}

function startOfDay(d) {
	return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
}

export function fmtTime(iso) {
	return timeFmt.format(dateOf(iso));
}

export function fmtDay(iso) {
	const d = dateOf(iso);
	const days = Math.round((startOfDay(new Date()) - startOfDay(d)) /
	    86400000);
	if (days === 0)
		return 'Today';
	if (days === 1)
		return 'Yesterday';
	return d.getFullYear() === new Date().getFullYear() ?
	    dayFmt.format(d) : yearDayFmt.format(d);
}

export function fmtListTime(iso) {
	const d = dateOf(iso);
	const days = Math.round((startOfDay(new Date()) - startOfDay(d)) /
	    86400000);
	if (days === 0)
		return fmtTime(iso);
	if (days < 7)
		return weekdayFmt.format(d);
	return shortFmt.format(d);
}

export function fmtLastSeen(iso) {
	const d = dateOf(iso);
	const mins = Math.floor((Date.now() - d.getTime()) / 60000);
	if (mins < 1)
		return 'Last seen just now';
	if (mins < 60)
		return `Last seen ${mins} min ago`;
	const day = fmtDay(iso);
	return `Last seen ${day === 'Today' || day === 'Yesterday' ?
	    day.toLowerCase() : day} at ${fmtTime(iso)}`;
}

export function toast(text, kind = '') {
	const box = $('#toasts');
	const t = el('div', { className: `toast ${kind}`.trim(),
	    textContent: text });
	if (kind === 'error')
		t.setAttribute('role', 'alert');
	box.append(t);
	while (box.children.length > 3)
		box.firstChild.remove();
	setTimeout(() => t.remove(), 4500);
}
