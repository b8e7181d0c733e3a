// nginx/public/app.js: the web chat client.  Sign-in and registration,
// the conversation list (unread badges, avatars or coloured initials,
// online dots), the chat view (history paged on scroll, typing
// indicator, sent/read marks), the profile (avatar upload and removal,
// display name, log out).  Talks REST through api.js and Socket.IO
// (docs/api.md §4) through the global `io` of the bundle nginx serves.
// The socket reconnects by itself with a fresh token and catches up
// from history.  User content only ever reaches the page as textContent.

import * as auth from './api.js';
import {
	$, el, setAvatar, displayName, fmtTime, fmtDay, fmtListTime,
	fmtLastSeen, toast, reconcile, codePoints,
} from './ui.js';

const PAGE = 30;		// messages per history page
const TYPING_IDLE = 3000;	// stop "typing" after this long without keys
const TYPING_REPEAT = 2500;	// re-announce typing while still typing
const TYPING_SHOW = 6000;	// forget a peer's typing after this long
const ACK_TIMEOUT = 10000;

const state = {
	me: null,
	convs: new Map(),	// id -> {id, otherUser, unreadCount, createdAt, last}
	listLoaded: false,
	openId: null,
	msgs: new Map(),	// conversation id -> {byId, hasMore, loading, loaded}
	pending: [],		// messages not yet confirmed by the server
	typing: new Map(),	// conversation id -> timer of the peer's typing
	socket: null,
	connected: false,
};

let pendingSeq = 0;
let startRequested = 0;		// when we last asked startConversation
let ackWorks = false;		// the server answers acknowledgements
const histReqs = [];		// getMessages asked, oldest first

// ---------------------------------------------------------------------
// Screens

function show(which) {
	$('#boot').hidden = which !== 'boot';
	$('#auth').hidden = which !== 'auth';
	$('#app').hidden = which !== 'app';
}

// ---------------------------------------------------------------------
// Sign in / create account

let authMode = 'login';

function setAuthMode(mode) {
	authMode = mode;
	const reg = mode === 'register';
	$('#tab-login').setAttribute('aria-selected', String(!reg));
	$('#tab-register').setAttribute('aria-selected', String(reg));
	$('#auth-displayname-field').hidden = !reg;
	$('#auth-hint').hidden = !reg;
	$('#auth-title').textContent = reg ? 'Create your account' :
	    'Welcome back';
	$('#auth-sub').textContent = reg ?
	    'Pick a username your friends can find you by.' :
	    'Sign in to continue your conversations.';
	$('#auth-submit').textContent = reg ? 'Create account' : 'Sign in';
	$('#auth-password').autocomplete = reg ? 'new-password' :
	    'current-password';
	$('#auth-error').textContent = '';
}

function validateAuth(username, password, dn) {
	if (!/^[A-Za-z0-9_]{3,30}$/.test(username))
		return 'Username: 3–30 letters, digits or underscores.';
	if (authMode === 'register') {
		if (codePoints(password) < 6)
			return 'Password: at least 6 characters.';
		if (codePoints(dn) > 50)
			return 'Display name: at most 50 characters.';
	} else if (password === '') {
		return 'Enter your password.';
	}
	return null;
}

async function onAuthSubmit(ev) {
	ev.preventDefault();
	const username = $('#auth-username').value.trim();
	const password = $('#auth-password').value;
	const dn = $('#auth-displayname').value.trim();
	const err = $('#auth-error');
	const why = validateAuth(username, password, dn);
	if (why) {
		err.textContent = why;
		return;
	}
	err.textContent = '';
	const btn = $('#auth-submit');
	btn.disabled = true;
	try {
		if (authMode === 'register')
			await auth.register(username, password, dn);
		else
			await auth.login(username, password);
		$('#auth-password').value = '';
		await enterApp();
	} catch (e) {
		err.textContent = e.status === 401 ?
		    'Wrong username or password.' : e.message;
	} finally {
		btn.disabled = false;
	}
}

// ---------------------------------------------------------------------
// Starting and ending a session

async function enterApp() {
	const me = await auth.api('GET', '/users/me');
	resetChatState();
	state.me = me;
	renderMe();
	renderConversations();
	showConversation(null, { keepHash: true });
	show('app');
	connectSocket();
}

function resetChatState() {
	state.convs.clear();
	state.msgs.clear();
	state.pending = [];
	for (const t of state.typing.values())
		clearTimeout(t);
	state.typing.clear();
	state.listLoaded = false;
	state.openId = null;
	histReqs.length = 0;
	peeked.clear();
	cachedMsgNodes.clear();
	cachedConvNodes.clear();
}

function leaveApp(message) {
	stopTyping();
	closeSocket();
	resetChatState();
	state.me = null;
	const dlg = $('#profile');
	if (dlg.open)
		dlg.close();
	if (location.hash)
		history.replaceState(null, '', location.pathname);
	setAuthMode('login');
	show('auth');
	if (message)
		$('#auth-error').textContent = message;
}

async function logout() {
	$('#logout-button').disabled = true;
	try {
		await auth.logout();
	} finally {
		$('#logout-button').disabled = false;
		leaveApp();
	}
}

// ---------------------------------------------------------------------
// Socket.IO: connect, reconnect with a fresh token, catch up

