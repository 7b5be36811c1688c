"""No frame closes the shopper's socket: each gets a clear answer, and every message is kept.

Run on the embedded default and, in the services pass, on PostgreSQL (where a NUL character
used to fail the insert and lose the message)."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import make_indexed_store
from webapp.asgi import application
from webapp.chat.models import Message
from webapp.common.text import text_storable

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_thread_db_connections", "in_memory_channel_layer"),
]

ORIGIN = [(b"origin", b"http://testserver")]
TIMEOUT = 30
KNOWN_TYPES = {"conversation", "message", "typing", "error", "pong", "busy", "state", "sources"}


@pytest.fixture
def shop(encoder):
    return make_indexed_store(slug="acme", name="Acme")


async def _exchange(frames: list[str], replies: int = 0) -> list[dict]:
    """Send ``frames`` on one socket, then a ping; every frame up to the pong and ``replies``
    bot messages. The socket must still be open at the end."""
    socket = WebsocketCommunicator(application, "/ws/chat/acme/", headers=ORIGIN)
    connected, _ = await socket.connect()
    assert connected
    received = [await socket.receive_json_from(timeout=TIMEOUT)]
    try:
        for frame in frames:
            await socket.send_to(text_data=frame)
        await socket.send_json_to({"type": "ping"})
        while True:
            out = await socket.receive_output(timeout=TIMEOUT)
            assert out["type"] == "websocket.send", f"the socket closed: {out}"
            received.append(json.loads(out["text"]))
            answered = [f for f in received if f["type"] == "message" and f["role"] == "bot"]
            if any(f["type"] == "pong" for f in received) and len(answered) >= replies:
                return received
    finally:
        await socket.disconnect()


def _stored_shopper_texts() -> list[str]:
    return list(
        Message.objects.filter(role="shopper").order_by("id").values_list("text", flat=True)
    )


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("[" * 8000 + "]" * 8000, "bad_json"),
        ('{"type": "message", "text": ' + "[" * 8000 + "]" * 8000 + "}", "bad_json"),
        ("\ud800", "bad_json"),
        ('{"type": "message", "text": 5}', "bad_frame"),
        ('{"type": "\\ud800"}', "unknown_type"),
    ],
)
def test_hostile_frames_get_an_error_frame_and_the_socket_stays_open(frame, error):
    received = async_to_sync(_exchange)([frame])
    errors = [f["code"] for f in received if f["type"] == "error"]
    assert errors == [error]


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("where is my \x00parcel?", "where is my parcel?"),
        ("lid \ud800 snapped, can I return it?", "lid \ufffd snapped, can I return it?"),
    ],
)
def test_nul_and_lone_surrogates_in_a_message_are_kept_cleaned_and_answered(text, stored):
    frame = json.dumps({"type": "message", "text": text})  # JSON escapes both: valid UTF-8
    received = async_to_sync(_exchange)([frame], replies=1)
    assert [f["text"] for f in received if f["type"] == "message" and f["role"] == "bot"]
    assert _stored_shopper_texts() == [stored]


_texts = st.text(alphabet=st.characters(codec=None), max_size=300)
_frames = st.one_of(
    st.builds(lambda t: json.dumps({"type": "message", "text": t}), _texts),
    st.builds(lambda t: json.dumps({"type": t}), st.text(max_size=30)),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
        max_leaves=8,
    ).map(json.dumps),
    st.text(min_size=1, max_size=200),  # (the test client sends no empty frame)
    st.integers(1, 9000).map(lambda depth: "[" * depth + "]" * depth),
)


@pytest.mark.usefixtures("shop")
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(frames=st.lists(_frames, min_size=1, max_size=3))
def test_no_frame_closes_the_socket_and_every_message_is_kept(frames):
    before = len(_stored_shopper_texts())
    received = async_to_sync(_exchange)(frames)
    assert {f["type"] for f in received} <= KNOWN_TYPES
    sent = []
    for frame in frames:
        try:
            parsed = json.loads(frame)
        except (ValueError, RecursionError):
            continue
        if isinstance(parsed, dict) and parsed.get("type") == "message":
            text = parsed.get("text")
            if isinstance(text, str) and text_storable(text).strip():
                sent.append(text_storable(text).strip())
    saved = list(
        Message.objects.filter(role="shopper").order_by("id").values_list("text", flat=True)
    )
    assert saved[before:] == sent, received
