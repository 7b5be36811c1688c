"""The shopper's websocket: parse a frame, call one service, push the result."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from webapp.chat.events import conversation_group
from webapp.chat.services import (
    ChatError,
    agent_message_post,
    bot_reply,
    check_agent_access,
    conversation_open,
    conversation_presence_set,
    message_rate,
    shopper_message_post,
)
from webapp.stores.selectors import store_get_by_slug

logger = logging.getLogger(__name__)

CLOSE_UNKNOWN_STORE = 4404


class ConversationSocket(AsyncJsonWebsocketConsumer):
    """What the shopper's and the agent's sockets share: one conversation's group, its events
    turned into frames, and error frames."""

    conversation_id: int | None = None
    group: str | None = None

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


class ChatConsumer(ConversationSocket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Bot turns run as tasks so group events (echoes, replies, agents) keep flowing while
        # the model works; the lock keeps one connection's turns in the order they were sent.
        self._turn_lock = asyncio.Lock()
        self._turns: set[asyncio.Task[None]] = set()

    async def connect(self) -> None:
        slug = self.scope["url_route"]["kwargs"]["store_slug"]
        store = await database_sync_to_async(store_get_by_slug)(slug=slug)
        await self.accept()
        if store is None:
            await self.send_error("unknown_store", f"There is no store called {slug!r}.")
            await self.close(code=CLOSE_UNKNOWN_STORE)
            return
        token = _query_param(self.scope, "token")
        opened = await database_sync_to_async(conversation_open)(store=store, token=token)
        self.conversation_id = opened.conversation_id
        self.group = conversation_group(opened.conversation_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
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
        await database_sync_to_async(conversation_presence_set)(
            conversation_id=self.conversation_id, online=True
        )

    async def disconnect(self, code: int) -> None:
        if self._turns:
            # A shopper who leaves mid-turn still gets the reply saved to their history.
            await asyncio.wait(self._turns, timeout=30)
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if self.conversation_id is not None:
            await database_sync_to_async(conversation_presence_set)(
                conversation_id=self.conversation_id, online=False
            )

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.conversation_id is None:
            return
        if text_data is None:
            await self.send_error("bad_frame", "Frames must be JSON text, not binary.")
            return
        if len(text_data.encode()) > settings.CHAT_MAX_FRAME_BYTES:
            await self.send_error(
                "frame_too_large",
                f"Frames can be at most {settings.CHAT_MAX_FRAME_BYTES} bytes.",
            )
            return
        try:
            frame = json.loads(text_data)
        except json.JSONDecodeError:
            await self.send_error("bad_json", "The frame is not valid JSON.")
            return
        if not isinstance(frame, dict):
            await self.send_error("bad_frame", "A frame must be a JSON object with a type.")
            return
        if frame.get("type") == "ping":
            await self.send_json({"type": "pong"})
        elif frame.get("type") == "message":
            await self.handle_shopper_message(frame.get("text"))
        elif frame.get("type") == "rate":
            await self.handle_rate(frame)
        else:
            await self.send_error("unknown_type", f"Unknown frame type {frame.get('type')!r}.")

    async def handle_shopper_message(self, text: object) -> None:
        try:
            posted = await database_sync_to_async(shopper_message_post)(
                conversation_id=self.conversation_id, text=text
            )
        except ChatError as exc:
            await self.send_error(exc.code, str(exc))
            return
        if not posted.bot_answers:
            return
        await self.send_typing(True)
        task = asyncio.create_task(self.bot_turn(posted.message.id, posted.raw_text))
        self._turns.add(task)
        task.add_done_callback(self._turns.discard)

    async def handle_rate(self, frame: dict[str, Any]) -> None:
        try:
            rating = await database_sync_to_async(message_rate)(
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

    async def bot_turn(self, message_id: int, raw_text: str) -> None:
        async with self._turn_lock:
            try:
                # Not thread-sensitive: the model and the encode run in the pool, beside other
                # conversations' database work, and never on the event loop.
                await database_sync_to_async(bot_reply, thread_sensitive=False)(
                    conversation_id=self.conversation_id, message_id=message_id, raw_text=raw_text
                )
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
                await self.send_typing(False)

    async def send_typing(self, active: bool) -> None:
        # Through the group, so it is ordered with the messages everyone in it receives.
        await self.channel_layer.group_send(self.group, {"type": "chat.typing", "active": active})

    async def chat_presence(self, event: dict[str, Any]) -> None:
        """The shopper's own presence: only agents' consoles show it."""

    async def chat_error(self, event: dict[str, Any]) -> None:
        await self.send_error(event["code"], event["message"])


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
        if text_data is None or len(text_data.encode()) > settings.CHAT_MAX_FRAME_BYTES:
            await self.send_error("bad_frame", "Frames are JSON text.")
            return
        try:
            content = json.loads(text_data)
        except json.JSONDecodeError:
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
        check_agent_access(agent=user, store_id=store_id)
    except ChatError:
        return False
    return True