let reconnectTimer = null;
let attempts = 0;
let connecting = false;
let needRefresh = false;

function setConn(s) {
	const d = $('#conn-dot');
	d.dataset.state = s;
	const label = { online: 'Connected', connecting: 'Connecting…',
	    offline: 'Offline, reconnecting…' }[s];
	d.setAttribute('aria-label', label);
	d.title = label;
}

function connectSocket() {
	if (typeof window.io !== 'function') {
		toast('Realtime connection unavailable (Socket.IO bundle missing).',
		    'error');
		setConn('offline');
		return;
	}
	closeSocket();
	const s = window.io({
		path: '/socket.io/',
		autoConnect: false,
		reconnection: false,	// ours, below: it refreshes the token
		timeout: 10000,
	});
	state.socket = s;
	bindSocket(s);
	attempts = 0;
	needRefresh = false;
	openSocket();
}

function closeSocket() {
	clearTimeout(reconnectTimer);
	reconnectTimer = null;
	connecting = false;
	const s = state.socket;
	state.socket = null;
	state.connected = false;
	if (s) {
		s.removeAllListeners();
		s.disconnect();
	}
}

async function openSocket() {
	clearTimeout(reconnectTimer);
	reconnectTimer = null;
	const s = state.socket;
	if (!s || s.connected || connecting)
		return;
	connecting = true;
	setConn('connecting');
	let token;
	try {
		token = await auth.accessToken({ force: needRefresh });
		needRefresh = false;
	} catch (e) {
		connecting = false;
		if (e instanceof auth.SessionError)
			return;		// sessionEnded has taken us to sign-in
		scheduleReconnect(e.retryAfter ? e.retryAfter * 1000 : 0);
		return;
	}
	if (s !== state.socket) {
		connecting = false;
		return;
	}
	s.auth = { token };
	s.connect();
}

function scheduleReconnect(minDelay = 0) {
	if (!state.socket || reconnectTimer)
		return;
	const base = Math.min(15000, 500 * 2 ** attempts);
	const delay = Math.max(minDelay, base * (0.7 + Math.random() * 0.6));
	attempts++;
	reconnectTimer = setTimeout(openSocket, delay);
}

function bindSocket(s) {
	s.on('connect', () => {
		connecting = false;
		attempts = 0;
		state.connected = true;
		setConn('online');
		// Catch up on whatever happened while we were away.
		for (const r of histReqs)
			r.done = true;	// their answers died with the old link
		histReqs.length = 0;
		for (const st of state.msgs.values())
			st.loading = false;
		s.emit('getConversations');
		if (state.openId !== null)
			requestHistory(state.openId, { catchUp: true });
		for (const p of state.pending)
			if (p.status === 'pending')
				emitPending(p);
	});
	s.on('connect_error', (err) => {
		connecting = false;
		state.connected = false;
		setConn('offline');
		// Refused (bad or expired token) or unreachable: either way
		// the next attempt carries a freshly refreshed token.
		needRefresh = true;
		void err;
		scheduleReconnect();
	});
	s.on('disconnect', (reason) => {
		state.connected = false;
		connecting = false;
		if (reason === 'io client disconnect')
			return;
		setConn('offline');
		needRefresh = true;
		clearPeerTyping();
		scheduleReconnect(attempts === 0 ? 300 : 0);
	});

	s.on('conversationsList', onConversationsList);
	s.on('openConversation', (d) => {
		if (!d || !Number.isFinite(Number(d.conversationId)))
			return;
		if (Date.now() - startRequested > 15000)
			return;		// someone else's request (another tab)
		startRequested = 0;
		const b = $('#new-chat-input');
		b.value = '';
		navigate(Number(d.conversationId));
		$('#composer-input').focus();
	});
	s.on('newMessage', (m) => onMessage(m, false));
	s.on('messageSent', (m) => onMessage(m, true));
	s.on('messageHistory', (d) => {
		if (ackWorks)
			return;		// the acknowledgement carries it
		let i = histReqs.findIndex((r) => !r.done);
		const cid = d && Array.isArray(d.messages) && d.messages[0] ?
		    Number(d.messages[0].conversationId) : null;
		if (cid !== null) {
			const j = histReqs.findIndex((r) => !r.done &&
			    r.convId === cid);
			if (j >= 0)
				i = j;
		}
		if (i >= 0)
			finishHistory(histReqs[i], d);
	});
	s.on('messagesRead', (d) => {
		const cid = Number(d && d.conversationId);
		const st = state.msgs.get(cid);
		if (!st)
			return;
		const at = (d && d.readAt) || new Date().toISOString();
		for (const m of st.byId.values())
			if (m.senderId === state.me.id && !m.readAt)
				m.readAt = at;
		if (cid === state.openId)
			renderMessages();
	});
	s.on('userTyping', (d) => setPeerTyping(d, true));
	s.on('userStoppedTyping', (d) => setPeerTyping(d, false));
	s.on('userOnline', (d) => setOnline(Number(d && d.userId), true));
	s.on('userOffline', (d) => setOnline(Number(d && d.userId), false));
	s.on('onlineUsers', (ids) => {
		if (!Array.isArray(ids))
			return;
		const on = new Set(ids.map(Number));
		for (const c of state.convs.values())
			c.otherUser.isOnline = on.has(c.otherUser.id);
		renderConversations();
		renderChatHead();
	});
	s.on('error', (d) => {
		const msg = (d && typeof d.message === 'string') ? d.message :
		    'Something went wrong.';
		if (startRequested && Date.now() - startRequested < 15000) {
			startRequested = 0;
			$('#new-chat-error').textContent = msg;
			return;
		}
		toast(msg, 'error');
	});
}

