/* ShopDesk chat widget: plain JavaScript, no dependencies, no build step. */
(() => {
  'use strict';

  const root = document.getElementById('shopdesk-chat');
  if (!root) return;

  const ui = {
    launcher: root.querySelector('#chat-launcher'),
    unread: root.querySelector('.chat-launcher__unread'),
    panel: root.querySelector('#chat-panel'),
    close: root.querySelector('#chat-close'),
    status: root.querySelector('#chat-status'),
    log: root.querySelector('#chat-log'),
    typing: root.querySelector('#chat-typing'),
    form: root.querySelector('#chat-form'),
    input: root.querySelector('#chat-input'),
    send: root.querySelector('#chat-send'),
    handoff: root.querySelector('#chat-handoff'),
  };
  if (!ui.launcher || !ui.panel || !ui.log || !ui.form || !ui.input || !ui.send) return;

  const TOKEN_KEY = `shopdesk:${root.dataset.store}:token`;
  const WS_PATH = root.dataset.wsPath;
  const BACKOFF_BASE_MS = 1000;
  const BACKOFF_MAX_MS = 15000;
  const CLOSE_UNKNOWN_STORE = 4404;
  const TOKEN_RESET_CODES = new Set(['unknown_conversation', 'conversation_expired']);
  const ROLES = new Set(['shopper', 'bot', 'agent', 'system']);
  const INPUT_MAX_HEIGHT_PX = 140;
  const STATUS = {
    connecting: 'Connecting…',
    open: 'Connected',
    reconnecting: 'Reconnecting…',
    offline: 'Offline',
    unavailable: 'This chat is not available.',
  };

  let socket = null;
  let state = 'closed';
  let started = false;
  let everConnected = false;
  let stopped = false;
  let attempt = 0;
  let retryAfterMs = 0;
  let retryTimer = null;
  let resetNotice = null;
  const seenMessageIds = new Set();
  // Shopper messages sent but not yet echoed by the server (status "sending"), or given up on
  // (status "failed"); oldest first, because the server answers in order.
  const outbox = [];
  // Who is answering: "bot", "waiting" (a human is coming), "agent" or "resolved".
  const HANDOFF_TEXT = {
    waiting: () => 'A member of our team will be with you shortly.',
    agent: (agent) => `You're chatting with ${agent || 'a member of our team'}.`,
  };

  // --- token storage -------------------------------------------------------------------------
  // Storage throws in some privacy modes; the chat still works, it just can't resume later.

  function readToken() {
    try {
      return localStorage.getItem(TOKEN_KEY);
    } catch {
      return null;
    }
  }

  function writeToken(token) {
    try {
      localStorage.setItem(TOKEN_KEY, token);
    } catch {
      /* not persisted */
    }
  }

  function clearToken() {
    try {
      localStorage.removeItem(TOKEN_KEY);
    } catch {
      /* nothing stored */
    }
  }

  // --- connection ----------------------------------------------------------------------------

  function socketUrl(resuming) {
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    // A returning shopper's token goes in the first frame, never in the URL (proxies log URLs).
    return `${scheme}${location.host}${WS_PATH}${resuming ? '?resume=1' : ''}`;
  }

  function isConnected() {
    return state === 'open' && socket !== null && socket.readyState === WebSocket.OPEN;
  }

  function setState(nextState, statusText) {
    state = nextState;
    ui.panel.dataset.state = nextState;
    if (ui.status) ui.status.textContent = statusText;
    refreshControls();
  }

  function refreshControls() {
    const connected = isConnected();
    ui.send.disabled = !connected;
    for (const button of ui.log.querySelectorAll('.message__retry')) button.disabled = !connected;
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    if (stopped || socket) return;
    started = true;
    if (everConnected || attempt > 0) setState('reconnecting', STATUS.reconnecting);
    else setState('connecting', STATUS.connecting);

    let ws;
    const token = readToken();
    try {
      ws = new WebSocket(socketUrl(Boolean(token)));
    } catch {
      scheduleReconnect();
      return;
    }
    socket = ws;
    if (token) {
      ws.addEventListener('open', () => ws.send(JSON.stringify({ type: 'resume', token })));
    }
    // Events from a socket we have already replaced or dropped must not touch the UI.
    ws.addEventListener('message', (event) => {
      if (socket === ws) handleFrame(event.data);
    });
    ws.addEventListener('close', (event) => {
      if (socket === ws) handleClose(event);
    });
  }

  function handleClose(event) {
    socket = null;
    setTyping(false);
    if (event.code === CLOSE_UNKNOWN_STORE) {
      stopped = true;
      setState('closed', STATUS.unavailable);
      ui.input.disabled = true;
      return;
    }
    scheduleReconnect();
  }

  function backoffDelay(failures) {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** failures);
    // Jitter spreads out the reconnects of every open widget after a server restart.
    const jittered = base * (0.75 + Math.random() * 0.5);
    return Math.min(BACKOFF_MAX_MS, Math.round(jittered));
  }

  function scheduleReconnect() {
    if (stopped) return;
    clearTimeout(retryTimer);
    // navigator.onLine === false is reliable (true is not): wait for the "online" event
    // instead of burning through backoff steps that cannot succeed.
    if (navigator.onLine === false) {
      retryTimer = null;
      setState('reconnecting', STATUS.offline);
      return;
    }
    setState('reconnecting', STATUS.reconnecting);
    // A refused connect (too many from this network) says when to come back.
    const delay = Math.max(backoffDelay(attempt), retryAfterMs);
    retryAfterMs = 0;
    retryTimer = setTimeout(connect, delay);
    attempt += 1;
  }

  function reconnectNow() {
    if (!started || stopped || socket) return;
    attempt = 0;
    connect();
  }

  function dropSocket() {
    clearTimeout(retryTimer);
    retryTimer = null;
    if (!socket) return;
    const ws = socket;
    socket = null;
    ws.close(1000);
    setTyping(false);
    setState('closed', STATUS.offline);
  }

  // --- frames from the server ----------------------------------------------------------------

  function handleFrame(raw) {
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch {
      return;
    }
    if (!frame || typeof frame !== 'object') return;
    switch (frame.type) {
      case 'conversation':
        onConversation(frame);
        break;
      case 'message':
        onMessage(frame);
        break;
      case 'typing':
        setTyping(frame.active === true);
        break;
      case 'state':
        showHandoff(frame.state, frame.agent);
        break;
      case 'rated':
        markRated(frame.message_id, frame.value);
        break;
      case 'error':
        onError(frame);
        break;
      case 'busy':
        onBusy(frame);
        break;
      default:
        // Unknown frame types are ignored so the server can add new ones safely.
        break;
    }
  }

  function onConversation(frame) {
    if (typeof frame.token === 'string' && frame.token) writeToken(frame.token);
    // The server explains here why an earlier conversation could not be resumed.
    if (frame.notice && typeof frame.notice.message === 'string') resetNotice = frame.notice.message;
    const history = Array.isArray(frame.history) ? frame.history : [];

    ui.log.replaceChildren();
    seenMessageIds.clear();
    for (const message of history) appendMessage(message);
    settleOutbox(history);
    if (resetNotice) {
      appendNote(resetNotice, 'error');
      resetNotice = null;
    }
    for (const entry of outbox) ui.log.append(entry.node);
    showHandoff(frame.state, frame.agent);

    setTyping(false);
    attempt = 0;
    everConnected = true;
    setState('open', STATUS.open);
    scrollToBottom();
  }

  function onMessage(message) {
    const id = messageId(message);
    if (id !== null && seenMessageIds.has(id)) return;

    if (message.role === 'shopper') {
      const entry = takeOldestSending();
      if (entry) {
        confirmSent(entry, message);
        return;
      }
    }
    appendMessage(message);
    if (message.role === 'bot' || message.role === 'agent') {
      setTyping(false);
      if (ui.panel.hidden) setUnread(true);
    }
  }

  function onBusy(frame) {
    // The message is saved either way; "queued" means the answer follows by itself.
    if (typeof frame.message === 'string' && frame.message) appendNote(frame.message, 'busy');
    if (frame.queued !== true) setTyping(false);
  }

  function onError(frame) {
    if (frame.code === 'rate_limited' && Number.isFinite(frame.retry_after)) {
      retryAfterMs = Math.min(BACKOFF_MAX_MS * 4, frame.retry_after * 1000);
    }
    const text =
      typeof frame.message === 'string' && frame.message ? frame.message : 'Something went wrong.';
    appendNote(text, 'error');
    setTyping(false);

    const entry = outbox.find((item) => item.status === 'sending');
    if (entry) markFailed(entry);

    if (TOKEN_RESET_CODES.has(frame.code)) {
      clearToken();
      // The server follows with a fresh "conversation" frame, which clears the log; keep the
      // explanation visible after it.
      resetNotice = text;
    }
  }

  // --- outgoing messages ---------------------------------------------------------------------

  function sendText(text) {
    if (!isConnected()) return false;
    socket.send(JSON.stringify({ type: 'message', text }));
    const node = renderMessage({ role: 'shopper', text });
    node.classList.add('sending');
    outbox.push({ text, node, status: 'sending' });
    ui.log.append(node);
    scrollToBottom();
    return true;
  }

  function takeOldestSending() {
    const index = outbox.findIndex((item) => item.status === 'sending');
    return index === -1 ? null : outbox.splice(index, 1)[0];
  }

  function confirmSent(entry, message) {
    const node = renderMessage(message);
    rememberId(message);
    entry.node.replaceWith(node);
    scrollToBottom();
  }

  function markFailed(entry) {
    entry.status = 'failed';
    entry.node.classList.remove('sending');
    entry.node.classList.add('failed');
    if (entry.node.querySelector('.message__failure')) return;

    const failure = document.createElement('div');
    failure.className = 'message__failure';
    const note = document.createElement('span');
    note.textContent = 'Not sent.';
    const retry = document.createElement('button');
    retry.type = 'button';
    retry.className = 'message__retry';
    retry.textContent = 'Retry';
    retry.disabled = !isConnected();
    retry.addEventListener('click', () => retrySend(entry));
    failure.append(note, ' ', retry);
    entry.node.append(failure);
    scrollToBottom();
  }

  function retrySend(entry) {
    if (!isConnected()) return;
    const index = outbox.indexOf(entry);
    if (index !== -1) outbox.splice(index, 1);
    entry.node.remove();
    sendText(entry.text);
    ui.input.focus();
  }

  // A message sent just before the connection dropped may or may not have been saved. If the
  // server has it, it is among the latest shopper messages of the new history and is already
  // shown; anything not found there is marked failed so the shopper can retry it.
  function settleOutbox(history) {
    const sending = outbox.filter((item) => item.status === 'sending');
    if (sending.length === 0) return;
    const recentTexts = history
      .filter((message) => message && message.role === 'shopper')
      .slice(-sending.length)
      .map((message) => String(message.text ?? ''));

    for (const entry of sending) {
      const match = recentTexts.indexOf(entry.text);
      if (match !== -1) {
        recentTexts.splice(match, 1);
        outbox.splice(outbox.indexOf(entry), 1);
      } else {
        markFailed(entry);
      }
    }
  }

  // --- rendering -----------------------------------------------------------------------------

  function messageId(message) {
    const id = message ? message.message_id : null;
    return id === undefined || id === null ? null : String(id);
  }

  function rememberId(message) {
    const id = messageId(message);
    if (id !== null) seenMessageIds.add(id);
  }

  function appendMessage(message) {
    if (!message || typeof message !== 'object') return;
    const id = messageId(message);
    if (id !== null && seenMessageIds.has(id)) return;
    rememberId(message);
    ui.log.append(renderMessage(message));
    scrollToBottom();
  }

  function appendNote(text, extraClass) {
    const node = renderMessage({ role: 'system', text });
    if (extraClass) node.classList.add(extraClass);
    ui.log.append(node);
    scrollToBottom();
  }

  function renderMessage(message) {
    const role = ROLES.has(message.role) ? message.role : 'system';
    const node = document.createElement('div');
    node.className = `message ${role}`;
    node.dataset.role = role;

    const id = messageId(message);
    if (id !== null) node.dataset.messageId = id;
    if (message.intent) node.dataset.intent = String(message.intent);
    if (typeof message.confidence === 'number') node.dataset.confidence = String(message.confidence);
    const time = formatTime(message.created_at);
    if (time) node.title = time;

    const author = renderAuthor(role, message.author);
    if (author) node.append(author);

    const text = document.createElement('div');
    text.className = 'message__text';
    text.textContent = String(message.text ?? '');
    node.append(text);

    if (role === 'bot' || role === 'agent') {
      const sources = renderSources(message.sources);
      if (sources) node.append(sources);
    }
    if (role === 'bot' && id !== null) node.append(renderRating(id));
    return node;
  }

  function renderAuthor(role, name) {
    if (role !== 'agent') return null;
    const author = document.createElement('span');
    author.className = 'message__author';
    author.textContent = typeof name === 'string' && name ? name : 'Agent';
    return author;
  }

  // --- hand-off and ratings ----------------------------------------------------------------

  function showHandoff(handoffState, agent) {
    if (!ui.handoff) return;
    const text = HANDOFF_TEXT[handoffState];
    ui.handoff.hidden = !text;
    ui.handoff.textContent = text ? text(agent) : '';
    ui.panel.dataset.handoff = handoffState || 'bot';
  }

  function renderRating(id) {
    const box = document.createElement('div');
    box.className = 'message__rating';
    for (const [value, label, glyph] of [
      ['up', 'Helpful', '\u{1F44D}'],
      ['down', 'Not helpful', '\u{1F44E}'],
    ]) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = `rating rating--${value}`;
      button.dataset.value = value;
      button.setAttribute('aria-label', label);
      button.textContent = glyph;
      button.addEventListener('click', () => rate(id, value, box));
      box.append(button);
    }
    return box;
  }

  function rate(id, value, box) {
    let comment = '';
    if (value === 'down') {
      const field = box.querySelector('.rating__comment') || document.createElement('input');
      if (!field.isConnected) {
        field.className = 'rating__comment';
        field.placeholder = 'What was wrong? (optional, Enter to send)';
        field.maxLength = 1000;
        field.addEventListener('keydown', (event) => {
          if (event.key !== 'Enter') return;
          event.preventDefault();
          sendRating(id, 'down', field.value);
        });
        box.append(field);
      }
      comment = field.value;
    }
    sendRating(id, value, comment);
  }

  function sendRating(id, value, comment) {
    if (!isConnected()) return;
    socket.send(JSON.stringify({ type: 'rate', message_id: Number(id), value, comment }));
  }

  function markRated(id, value) {
    const node = ui.log.querySelector(`[data-message-id="${CSS.escape(String(id))}"]`);
    const box = node && node.querySelector('.message__rating');
    if (!box) return;
    box.dataset.rated = value;
    for (const button of box.querySelectorAll('.rating')) {
      button.setAttribute('aria-pressed', String(button.dataset.value === value));
    }
  }

  function renderSources(sources) {
    if (!Array.isArray(sources)) return null;
    const list = document.createElement('ul');
    list.className = 'message__source-list';
    for (const source of sources) {
      const href = safeHref(source && source.url);
      if (!href) continue;
      const link = document.createElement('a');
      link.className = 'source';
      link.href = href;
      link.textContent = String(source.title || href);
      if (source.kind) link.dataset.kind = String(source.kind);
      const item = document.createElement('li');
      item.append(link);
      list.append(item);
    }
    if (list.childElementCount === 0) return null;

    const wrapper = document.createElement('div');
    wrapper.className = 'message__sources';
    const label = document.createElement('span');
    label.className = 'message__sources-label';
    label.textContent = 'Sources:';
    wrapper.append(label, list);
    return wrapper;
  }

  // Only web links: a "javascript:" URL in a source would run on click.
  function safeHref(url) {
    if (typeof url !== 'string' || url.trim() === '') return null;
    try {
      const parsed = new URL(url, location.href);
      return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? url : null;
    } catch {
      return null;
    }
  }

  function formatTime(iso) {
    if (typeof iso !== 'string' || !iso) return '';
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? '' : date.toLocaleString();
  }

  function scrollToBottom() {
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  function setTyping(active) {
    if (ui.typing) ui.typing.hidden = !active;
  }

  function setUnread(unread) {
    root.classList.toggle('has-unread', unread);
    if (ui.unread) ui.unread.hidden = !unread;
  }

  // --- panel ---------------------------------------------------------------------------------

  function openPanel() {
    ui.panel.hidden = false;
    root.classList.add('is-open');
    ui.launcher.setAttribute('aria-expanded', 'true');
    setUnread(false);
    if (!started) connect();
    scrollToBottom();
    autosizeInput();
    ui.input.focus();
  }

  function closePanel() {
    ui.panel.hidden = true;
    root.classList.remove('is-open');
    ui.launcher.setAttribute('aria-expanded', 'false');
    ui.launcher.focus();
  }

  function autosizeInput() {
    ui.input.style.height = 'auto';
    ui.input.style.height = `${Math.min(ui.input.scrollHeight, INPUT_MAX_HEIGHT_PX)}px`;
  }

  function submitInput() {
    const text = ui.input.value.trim();
    if (!text) return;
    // When not connected the text stays in the box for when the connection is back.
    if (sendText(text)) {
      ui.input.value = '';
      autosizeInput();
    }
    ui.input.focus();
  }

  // --- wiring --------------------------------------------------------------------------------

  ui.launcher.addEventListener('click', () => {
    if (ui.panel.hidden) openPanel();
    else closePanel();
  });
  if (ui.close) ui.close.addEventListener('click', closePanel);

  ui.panel.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      closePanel();
    }
  });

  ui.form.addEventListener('submit', (event) => {
    event.preventDefault();
    submitInput();
  });

  ui.input.addEventListener('keydown', (event) => {
    // isComposing: Enter confirms an IME composition (e.g. Japanese) rather than sending.
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submitInput();
    }
  });
  ui.input.addEventListener('input', autosizeInput);

  window.addEventListener('online', reconnectNow);
  window.addEventListener('offline', () => {
    if (state !== 'open' && !stopped && ui.status) ui.status.textContent = STATUS.offline;
  });

  // Closing on pagehide lets the browser keep the page in its back/forward cache; resume the
  // conversation when the page is shown from it again.
  window.addEventListener('pagehide', dropSocket);
  window.addEventListener('pageshow', (event) => {
    if (event.persisted) reconnectNow();
  });

  root.classList.add('chat-ready');

  // A returning shopper reconnects straight away so agent replies arrive while the panel is
  // closed; a first-time visitor only opens a conversation when they open the chat.
  if (readToken()) connect();
})();
