import pytest


@pytest.fixture
def eager_tasks():
    """Run Celery tasks in the calling process even when a broker is configured (the services
    pass): these tests are about what the tasks do, tests/integration about real workers."""
    from workers import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved
