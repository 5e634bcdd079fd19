"""Links in messages and passes lead to the web process, wherever `make run` put it."""

from wallet.config import settings
from web.config import from_env


def test_links_follow_the_port_make_run_serves_on() -> None:
    assert from_env({"SECRET_KEY": "x"})["PUBLIC_BASE_URL"] == "http://127.0.0.1:5000"
    config = from_env({"SECRET_KEY": "x", "WEB_PORT": "8000"})
    assert config["PUBLIC_BASE_URL"] == "http://127.0.0.1:8000"
    assert settings(config).public_base_url == "http://127.0.0.1:8000"


def test_a_configured_address_wins() -> None:
    env = {"SECRET_KEY": "x", "WEB_PORT": "8000", "PUBLIC_BASE_URL": "https://club.example.com"}
    assert from_env(env)["PUBLIC_BASE_URL"] == "https://club.example.com"


def test_the_worker_s_pass_settings_follow_the_port_too(monkeypatch) -> None:
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    monkeypatch.setenv("WEB_PORT", "5055")
    assert settings({}).public_base_url == "http://127.0.0.1:5055"
