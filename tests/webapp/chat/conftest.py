import pytest


@pytest.fixture
def in_memory_channel_layer(settings):
    """The consumer tests are about the consumers; the Redis layer has its own tests
    (tests/integration/test_channel_layer.py), and a Redis layer shared across the per-test
    event loops would let one failure cascade into the tests after it."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
