"""The Flask application factory: read top to bottom as the table of contents of the web app."""

from __future__ import annotations

from typing import Any

from flask import Flask

from loyalty.db import configure_sqlite
from web import config as config_module
from web.extensions import bootstrap, csrf, db, limiter, login_manager, migrate


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(config_module.INSTANCE))
    app.config.update(config_module.from_env() if config is None else config)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    configure_logger(app)
    return app


def register_extensions(app: Flask) -> None:
    import loyalty.models  # noqa: F401  (every table known to Alembic and the session)

    db.init_app(app)
    with app.app_context():
        configure_sqlite(db.engine)
    migrate.init_app(app, db, directory=str(config_module.ROOT / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    bootstrap.init_app(app)


def register_blueprints(app: Flask) -> None:
    from web.health import blueprint as health

    app.register_blueprint(health)


def register_errorhandlers(app: Flask) -> None:
    pass


def register_commands(app: Flask) -> None:
    from web import commands

    commands.register(app)


def configure_logger(app: Flask) -> None:
    pass
