"""Shared by the models: string enums that read the same in raw SQL on every database, and
partial indexes that both databases build."""

from __future__ import annotations

import enum

from sqlalchemy import Enum, Index, text


def str_enum(enum_cls: type[enum.Enum], length: int = 20, name: str | None = None) -> Enum:
    """Store an enum as its value in a VARCHAR with a CHECK, so raw SQL can compare with 'earn'.

    `name` names the CHECK when one table has several columns of the same enum.
    """
    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
        name=name or enum_cls.__name__.lower(),
    )


def partial_index(name: str, *columns: str, where: str, unique: bool = False) -> Index:
    """An index of the rows matching `where`, on PostgreSQL and SQLite alike."""
    condition = text(where)
    return Index(name, *columns, unique=unique, postgresql_where=condition, sqlite_where=condition)