// ---------------------------------------------------------------------
// Conversations

function convFrom(raw) {
	const ou = raw.otherUser || {};
	const old = state.convs.get(Number(raw.id));
	return {
		id: Number(raw.id),
		otherUser: {
			id: Number(ou.id),
			username: String(ou.username ?? ''),
			displayName: ou.displayName ?? null,
			avatarUrl: ou.avatarUrl ?? null,
			avatarColor: ou.avatarColor ?? null,
			isOnline: !!ou.isOnline,
			lastSeenAt: ou.lastSeenAt ?? null,
		},
		unreadCount: Math.max(0, Number(raw.unreadCount) || 0),
		createdAt: raw.createdAt,
		last: old ? old.last : null,
	};
}

function onConversationsList(list) {
	if (!Array.isArray(list))
		return;
	const seen = new Set();
	for (const raw of list) {
		if (!raw || !Number.isFinite(Number(raw.id)))
			continue;
		const c = convFrom(raw);
		seen.add(c.id);
		const st = state.msgs.get(c.id);
		if (st)
			for (const m of st.byId.values())
				noteLast(c, m);
		state.convs.set(c.id, c);
	}
	for (const id of [...state.convs.keys()])
		if (!seen.has(id))
			state.convs.delete(id);
	const first = !state.listLoaded;
	state.listLoaded = true;
	if (state.openId !== null && state.convs.has(state.openId))
		markReadSoon(state.openId);
	renderConversations();
	renderChatHead();
	if (first || (state.openId === null && hashConv() !== null))
		showConversation(hashConv(), { keepHash: true });
	peekLast();
}

// The list carries no last message: ask for the newest one of each
// conversation (the first PEEK_MAX, once a session), for the preview
// line and the order.
const PEEK_MAX = 25;
const peeked = new Set();

function peekLast() {
	const s = state.socket;
	if (!s || !state.connected)
		return;
	let n = 0;
	for (const c of sortedConvs()) {
		if (n >= PEEK_MAX)
			break;
		if (c.last || peeked.has(c.id) || c.id === state.openId)
			continue;
		peeked.add(c.id);
		n++;
		const req = { convId: c.id, peek: true, done: false };
		histReqs.push(req);
		s.timeout(ACK_TIMEOUT).emit('getMessages',
		    { conversationId: c.id, limit: 1 }, (err, res) => {
			if (!err)
				ackWorks = true;
			if (!req.done)
				finishHistory(req, err ? null : res);
		});
	}
}

function activity(c) {
	const t = c.last ? Date.parse(c.last.createdAt) : NaN;
	return Number.isFinite(t) ? t : (Date.parse(c.createdAt) || 0);
}

function sortedConvs() {
	return [...state.convs.values()].sort((a, b) =>
	    activity(b) - activity(a) || b.id - a.id);
}

const cachedConvNodes = new Map();

function convNode(c) {
	let li = cachedConvNodes.get(c.id);
	if (!li) {
		li = el('li', { className: 'conv-li' });
		const b = el('button', {
			type: 'button', className: 'conv',
			dataset: { testid: 'conversation-item',
			    conversationId: String(c.id) },
		});
		b.addEventListener('click', () => navigate(c.id));
		b.append(
		    el('span', { className: 'avatar-slot' }),
		    el('span', { className: 'conv-text' },
			el('span', { className: 'conv-top' },
			    el('span', { className: 'conv-name',
				dataset: { testid: 'conversation-name' } }),
			    el('time', { className: 'conv-time' })),
			el('span', { className: 'conv-bottom' },
			    el('span', { className: 'conv-preview',
				dataset: { testid: 'conversation-preview' } }),
			    el('span', { className: 'badge',
				dataset: { testid: 'unread-badge' } }))));
		li.append(b);
		cachedConvNodes.set(c.id, li);
	}
	const b = li.firstChild;
	const u = c.otherUser;
	const name = displayName(u);
	b.dataset.username = u.username;
	b.setAttribute('aria-current', String(c.id === state.openId));
	b.classList.toggle('has-unread', c.unreadCount > 0);
	setAvatar(b.querySelector('.avatar-slot'), u,
	    { online: u.isOnline });
	b.querySelector('.conv-name').textContent = name;
	const t = b.querySelector('.conv-time');
	t.textContent = c.last ? fmtListTime(c.last.createdAt) : '';
	t.dateTime = c.last ? c.last.createdAt : '';
	const pv = b.querySelector('.conv-preview');
	const typing = state.typing.has(c.id);
	pv.classList.toggle('is-typing', typing);
	if (typing)
		pv.textContent = 'typing…';
	else if (c.last)
		pv.textContent = (c.last.senderId === state.me.id ? 'You: ' :
		    '') + c.last.content;
	else
		pv.textContent = `@${u.username}`;
	const badge = b.querySelector('.badge');
	badge.hidden = c.unreadCount === 0;
	badge.textContent = c.unreadCount > 99 ? '99+' :
	    String(c.unreadCount);
	badge.setAttribute('aria-label', `${c.unreadCount} unread`);
	const status = u.isOnline ? 'online' : 'offline';
	b.setAttribute('aria-label', `${name}, ${status}` +
	    (c.unreadCount ? `, ${c.unreadCount} unread` : '') +
	    (typing ? ', typing' : ''));
	return li;
}

