"""The shopper's websocket: parse a frame, call one service, push the result."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError

from webapp.chat.capacity import TurnGate, in_db_thread, in_turn_thread, turn_gate
from webapp.chat.events import conversation_group, group_send_in_order, pending_group
from webapp.chat.selectors import conversation_history
from webapp.chat.services import (
    ChatError,
    OpenedConversation,
    agent_message_post,
    bot_reply,
    check_agent_access,
    conversation_connect,
    conversation_escalate,
    conversation_presence_set,
    conversation_start,
    message_rate,
    message_text_clean,
    shopper_message_post,
)
from webapp.common.observability import BUSY, REPLY_SECONDS, conversation_id_var
from webapp.common.ratelimit import Decision, TokenBucket, client_ip, window_allows

logger = logging.getLogger(__name__)

CLOSE_UNKNOWN_STORE = 4404
CLOSE_RATE_LIMITED = 4429


class ConversationSocket(AsyncJsonWebsocketConsumer):
    """What the shopper's and the agent's sockets share: one conversation's group, its events
    turned into frames, and error frames."""

    conversation_id: int | None = None
    group: str | None = None

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch, without its ``close_old_connections`` before every event: that is
        one hop to the process's single thread-sensitive thread per frame and per group event
        (five or more a bot turn), all queueing behind each other under a crowd. These consumers
        touch the database only through calls that close their own connections."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "message", **event["message"]})

    async def chat_typing(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "typing", "active": event["active"]})

    async def chat_state(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "state", "state": event["state"], "agent": event["agent"]})

    async def chat_presence(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "presence", "online": event["online"]})

    async def send_error(self, code: str, message: str) -> None:
        await self.send_json({"type": "error", "code": code, "message": message})


BUSY_QUEUED = (
    "Lots of shoppers are writing right now. Your message is saved, and my answer follows "
    "in a moment."
)
BUSY_FULL = (
    "I'm answering a great many shoppers at once right now. Your message is saved: please "
    "send it again in a minute."
)
BUSY_TOO_FAST = (
    "I'm still answering your earlier messages. This one is saved: please send it again "
    "once I've replied."
)
BUSY_HANDOFF = (
    "I'm answering a great many shoppers at once right now, so I've asked a member of our "
    "team to pick up your message."
)


_BUSY_KINDS = {
    BUSY_QUEUED: "queued",
    BUSY_FULL: "full",
    BUSY_TOO_FAST: "too_fast",
    BUSY_HANDOFF: "handoff",
}


class ChatConsumer(ConversationSocket):
    store_id: int | None = None
    token: str | None = None
    pending_group: str | None = None
    _awaiting_resume = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Bot turns run as tasks so group events (echoes, replies, agents) keep flowing while
        # the model works; the lock keeps one connection's turns in the order they were sent.
        self._turn_lock = asyncio.Lock()
        self._turns: set[asyncio.Task[None]] = set()
        self._replayed: set[int] = set()
        self._messages = TokenBucket(settings.CHAT_MESSAGES_PER_MINUTE, settings.CHAT_MESSAGE_BURST)

    async def connect(self) -> None:
        """Open the socket. A returning shopper's token comes in the first frame
        (``?resume=1``, then ``{"type": "resume", "token": ...}``), where no proxy logs it;
        ``?token=`` in the URL still works for older widgets."""
        ip = client_ip(self.scope)
        resume = _query_param(self.scope, "resume") == "1"
        opened = await in_db_thread(
            _connect_unless_flooding,
            ip=ip,
            store_slug=self._slug,
            token=None if resume else _query_param(self.scope, "token"),
            open_now=not resume,
        )
        await self.accept()
        if isinstance(opened, Decision):
            await self.send_json(
                {
                    "type": "error",
                    "code": "rate_limited",
                    "message": "Too many chat connections from your network just now. Please "
                    f"try again in {opened.retry_after_s} seconds.",
                    "retry_after": opened.retry_after_s,
                }
            )
            await self.close(code=CLOSE_RATE_LIMITED)
            return
        if resume:
            self._awaiting_resume = True  # the first frame carries the token
            return
        await self._opened(opened)

    @property
    def _slug(self) -> str:
        return str(self.scope["url_route"]["kwargs"]["store_slug"])

    async def resume(self, frame: dict[str, Any]) -> None:
        """The first frame after ``?resume=1``: open the conversation its token names (a fresh
        one when the token is missing, unknown or expired, as at connect)."""
        self._awaiting_resume = False
        token = frame.get("token") if frame.get("type") == "resume" else None
        opened = await in_db_thread(
            conversation_connect,
            store_slug=self._slug,
            token=token if isinstance(token, str) and len(token) <= 512 else None,
        )
        await self._opened(opened)
        if frame.get("type") != "resume":
            await self.dispatch_frame(frame)  # an older client: its first frame is a message

    async def _opened(self, opened: OpenedConversation | None) -> None:
        if opened is None:
            await self.send_error("unknown_store", f"There is no store called {self._slug!r}.")
            await self.close(code=CLOSE_UNKNOWN_STORE)
            return
        self.store_id = opened.store_id
        self.token = opened.token
        if opened.conversation_id is not None:
            await self._join(opened.conversation_id)
        else:
            # Other tabs with this token hear here when the first message creates the row.
            self.pending_group = pending_group(opened.token)
            await self.channel_layer.group_add(self.pending_group, self.channel_name)
        frame: dict[str, Any] = {
            "type": "conversation",
            "token": opened.token,
            "resumed": opened.resumed,
            "history": opened.history,
            **opened.state,
        }
        if opened.notice:
            frame["notice"] = opened.notice
        await self.send_json(frame)

    async def _join(self, conversation_id: int) -> None:
        self.conversation_id = conversation_id
        self.group = conversation_group(conversation_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        if self.pending_group:
            await self.channel_layer.group_discard(self.pending_group, self.channel_name)
            self.pending_group = None

    async def chat_started(self, event: dict[str, Any]) -> None:
        """Another tab's first message created the conversation: join it, and send what it
        holds already (its first messages may have gone out before this tab joined)."""
        if self.conversation_id is not None:
            return
        await self._join(event["conversation_id"])
        history = await in_db_thread(conversation_history, conversation_id=event["conversation_id"])
        for message in history:
            self._replayed.add(message["message_id"])
            await self.send_json({"type": "message", **message})

    async def chat_message(self, event: dict[str, Any]) -> None:
        if event["message"].get("message_id") in self._replayed:
            return  # already sent with the history when this tab joined
        await super().chat_message(event)

    async def disconnect(self, code: int) -> None:
        if self._turns:
            # A shopper who leaves mid-turn still gets the reply saved to their history.
            await asyncio.wait(self._turns, timeout=30)
        for group in (self.group, self.pending_group):
            if group:
                await self.channel_layer.group_discard(group, self.channel_name)
        if self.conversation_id is not None:
            await in_db_thread(
                conversation_presence_set, conversation_id=self.conversation_id, online=False
            )

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.store_id is None and not self._awaiting_resume:
            return
        if text_data is None:
            await self.send_error("bad_frame", "Frames must be JSON text, not binary.")
            return
        if len(text_data.encode(errors="surrogatepass")) > settings.CHAT_MAX_FRAME_BYTES:
            await self.send_error(
                "frame_too_large",
                f"Frames can be at most {settings.CHAT_MAX_FRAME_BYTES} bytes.",
            )
            return
        try:
            frame = json.loads(text_data)
        except (ValueError, RecursionError):  # RecursionError: nested thousands deep
            await self.send_error("bad_json", "The frame is not valid JSON.")
            return
        if not isinstance(frame, dict):
            await self.send_error("bad_frame", "A frame must be a JSON object with a type.")
            return
        if self._awaiting_resume:
            await self.resume(frame)
            return
        await self.dispatch_frame(frame)

    async def dispatch_frame(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "ping":
            await self.send_json({"type": "pong"})
        elif frame.get("type") in {"message", "rate"}:
            allowed = self._messages.take()
            if not allowed.allowed:
                await self.send_json(
                    {
                        "type": "error",
                        "code": "rate_limited",
                        "message": "You're sending messages faster than I can read them. This "
                        f"one was not sent: please send it again in {allowed.retry_after_s} "
                        "seconds.",
                        "retry_after": allowed.retry_after_s,
                    }
                )
            elif frame["type"] == "message":
                await self.handle_shopper_message(frame.get("text"))
            else:
                await self.handle_rate(frame)
        else:
            await self.send_error("unknown_type", f"Unknown frame type {frame.get('type')!r}.")

    async def handle_shopper_message(self, text: object) -> None:
        try:
            message_text_clean(text)  # before a first message creates the conversation
            if self.conversation_id is None:
                conversation_id = await in_db_thread(
                    conversation_start, store_id=self.store_id, token=self.token
                )
                group = self.pending_group
                await self._join(conversation_id)
                if group:
                    await self.channel_layer.group_send(
                        group, {"type": "chat.started", "conversation_id": conversation_id}
                    )
            posted = await in_db_thread(
                shopper_message_post, conversation_id=self.conversation_id, text=text
            )
        except ChatError as exc:
            await self.send_error(exc.code, str(exc))
            return
        except DatabaseError:
            # The database is away (restarting, failing over): say so, keep the socket open;
            # the widget marks the message unsent so the shopper can send it again.
            logger.exception("saving a shopper message failed")
            await self.send_error(
                "not_saved", "Your message couldn't be saved just now. Please send it again."
            )
            return
        if not posted.bot_answers:
            return
        gate = turn_gate()
        if len(self._turns) >= settings.CHAT_SHOPPER_MAX_PENDING:
            await self.send_busy(BUSY_TOO_FAST, queued=False)
            return
        if gate.full():
            await self.turn_away(posted.raw_text)
            return
        if gate.ahead() >= gate.limit:
            # A whole round of turns ahead: say so rather than leave the shopper guessing.
            await self.send_busy(BUSY_QUEUED, queued=True)
        await self.send_typing(True)
        task = asyncio.create_task(
            self.bot_turn(gate, posted.message.id, posted.raw_text, time.monotonic())
        )
        self._turns.add(task)
        task.add_done_callback(self._turns.discard)

    async def turn_away(self, raw_text: str) -> None:
        """The queue is full: the message stays saved unanswered, or, when the shopper asks for
        a person (no model needed to tell), goes to the agents' queue."""
        from webapp.chat.bot import asks_for_human

        if asks_for_human(raw_text):
            await in_db_thread(
                conversation_escalate,
                conversation_id=self.conversation_id,
                reason="the shopper asked for a human while the bot was overloaded",
            )
            await self.send_busy(BUSY_HANDOFF, queued=False)
            return
        await self.send_busy(BUSY_FULL, queued=False)

    async def handle_rate(self, frame: dict[str, Any]) -> None:
        if self.conversation_id is None:
            await self.send_error("unknown_message", "There is no answer to rate yet.")
            return
        try:
            rating = await in_db_thread(
                message_rate,
                conversation_id=self.conversation_id,
                message_id=frame.get("message_id"),
                value=frame.get("value"),
                comment=frame.get("comment", ""),
            )
        except ChatError as exc:
            await self.send_error(exc.code, str(exc))
            return
        await self.send_json(
            {"type": "rated", "message_id": rating.message_id, "value": rating.value}
        )

    async def bot_turn(
        self, gate: TurnGate, message_id: int, raw_text: str, started: float
    ) -> None:
        conversation_id_var.set(self.conversation_id)  # this task's logs name the conversation
        async with self._turn_lock:
            await gate.acquire()
            try:
                # In the turns' pool, beside other conversations' database work and never on
                # the event loop; the model calls in it wait for their shared forward pass.
                reply = await in_turn_thread(
                    bot_reply,
                    conversation_id=self.conversation_id,
                    message_id=message_id,
                    raw_text=raw_text,
                )
                if reply is not None:
                    REPLY_SECONDS.observe(time.monotonic() - started)
            except Exception:
                logger.exception("bot reply failed for message %s", message_id)
                # Via our own channel, so it arrives after the echo already queued there.
                await self.channel_layer.send(
                    self.channel_name,
                    {
                        "type": "chat.error",
                        "code": "bot_unavailable",
                        "message": "Sorry, the assistant couldn't answer just now. "
                        "Your message is saved.",
                    },
                )
            finally:
                gate.release()
                await self.send_typing(False)

    async def send_busy(self, message: str, *, queued: bool) -> None:
        BUSY.labels(kind=_BUSY_KINDS.get(message, "other")).inc()
        await self.send_json({"type": "busy", "queued": queued, "message": message})

    async def send_typing(self, active: bool) -> None:
        # Through the group, so it is ordered with the messages everyone in it receives.
        await group_send_in_order(self.group, {"type": "chat.typing", "active": active})

    async def chat_presence(self, event: dict[str, Any]) -> None:
        """The shopper's own presence: only agents' consoles show it."""

    async def chat_error(self, event: dict[str, Any]) -> None:
        await self.send_error(event["code"], event["message"])


