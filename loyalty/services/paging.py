"""A page of a long list, shaped like Flask-SQLAlchemy's Pagination so one pager macro draws both."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def clamp(page: int, total: int, per_page: int) -> int:
    """A page number inside 1..last: a stale link past the end shows the last page."""
    return max(1, min(page, max(1, -(-total // per_page))))


@dataclass
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int
    args: dict[str, Any] | None = None  # query-string arguments the page links keep
    more: bool = False  # more matches than `total`, which was counted only that far

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None

    def iter_pages(
        self, left_edge: int = 1, left_current: int = 2, right_current: int = 2, right_edge: int = 1
    ) -> Iterator[int | None]:
        last = 0
        for number in range(1, self.pages + 1):
            if (
                number <= left_edge
                or self.page - left_current <= number <= self.page + right_current
                or number > self.pages - right_edge
            ):
                if last and number != last + 1:
                    yield None  # a gap: the pager draws "…"
                yield number
                last = number