function renderConversations() {
	if (!state.me)
		return;
	const list = sortedConvs();
	for (const id of [...cachedConvNodes.keys()])
		if (!state.convs.has(id))
			cachedConvNodes.delete(id);
	reconcile($('#conv-list'), list.map(convNode));
	$('#conv-empty').hidden = !state.listLoaded || list.length > 0;
	const unread = list.reduce((n, c) => n + c.unreadCount, 0);
	document.title = unread ? `(${unread}) Chat` : 'Chat';
}

function onNewChat(ev) {
	ev.preventDefault();
	const input = $('#new-chat-input');
	const name = input.value.trim().replace(/^@/, '');
	const err = $('#new-chat-error');
	err.textContent = '';
	if (!/^[A-Za-z0-9_]{3,30}$/.test(name)) {
		err.textContent = 'Usernames are 3–30 letters, digits or underscores.';
		return;
	}
	if (name.toLowerCase() === state.me.username.toLowerCase()) {
		err.textContent = 'That’s you. Pick someone else.';
		return;
	}
	for (const c of state.convs.values()) {
		if (c.otherUser.username.toLowerCase() === name.toLowerCase()) {
			input.value = '';
			navigate(c.id);
			$('#composer-input').focus();
			return;
		}
	}
	if (!state.connected) {
		err.textContent = 'Not connected. Try again in a moment.';
		return;
	}
	startRequested = Date.now();
	state.socket.emit('startConversation', { recipientUsername: name });
}

// ---------------------------------------------------------------------
// Routing: #/c/<id> is the open conversation, so a reload returns to it.

function hashConv() {
	const m = /^#\/c\/(\d+)$/.exec(location.hash);
	return m ? Number(m[1]) : null;
}

function navigate(id) {
	const h = id === null ? '#/' : `#/c/${id}`;
	if (location.hash === h)
		showConversation(id);
	else
		location.hash = h;
}

window.addEventListener('hashchange', () => {
	if (state.me)
		showConversation(hashConv(), { keepHash: true });
});

function showConversation(id, { keepHash = false } = {}) {
	if (id !== null && !state.convs.has(id)) {
		if (state.listLoaded && !keepHash)
			toast('That conversation is not available.', 'error');
		id = null;
	}
	if (id !== state.openId)
		stopTyping();
	const changed = id !== state.openId;
	state.openId = id;
	$('#app').classList.toggle('show-chat', id !== null);
	$('#chat-view').hidden = id === null;
	$('#chat-empty').hidden = id !== null;
	renderConversations();
	if (id === null)
		return;
	if (changed) {
		$('#composer-input').value = draftOf(id);
		autosize();
		cachedMsgNodes.clear();
		$('#message-items').replaceChildren();
		stickToBottom = true;
	}
	renderChatHead();
	const st = msgState(id);
	if (!st.loaded && !st.loading)
		requestHistory(id, {});
	renderMessages();
	markReadSoon(id);
}

// Drafts, per conversation, kept while the page lives.
const drafts = new Map();
function draftOf(id) {
	return drafts.get(id) || '';
}

// ---------------------------------------------------------------------
// Messages

function msgState(id) {
	let st = state.msgs.get(id);
	if (!st) {
		st = { byId: new Map(), hasMore: false, loading: false,
		    loaded: false };
		state.msgs.set(id, st);
	}
	return st;
}

function normMsg(m) {
	return {
		id: Number(m.id),
		content: String(m.content ?? ''),
		senderId: Number(m.senderId),
		senderUsername: String(m.senderUsername ?? ''),
		conversationId: Number(m.conversationId),
		createdAt: String(m.createdAt ?? new Date().toISOString()),
		readAt: m.readAt ?? null,
	};
}

function noteLast(c, m) {
	if (!c.last || m.id >= c.last.id)
		c.last = m;
}

function onMessage(raw, mine) {
	if (!raw || !Number.isFinite(Number(raw.id)))
		return;
	const m = normMsg(raw);
	const cid = m.conversationId;
	if (mine) {
		const i = state.pending.findIndex((p) =>
		    p.conversationId === cid && p.content === m.content &&
		    p.status !== 'sent');
		if (i >= 0)
			confirmPending(state.pending[i], m);
	}
	const st = msgState(cid);
	const had = st.byId.has(m.id);
	const old = st.byId.get(m.id);
	st.byId.set(m.id, old ? { ...old, ...m,
	    readAt: m.readAt ?? old.readAt } : m);
	const c = state.convs.get(cid);
	if (!c) {
		// A conversation we have not heard of: the list knows it.
		state.socket && state.socket.emit('getConversations');
		return;
	}
	noteLast(c, m);
	if (!mine && !had) {
		clearPeerTypingOf(cid);
		if (cid === state.openId && document.visibilityState === 'visible')
			markReadSoon(cid);
		else
			c.unreadCount++;
	}
	renderConversations();
	if (cid === state.openId) {
		if (mine)
			stickToBottom = true;
		renderMessages();
		renderChatHead();
	}
}

