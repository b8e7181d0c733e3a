// nginx/public/api.js: the REST side of the web client (docs/api.md §1.5,
// §2): sign-in, registration, the session's tokens and authenticated
// requests.  The access token lives in memory and is refreshed shortly
// before its `exp`, and once more after any 401; the rotating refresh
// token is kept in localStorage.  Refreshes are serialised (across tabs
// too, with the Web Locks API where there is one), since presenting a
// refresh token twice makes the server revoke the whole session.

const RT_KEY = 'chat.refreshToken';
const LOCK = 'chat.refresh';

// The server said no: {status, message} from its JSON error body.
export class ApiError extends Error {
	constructor(status, body, retryAfter) {
		super(errorText(status, body, retryAfter));
		this.status = status;
		this.body = body;
		this.retryAfter = retryAfter;
	}
}

// The session is over (refresh token refused); sign in again.
export class SessionError extends Error {}

// The network or the server failed; worth another try later.
export class TransientError extends Error {
	constructor(message, retryAfter = 0) {
		super(message);
		this.retryAfter = retryAfter;
	}
}

function errorText(status, body, retryAfter) {
	if (status === 429)
		return `Too many attempts. Try again in ${retryAfter || 60} s.`;
	const m = body && body.message;
	if (Array.isArray(m))
		return m.map(String).join('. ');
	if (typeof m === 'string' && m !== '')
		return m;
	if (status === 413)
		return 'That file is too large.';
	return `Request failed (${status}).`;
}

let access = null;		// the access token, in memory only
let accessExp = 0;		// its exp, in ms since the epoch (our clock)
let accessAt = 0;		// when we got it
let refreshTimer = null;
let inflight = null;		// the refresh under way, shared by callers
const handlers = { sessionEnded: () => {}, tokenChanged: () => {} };

// hooks: {sessionEnded(reason), tokenChanged(token)}.
export function onSession(hooks) {
	Object.assign(handlers, hooks);
}

// The JWT payload, or null when the token is not a readable JWT.
export function decodeJwt(token) {
	try {
		const p = String(token).split('.');
		if (p.length !== 3)
			return null;
		let b = p[1].replace(/-/g, '+').replace(/_/g, '/');
		b += '='.repeat((4 - (b.length % 4)) % 4);
		const bin = atob(b);
		const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
		const o = JSON.parse(new TextDecoder().decode(bytes));
		return o && typeof o === 'object' ? o : null;
	} catch {
		return null;
	}
}

function storedRefresh() {
	try {
		return localStorage.getItem(RT_KEY);
	} catch {
		return null;
	}
}

function storeRefresh(rt) {
	try {
		if (rt)
			localStorage.setItem(RT_KEY, rt);
		else
			localStorage.removeItem(RT_KEY);
	} catch {
		/* private mode: the session lasts as long as the page */
	}
}

export function hasSession() {
	return !!storedRefresh();
}

export function refreshKey() {
	return RT_KEY;
}

// The user id and name the access token speaks for.
export function tokenUser() {
	const p = access ? decodeJwt(access) : null;
	return p ? { id: Number(p.sub), username: p.username } : null;
}

function setTokens(at, rt) {
	if (typeof at !== 'string' || typeof rt !== 'string')
		throw new TransientError('Unexpected answer from the server.');
	storeRefresh(rt);
	access = at;
	// The token's lifetime (exp - iat) counts from now, on our clock:
	// a browser whose clock is off still refreshes in time.
	const p = decodeJwt(at);
	const now = Date.now();
	let life = 60000;
	if (p && Number.isFinite(p.exp))
		life = Number.isFinite(p.iat) ? (p.exp - p.iat) * 1000 :
		    p.exp * 1000 - now;
	life = Math.max(10000, life);
	accessExp = now + life;
	accessAt = now;
	// Refresh a little before that: a tenth of the lifetime, at
	// least 5 s and at most 60 s early.
	const early = Math.min(60000, Math.max(5000, life / 10));
	clearTimeout(refreshTimer);
	refreshTimer = setTimeout(() => {
		refresh().catch(() => { /* retried on the next use */ });
	}, life - early);
	handlers.tokenChanged(at);
}

function clearTokens() {
	access = null;
	accessExp = 0;
	accessAt = 0;
	clearTimeout(refreshTimer);
	refreshTimer = null;
}

