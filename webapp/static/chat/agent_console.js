/* ShopDesk agent console: live conversation over a websocket, replies out. No dependencies. */
(() => {
  'use strict';

  const root = document.getElementById('agent-console');
  if (!root) return;
  const log = document.getElementById('console-log');
  const form = document.getElementById('console-reply');
  const input = document.getElementById('console-input');
  const error = document.getElementById('console-error');
  const connection = document.getElementById('console-connection');
  const stateLabel = document.getElementById('console-state');
  const agentLabel = document.getElementById('console-agent');
  const presence = document.getElementById('console-presence');
  const STATE_LABELS = {
    bot: 'With the bot',
    waiting: 'Waiting for an agent',
    agent: 'With an agent',
    resolved: 'Resolved',
  };
  const ROLE_LABELS = { shopper: 'Shopper', bot: 'Bot', agent: 'Agent', system: 'System' };
  let socket = null;
  let failures = 0;

  function connect() {
    const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
    socket = new WebSocket(`${scheme}://${window.location.host}${root.dataset.wsPath}`);
    socket.addEventListener('open', () => {
      failures = 0;
    });
    socket.addEventListener('message', (event) => handle(event.data));
    socket.addEventListener('close', (event) => {
      connection.textContent = 'disconnected';
      root.dataset.connected = 'false';
      if (event.code === 4403) return;
      failures += 1;
      window.setTimeout(connect, Math.min(1000 * 2 ** failures, 15000));
    });
  }

  function handle(raw) {
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch {
      return;
    }
    switch (frame.type) {
      case 'ready':
        connection.textContent = 'live';
        root.dataset.connected = 'true';
        break;
      case 'message':
        append(frame);
        break;
      case 'state':
        root.dataset.state = frame.state;
        stateLabel.textContent = STATE_LABELS[frame.state] || frame.state;
        agentLabel.textContent = frame.agent ? `(${frame.agent})` : '';
        break;
      case 'presence':
        presence.textContent = frame.online ? 'online' : 'away';
        break;
      case 'error':
        showError(frame.message || 'Something went wrong.');
        break;
      default:
        break;
    }
  }

  function append(message) {
    if (message.message_id && document.getElementById(`message-${message.message_id}`)) return;
    const item = document.createElement('li');
    item.className = `console-message ${message.role}`;
    if (message.message_id) {
      item.id = `message-${message.message_id}`;
      item.dataset.messageId = message.message_id;
    }
    const who = document.createElement('span');
    who.className = 'console-message__who';
    who.textContent = message.author || ROLE_LABELS[message.role] || message.role;
    const time = document.createElement('span');
    time.className = 'console-message__time';
    time.textContent = new Date(message.created_at).toLocaleTimeString();
    const text = document.createElement('div');
    text.className = 'console-message__text';
    text.textContent = message.text;
    item.append(who, time, text);
    if (message.role === 'shopper' || message.role === 'bot') {
      const intent = document.createElement('div');
      intent.className = 'console-message__intent';
      intent.textContent = `intent: ${message.intent || '—'}`;
      if (message.role === 'shopper') intent.textContent += ' (reload to correct it)';
      item.append(intent);
    }
    log.append(item);
    item.scrollIntoView({ block: 'nearest' });
  }

  function showError(text) {
    if (!error) return;
    error.textContent = text;
    error.hidden = false;
  }

  // Read-only viewers (a merchant reading a conversation) get no reply form.
  if (form) {
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      if (!socket || socket.readyState !== WebSocket.OPEN) {
        showError('Not connected yet; your reply was not sent.');
        return;
      }
      error.hidden = true;
      socket.send(JSON.stringify({ type: 'message', text }));
      input.value = '';
    });

    input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey) {
        event.preventDefault();
        form.requestSubmit();
      }
    });

    for (const button of document.querySelectorAll('.canned-reply')) {
      button.addEventListener('click', () => {
        input.value = button.dataset.text;
        input.focus();
      });
    }
  }

  // Open at the latest message (unless a #message-N link points at another one).
  if (!location.hash && log.lastElementChild) log.lastElementChild.scrollIntoView({ block: 'end' });

  connect();
})();