function requestHistory(id, { before, catchUp = false }) {
	const s = state.socket;
	const st = msgState(id);
	if (!s || !state.connected || st.loading)
		return;
	st.loading = true;
	const req = { convId: id, before, catchUp, done: false };
	histReqs.push(req);
	const payload = { conversationId: id, limit: PAGE };
	if (before !== undefined)
		payload.before = before;
	if (id === state.openId)
		renderHistoryTop();
	s.timeout(ACK_TIMEOUT).emit('getMessages', payload, (err, res) => {
		if (err) {
			// No answer: let a later scroll or reconnect ask again.
			if (!req.done)
				finishHistory(req, null);
			return;
		}
		ackWorks = true;
		if (!req.done)
			finishHistory(req, res);
	});
}

function finishHistory(req, res) {
	req.done = true;
	const i = histReqs.indexOf(req);
	if (i >= 0)
		histReqs.splice(i, 1);
	if (req.peek) {
		const c = state.convs.get(req.convId);
		const m = res && Array.isArray(res.messages) ?
		    res.messages[0] : null;
		if (c && m && Number.isFinite(Number(m.id))) {
			noteLast(c, normMsg(m));
			renderConversations();
		}
		return;
	}
	const st = msgState(req.convId);
	st.loading = false;
	if (!res || res.error || !Array.isArray(res.messages)) {
		if (res && res.error)
			toast(String(res.error.message ?? res.error), 'error');
		if (req.convId === state.openId)
			renderHistoryTop();
		return;
	}
	const got = res.messages.filter((m) => m && Number.isFinite(
	    Number(m.id))).map(normMsg).sort((a, b) => a.id - b.id);
	const hasMore = !!res.hasMore;
	const wasOpen = req.convId === state.openId;
	if (req.before !== undefined) {
		for (const m of got)
			if (!st.byId.has(m.id))
				st.byId.set(m.id, m);
		st.hasMore = hasMore;
		if (wasOpen)
			keepScrollOnPrepend = true;
	} else {
		// The newest page: merged when it joins what we hold, else
		// it replaces it (we missed more than a page).
		const newest = Math.max(0, ...st.byId.keys());
		const joins = st.byId.size === 0 || got.length === 0 ||
		    got[0].id <= newest || !hasMore;
		if (!joins)
			st.byId.clear();
		for (const m of got) {
			const old = st.byId.get(m.id);
			st.byId.set(m.id, old ? { ...old, ...m } : m);
		}
		if (!st.loaded || !joins)
			st.hasMore = hasMore;
		if (wasOpen && !req.catchUp)
			stickToBottom = true;
	}
	st.loaded = true;
	const c = state.convs.get(req.convId);
	if (c && got.length)
		noteLast(c, got[got.length - 1]);
	renderConversations();
	if (wasOpen) {
		renderMessages();
		markReadSoon(req.convId);
	}
}

// The open conversation has unread messages from the peer: markRead,
// once the burst of events has settled.
let markTimer = null;
function markReadSoon(id) {
	clearTimeout(markTimer);
	markTimer = setTimeout(() => {
		if (id !== state.openId || !state.connected ||
		    document.visibilityState !== 'visible')
			return;
		const c = state.convs.get(id);
		const st = state.msgs.get(id);
		let unread = c && c.unreadCount > 0;
		if (st)
			for (const m of st.byId.values())
				if (m.senderId !== state.me.id && !m.readAt)
					unread = true;
		if (!unread)
			return;
		const now = new Date().toISOString();
		if (st)
			for (const m of st.byId.values())
				if (m.senderId !== state.me.id && !m.readAt)
					m.readAt = now;
		if (c)
			c.unreadCount = 0;
		state.socket.emit('markRead', { conversationId: id });
		renderConversations();
	}, 120);
}

document.addEventListener('visibilitychange', () => {
	if (document.visibilityState !== 'visible' || !state.me)
		return;
	if (state.openId !== null)
		markReadSoon(state.openId);
	if (state.socket && !state.connected && !connecting) {
		attempts = 0;
		openSocket();
	}
});
window.addEventListener('online', () => {
	if (state.socket && !state.connected && !connecting) {
		attempts = 0;
		openSocket();
	}
});

// --- sending -----------------------------------------------------------