async function parseBody(res) {
	const text = await res.text();
	if (text === '')
		return null;
	try {
		return JSON.parse(text);
	} catch {
		return { message: text.slice(0, 200) };
	}
}

function retryAfterOf(res) {
	const n = Number(res.headers.get('Retry-After'));
	return Number.isFinite(n) && n > 0 ? Math.ceil(n) : 0;
}

async function send(method, path, { json, form, token } = {}) {
	const headers = { Accept: 'application/json' };
	let body;
	if (json !== undefined) {
		headers['Content-Type'] = 'application/json';
		body = JSON.stringify(json);
	} else if (form !== undefined) {
		body = form;
	}
	if (token)
		headers.Authorization = `Bearer ${token}`;
	let res;
	try {
		res = await fetch(path, {
			method, headers, body, credentials: 'same-origin',
			cache: 'no-store',
		});
	} catch {
		throw new TransientError('Cannot reach the server.');
	}
	const data = await parseBody(res);
	return { res, data };
}

// One refresh at a time, in this tab and (with Web Locks) in all tabs:
// inside the lock the stored token is read afresh, so a tab never
// presents a token another tab has already rotated away.
export function refresh() {
	if (inflight)
		return inflight;
	const run = async () => {
		const rt = storedRefresh();
		if (!rt)
			throw new SessionError('Signed out.');
		const { res, data } = await send('POST', '/auth/refresh',
		    { json: { refreshToken: rt } });
		if (res.ok) {
			setTokens(data && data.access_token,
			    data && data.refresh_token);
			return access;
		}
		if (res.status === 429 || res.status >= 500)
			throw new TransientError(errorText(res.status, data,
			    retryAfterOf(res)), retryAfterOf(res));
		// 400/401: this refresh token is dead, unless another tab
		// rotated it while we asked.
		if (storedRefresh() === rt)
			storeRefresh(null);
		clearTokens();
		const e = new SessionError('Your session has expired. Please sign in again.');
		handlers.sessionEnded(e.message);
		throw e;
	};
	const locked = navigator.locks && navigator.locks.request ?
	    () => navigator.locks.request(LOCK, run) : run;
	inflight = locked().finally(() => { inflight = null; });
	return inflight;
}

// A usable access token: the one in memory unless it expires within
// 15 s, else a fresh one.  force asks for a fresh one anyway, unless
// the one we hold is only seconds old (a refresh just happened).
export async function accessToken({ force = false } = {}) {
	const now = Date.now();
	if (access && accessExp - now > 15000 &&
	    (!force || now - accessAt < 5000))
		return access;
	return refresh();
}

// An authenticated request; after a 401 refreshes once and retries.
export async function api(method, path, opts = {}) {
	for (let attempt = 0; ; attempt++) {
		const token = await accessToken();
		const { res, data } = await send(method, path,
		    { ...opts, token });
		if (res.status === 401 && attempt === 0) {
			await refresh();
			continue;
		}
		if (!res.ok)
			throw new ApiError(res.status, data, retryAfterOf(res));
		return data;
	}
}

export async function login(username, password) {
	const { res, data } = await send('POST', '/auth/login',
	    { json: { username, password } });
	if (!res.ok) {
		if (res.status >= 500)
			throw new TransientError(errorText(res.status, data));
		throw new ApiError(res.status, data, retryAfterOf(res));
	}
	setTokens(data && data.access_token, data && data.refresh_token);
	return access;
}

// Registers, then signs in (register answers {id, username} only).
export async function register(username, password, displayName) {
	const body = { username, password };
	if (displayName)
		body.displayName = displayName;
	const { res, data } = await send('POST', '/auth/register',
	    { json: body });
	if (!res.ok) {
		if (res.status >= 500)
			throw new TransientError(errorText(res.status, data));
		throw new ApiError(res.status, data, retryAfterOf(res));
	}
	return login(username, password);
}

// Revokes the refresh token on the server (best effort) and forgets
// the session here.
export async function logout() {
	const rt = storedRefresh();
	storeRefresh(null);
	clearTokens();
	if (!rt)
		return;
	try {
		await send('POST', '/auth/logout', { json: { refreshToken: rt } });
	} catch {
		/* the token expires on its own */
	}
}

// Forget the session without telling the server (another tab logged out).
export function forget() {
	clearTokens();
}
