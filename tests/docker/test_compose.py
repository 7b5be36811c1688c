"""The compose file matches the services mode the settings and README describe."""

from pathlib import Path

import yaml

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def _compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_every_role_is_a_service_with_healthchecks_where_others_wait():
    services = _compose()["services"]
    assert set(services) == {
        "proxy", "postgres", "redis", "migrate", "web", "worker", "trainer", "beat",
    }  # fmt: skip
    for name in ("postgres", "redis", "web", "worker", "trainer"):
        assert "healthcheck" in services[name], name
    for name in ("web", "worker", "trainer", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )


def test_app_services_use_the_documented_environment():
    services = _compose()["services"]
    for name in ("migrate", "web", "worker", "beat"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["REDIS_URL"].startswith("redis://")
        assert env["CELERY_BROKER_URL"].startswith("redis://")
        assert env["MODEL_DIR"] == "/data/models"
        assert env["DEBUG"] == "0"
        assert "models:/data/models" in services[name]["volumes"]


def test_commands_point_at_real_entry_points():
    services = _compose()["services"]
    assert "webapp.asgi:application" in services["web"]["command"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "workers", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "workers", "beat"]
    # Training on its own queue, one at a time: it never holds up review scoring.
    trainer = services["trainer"]["command"]
    assert trainer[:4] == ["celery", "-A", "workers", "worker"]
    assert trainer[trainer.index("-Q") + 1] == "training"
    assert "--concurrency=1" in trainer
    assert "ensure_training_schedules" in " ".join(services["migrate"]["command"])
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert "collectstatic" in dockerfile
    assert "HF_HUB_OFFLINE=1" in dockerfile


def test_web_is_healthy_only_when_warm_and_the_trainer_does_not_warm_every_model():
    services = _compose()["services"]
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])
    assert services["trainer"]["environment"]["WARMUP_ON_START"] == "0"
    assert services["trainer"]["environment"]["DATABASE_URL"].startswith("postgres://")


def test_only_the_proxy_is_published_and_web_trusts_its_headers():
    """Shoppers reach web through nginx (docker/nginx.conf), which refuses floods first."""
    services = _compose()["services"]
    assert services["proxy"]["ports"] == ["8000:8080"]
    assert "ports" not in services["web"]
    assert "--proxy-headers" in services["web"]["command"]
    conf = (DOCKER / "nginx.conf").read_text()
    assert "limit_req zone=chat_connects" in conf
    assert "server web:8000;" in conf