function newClientId() {
	if (crypto.randomUUID)
		return crypto.randomUUID();
	const b = crypto.getRandomValues(new Uint8Array(16));
	return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function onSend(ev) {
	ev.preventDefault();
	const id = state.openId;
	const c = state.convs.get(id);
	const ta = $('#composer-input');
	const content = ta.value.trim();
	if (!c || content === '')
		return;
	if (codePoints(content) > 5000) {
		toast('Messages can be at most 5000 characters.', 'error');
		return;
	}
	const p = {
		tempId: ++pendingSeq,
		clientMessageId: newClientId(),
		conversationId: id,
		recipientId: c.otherUser.id,
		content,
		senderId: state.me.id,
		createdAt: new Date().toISOString(),
		status: 'pending',
	};
	state.pending.push(p);
	ta.value = '';
	drafts.delete(id);
	autosize();
	stopTyping();
	stickToBottom = true;
	renderMessages();
	emitPending(p);
}

function emitPending(p) {
	const s = state.socket;
	if (!s || !state.connected)
		return;		// sent on (re)connect
	s.timeout(ACK_TIMEOUT).emit('sendMessage', {
		recipientId: p.recipientId,
		content: p.content,
		clientMessageId: p.clientMessageId,
	}, (err, res) => {
		if (err || p.status === 'sent')
			return;	// no ack: messageSent or a resend settles it
		ackWorks = true;
		if (res && res.error) {
			p.status = 'failed';
			p.error = String(res.error.message ?? res.error);
			if (p.conversationId === state.openId)
				renderMessages();
			return;
		}
		if (res && Number.isFinite(Number(res.id)))
			onMessage(res, true);
	});
}

function confirmPending(p, m) {
	p.status = 'sent';
	state.pending.splice(state.pending.indexOf(p), 1);
	// The bubble stays: its node is re-keyed to the stored message.
	const node = cachedMsgNodes.get(`p${p.tempId}`);
	if (node && !cachedMsgNodes.has(`m${m.id}`)) {
		cachedMsgNodes.delete(`p${p.tempId}`);
		cachedMsgNodes.set(`m${m.id}`, node);
	}
}

function retryPending(p) {
	p.status = 'pending';
	delete p.error;
	renderMessages();
	emitPending(p);
}

// --- typing ---------------------------------------------------------------

let typingConv = null;
let typingSentAt = 0;
let typingIdle = null;

function onComposerInput() {
	autosize();
	const id = state.openId;
	if (id === null)
		return;
	const ta = $('#composer-input');
	drafts.set(id, ta.value);
	if (ta.value.trim() === '') {
		stopTyping();
		return;
	}
	const now = Date.now();
	if (state.connected && (typingConv !== id ||
	    now - typingSentAt > TYPING_REPEAT)) {
		if (typingConv !== null && typingConv !== id)
			stopTyping();
		state.socket.emit('typing', { conversationId: id });
		typingConv = id;
		typingSentAt = now;
	}
	clearTimeout(typingIdle);
	typingIdle = setTimeout(stopTyping, TYPING_IDLE);
}

function stopTyping() {
	clearTimeout(typingIdle);
	typingIdle = null;
	if (typingConv !== null && state.connected)
		state.socket.emit('stopTyping', { conversationId: typingConv });
	typingConv = null;
	typingSentAt = 0;
}

function setPeerTyping(d, on) {
	const cid = Number(d && d.conversationId);
	const uid = Number(d && d.userId);
	if (!Number.isFinite(cid) || (state.me && uid === state.me.id))
		return;
	clearTimeout(state.typing.get(cid));
	if (on)
		state.typing.set(cid, setTimeout(() => clearPeerTypingOf(cid),
		    TYPING_SHOW));
	else
		state.typing.delete(cid);
	renderConversations();
	if (cid === state.openId)
		renderChatHead();
}

function clearPeerTypingOf(cid) {
	if (!state.typing.has(cid))
		return;
	clearTimeout(state.typing.get(cid));
	state.typing.delete(cid);
	renderConversations();
	if (cid === state.openId)
		renderChatHead();
}

function clearPeerTyping() {
	for (const cid of [...state.typing.keys()])
		clearPeerTypingOf(cid);
}

// --- presence ---------------------------------------------------------------

function setOnline(uid, on) {
	if (!Number.isFinite(uid))
		return;
	let hit = false;
	for (const c of state.convs.values()) {
		if (c.otherUser.id !== uid)
			continue;
		c.otherUser.isOnline = on;
		if (!on)
			c.otherUser.lastSeenAt = new Date().toISOString();
		hit = true;
	}
	if (!hit)
		return;
	renderConversations();
	renderChatHead();
}

// ---------------------------------------------------------------------
// Rendering the chat

function renderMe() {
	const me = state.me;
	setAvatar($('#me-avatar'), me, { size: 'sm' });
	$('#me-name').textContent = displayName(me);
	$('#me-user').textContent = `@${me.username}`;
	setAvatar($('#profile-avatar'), me, { size: 'lg' });
	$('#avatar-remove').hidden = !me.avatarUrl;
	$('#me-button').setAttribute('aria-label',
	    `Your profile: ${displayName(me)}`);
}

function renderChatHead() {
	const c = state.convs.get(state.openId);
	if (!c)
		return;
	const u = c.otherUser;
	setAvatar($('#chat-avatar'), u, { online: u.isOnline, size: 'sm' });
	$('#chat-title').textContent = displayName(u);
	$('#chat-title').title = `@${u.username}`;
	const status = $('#chat-status');
	const typing = state.typing.has(c.id);
	status.className = 'chat-status' + (typing ? ' is-typing' :
	    u.isOnline ? ' online' : '');
	status.textContent = typing ? 'typing…' : u.isOnline ? 'Online' :
	    u.lastSeenAt ? fmtLastSeen(u.lastSeenAt) : `@${u.username}`;
	const ind = $('#typing');
	ind.hidden = !typing;
	$('#typing-text').textContent = typing ?
	    `${displayName(u)} is typing…` : '';
}

const cachedMsgNodes = new Map();	// 'm<id>' | 'p<tempId>' | 'd<day>'
let stickToBottom = true;
let keepScrollOnPrepend = false;

function msgNode(key, m, mine, status) {
	let li = cachedMsgNodes.get(key);
	if (!li) {
		li = el('li', { className: 'msg' },
		    el('span', { className: 'msg-text' }),
		    el('span', { className: 'msg-meta' },
			el('time', {}),
			el('span', { className: 'tick', ariaHidden: 'true' })));
		li.dataset.testid = 'message';
		cachedMsgNodes.set(key, li);
	}
	li.classList.toggle('mine', mine);
	li.dataset.own = String(mine);
	li.dataset.status = status;
	if (m.id !== undefined)
		li.dataset.messageId = String(m.id);
	else
		delete li.dataset.messageId;
	const text = li.firstChild;
	if (text.textContent !== m.content)
		text.textContent = m.content;
	const time = li.querySelector('time');
	time.dateTime = m.createdAt;
	time.textContent = fmtTime(m.createdAt);
	const tick = li.querySelector('.tick');
	const old = li.querySelector('.msg-retry');
	if (old)
		old.remove();
	if (mine) {
		tick.textContent = { pending: '🕓', sent: '✓', read: '✓✓',
		    failed: '!' }[status];
		const label = { pending: 'Sending', sent: 'Sent',
		    read: 'Read', failed: 'Not sent' }[status];
		li.setAttribute('aria-label', `You: ${m.content}. ${label}`);
		if (status === 'failed') {
			const r = el('button', { type: 'button',
			    className: 'msg-retry', textContent: 'Retry' });
			r.title = m.error || 'Not sent';
			r.addEventListener('click', () => retryPending(m));
			li.querySelector('.msg-meta').append(r);
		}
	} else {
		tick.textContent = '';
		li.removeAttribute('aria-label');
	}
	return li;
}

function dayNode(iso) {
	const key = `d${fmtDay(iso)}`;
	let li = cachedMsgNodes.get(key);
	if (!li) {
		li = el('li', { className: 'day', textContent: fmtDay(iso) });
		li.setAttribute('role', 'separator');
		cachedMsgNodes.set(key, li);
	}
	return li;
}

function renderHistoryTop() {
	const st = state.msgs.get(state.openId);
	const top = $('#history-top');
	if (!st || !st.loaded) {
		top.textContent = st && st.loading ? 'Loading messages…' : '';
		return;
	}
	top.textContent = st.loading ? 'Loading earlier messages…' :
	    st.hasMore ? '' : (st.byId.size ? 'This is the beginning of your conversation.' :
	    'No messages yet. Say hello!');
	top.dataset.state = st.loading ? 'loading' : st.hasMore ? 'more' :
	    'start';
}

function renderMessages() {
	const id = state.openId;
	if (id === null)
		return;
	const box = $('#messages');
	const st = msgState(id);
	const nearBottom = box.scrollHeight - box.scrollTop -
	    box.clientHeight < 80;
	const fromBottom = box.scrollHeight - box.scrollTop;
	const items = [...st.byId.values()].sort((a, b) => a.id - b.id)
	    .map((m) => ({ key: `m${m.id}`, m, mine: m.senderId === state.me.id,
		status: m.senderId === state.me.id ? (m.readAt ? 'read' :
		    'sent') : 'received' }));
	for (const p of state.pending)
		if (p.conversationId === id)
			items.push({ key: `p${p.tempId}`, m: p, mine: true,
			    status: p.status });
	const nodes = [];
	const used = new Set();
	let prev = null;
	let prevDay = null;
	for (const it of items) {
		const day = fmtDay(it.m.createdAt);
		if (day !== prevDay) {
			nodes.push(dayNode(it.m.createdAt));
			used.add(`d${day}`);
			prevDay = day;
			prev = null;
		}
		const n = msgNode(it.key, it.m, it.mine, it.status);
		n.classList.toggle('cont', !!prev && prev.m.senderId ===
		    it.m.senderId && Date.parse(it.m.createdAt) -
		    Date.parse(prev.m.createdAt) < 5 * 60000);
		nodes.push(n);
		used.add(it.key);
		prev = it;
	}
	for (const k of [...cachedMsgNodes.keys()])
		if (!used.has(k))
			cachedMsgNodes.delete(k);
	reconcile($('#message-items'), nodes);
	renderHistoryTop();
	if (keepScrollOnPrepend) {
		keepScrollOnPrepend = false;
		box.scrollTop = box.scrollHeight - fromBottom;
	} else if (stickToBottom || nearBottom) {
		box.scrollTop = box.scrollHeight;
	}
	stickToBottom = false;
	// Not enough to scroll yet: fetch more so the user can.
	if (st.loaded && st.hasMore && !st.loading &&
	    box.scrollHeight <= box.clientHeight + 40) {
		const oldest = Math.min(...st.byId.keys());
		requestHistory(id, { before: oldest });
	}
}

function onMessagesScroll() {
	const id = state.openId;
	const st = id === null ? null : state.msgs.get(id);
	if (!st || !st.loaded || !st.hasMore || st.loading)
		return;
	if ($('#messages').scrollTop > 120 || st.byId.size === 0)
		return;
	requestHistory(id, { before: Math.min(...st.byId.keys()) });
}

function autosize() {
	const ta = $('#composer-input');
	ta.style.height = 'auto';
	ta.style.height = `${Math.min(160, ta.scrollHeight + 2)}px`;
}

// ---------------------------------------------------------------------
// Profile

function openProfile() {
	$('#displayname-input').value = state.me.displayName || '';
	$('#profile-error').textContent = '';
	$('#profile-note').textContent = '';
	renderMe();
	$('#profile').showModal();
}

async function profileAction(fn, okNote) {
	const err = $('#profile-error');
	const note = $('#profile-note');
	err.textContent = '';
	note.textContent = '';
	const dlg = $('#profile');
	dlg.setAttribute('aria-busy', 'true');
	try {
		await fn();
		renderMe();
		note.textContent = okNote;
	} catch (e) {
		if (e instanceof auth.SessionError)
			return;
		err.textContent = e.message;
	} finally {
		dlg.removeAttribute('aria-busy');
	}
}

async function onAvatarChosen(ev) {
	const input = ev.target;
	const f = input.files && input.files[0];
	if (!f)
		return;
	if (!/^image\/(png|jpeg|webp)$/.test(f.type)) {
		$('#profile-error').textContent = 'Only jpg, png, webp allowed';
		input.value = '';
		return;
	}
	if (f.size > 2 * 1024 * 1024) {
		$('#profile-error').textContent = 'That file is larger than 2 MB.';
		input.value = '';
		return;
	}
	await profileAction(async () => {
		const fd = new FormData();
		fd.append('avatar', f, f.name);
		const r = await auth.api('POST', '/users/me/avatar',
		    { form: fd });
		state.me.avatarUrl = r && r.avatarUrl ? r.avatarUrl : null;
	}, 'Photo updated.');
	input.value = '';
}

async function onAvatarRemove() {
	await profileAction(async () => {
		await auth.api('DELETE', '/users/me/avatar');
		state.me.avatarUrl = null;
	}, 'Photo removed.');
}

async function onProfileSave(ev) {
	ev.preventDefault();
	const dn = $('#displayname-input').value.trim();
	if (codePoints(dn) > 50) {
		$('#profile-error').textContent =
		    'Display name: at most 50 characters.';
		return;
	}
	await profileAction(async () => {
		const r = await auth.api('PATCH', '/users/me',
		    { json: { displayName: dn } });
		if (r && typeof r === 'object')
			for (const k of ['displayName', 'avatarUrl', 'avatarColor'])
				if (k in r)
					state.me[k] = r[k];
	}, 'Name saved.');
}

// ---------------------------------------------------------------------
// Wiring

function wire() {
	$('#tab-login').addEventListener('click', () => setAuthMode('login'));
	$('#tab-register').addEventListener('click',
	    () => setAuthMode('register'));
	$('#auth-form').addEventListener('submit', onAuthSubmit);
	$('#new-chat').addEventListener('submit', onNewChat);
	$('#new-chat-input').addEventListener('input', () => {
		$('#new-chat-error').textContent = '';
	});
	$('#composer').addEventListener('submit', onSend);
	const ta = $('#composer-input');
	ta.addEventListener('input', onComposerInput);
	ta.addEventListener('keydown', (ev) => {
		if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
			ev.preventDefault();
			$('#composer').requestSubmit();
		}
	});
	ta.addEventListener('blur', stopTyping);
	$('#messages').addEventListener('scroll', onMessagesScroll,
	    { passive: true });
	$('#back-button').addEventListener('click', () => navigate(null));
	$('#me-button').addEventListener('click', openProfile);
	$('#avatar-input').addEventListener('change', onAvatarChosen);
	$('#avatar-remove').addEventListener('click', onAvatarRemove);
	$('#profile-form').addEventListener('submit', onProfileSave);
	$('#logout-button').addEventListener('click', logout);
	window.addEventListener('storage', (ev) => {
		// Another tab logged out.
		if (ev.key === auth.refreshKey() && ev.newValue === null &&
		    state.me) {
			auth.forget();
			leaveApp('You signed out in another tab.');
		}
	});
	auth.onSession({
		sessionEnded: (why) => {
			if (state.me)
				leaveApp(why);
		},
	});
}

async function boot() {
	wire();
	setAuthMode('login');
	if (!auth.hasSession()) {
		show('auth');
		return;
	}
	for (let i = 0; ; i++) {
		try {
			await auth.refresh();
			await enterApp();
			return;
		} catch (e) {
			if (e instanceof auth.SessionError ||
			    !(e instanceof auth.TransientError) || i >= 4) {
				show('auth');
				if (!(e instanceof auth.SessionError))
					$('#auth-error').textContent = e.message;
				return;
			}
			await new Promise((r) => setTimeout(r,
			    Math.max(1000 * 2 ** i, (e.retryAfter || 0) * 1000)));
		}
	}
}

boot();