def _connect_unless_flooding(
    *, ip: str, store_slug: str, token: str | None, open_now: bool = True
) -> Any:
    """The connect's one database call, after the per-IP count (a ``Decision`` when refused:
    a flood costs a cache increment, no query). ``open_now`` False: the token follows in the
    first frame, so nothing is read yet."""
    allowed = window_allows(
        "chat-connect", ip, limit=settings.CHAT_CONNECTS_PER_MINUTE_PER_IP, window_s=60
    )
    if not allowed.allowed:
        logger.warning("chat connect refused: %s over the per-IP limit", ip)
        return allowed
    if not open_now:
        return None
    return conversation_connect(store_slug=store_slug, token=token)


def _query_param(scope: dict[str, Any], name: str) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode(errors="replace")).get(name)
    return values[0] if values else None


CLOSE_FORBIDDEN = 4403


class AgentConsumer(ConversationSocket):
    """An agent's live view of one conversation in the admin console: every message, state
    change, typing and presence event, and the agent's replies going out."""

    async def connect(self) -> None:
        conversation_id = self.scope["url_route"]["kwargs"]["conversation_id"]
        user = self.scope.get("user")
        await self.accept()
        allowed = await database_sync_to_async(_agent_may_watch)(user, conversation_id)
        if not allowed:
            await self.send_error("forbidden", "Log in as staff of this store.")
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.conversation_id = conversation_id
        self.group = conversation_group(conversation_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json({"type": "ready", "conversation_id": conversation_id})

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if self.conversation_id is None:
            return
        if not isinstance(content, dict) or content.get("type") != "message":
            await self.send_error("unknown_type", "Send message frames.")
            return
        try:
            await database_sync_to_async(agent_message_post)(
                conversation_id=self.conversation_id,
                agent=self.scope["user"],
                text=content.get("text"),
            )
        except ChatError as exc:
            await self.send_error(exc.code, str(exc))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if (
            text_data is None
            or len(text_data.encode(errors="surrogatepass")) > settings.CHAT_MAX_FRAME_BYTES
        ):
            await self.send_error("bad_frame", "Frames are JSON text.")
            return
        try:
            content = json.loads(text_data)
        except (ValueError, RecursionError):
            await self.send_error("bad_json", "The frame is not valid JSON.")
            return
        await self.receive_json(content)


def _agent_may_watch(user: Any, conversation_id: int) -> bool:
    from webapp.chat.models import Conversation

    if user is None or not user.is_authenticated or not user.is_staff:
        return False
    store_id = (
        Conversation.objects.filter(id=conversation_id).values_list("store_id", flat=True).first()
    )
    if store_id is None:
        return False
    try:
        check_agent_access(agent=user, store_id=store_id, watch_only=True)
    except ChatError:
        return False
    return True
