"""The web app checks a pooled database connection before use only when it sat idle a while."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.pool import QueuePool

from loyalty.db import make_engine, ping_when_idle


def counting_engine(tmp_path, idle: float, fail: bool = False):
    engine = make_engine(f"sqlite:///{tmp_path / 'ping.db'}", poolclass=QueuePool, pool_size=1)
    pings: list[object] = []
    real_ping = engine.dialect.do_ping

    def ping(dbapi_connection):
        pings.append(dbapi_connection)
        if fail and len(pings) == 2:
            raise engine.dialect.loaded_dbapi.OperationalError("server closed the connection")
        return real_ping(dbapi_connection)

    engine.dialect.do_ping = ping  # type: ignore[method-assign]
    ping_when_idle(engine, idle)
    return engine, pings


def use(engine) -> object:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        return connection.connection.dbapi_connection


def test_a_connection_used_a_moment_ago_is_not_pinged_again(tmp_path) -> None:
    engine, pings = counting_engine(tmp_path, idle=60)
    for _ in range(5):
        use(engine)
    assert len(pings) == 1  # the new connection's first checkout only
    engine.dispose()


def test_a_connection_idle_longer_than_the_limit_is_pinged_at_each_checkout(tmp_path) -> None:
    engine, pings = counting_engine(tmp_path, idle=0)
    for _ in range(3):
        use(engine)
    assert len(pings) == 3
    engine.dispose()


def test_a_connection_that_fails_its_ping_is_replaced_before_use(tmp_path) -> None:
    engine, pings = counting_engine(tmp_path, idle=0, fail=True)
    first = use(engine)
    second = use(engine)  # the ping of the pooled connection fails: a fresh one is used
    assert len(pings) == 3
    assert second is not first
    engine.dispose()


def test_the_app_pings_after_a_second_idle_and_the_test_configuration_not_at_all() -> None:
    from web.config import from_env, test_config

    assert from_env({"SECRET_KEY": "x"})["DB_PING_AFTER_IDLE"] == 1.0
    assert test_config("sqlite://")["DB_PING_AFTER_IDLE"] is None
