"""The app's JSON provider: a body that is not usable JSON, whatever its shape, is refused.

Python's json module raises RecursionError, not ValueError, on deeply nested input
("[[[[…"), which `request.get_json(silent=True)` does not catch: a 64 KB body of brackets
became a 500. Here it is a ValueError like any other bad JSON (None when silent, else a 400).
"""

from __future__ import annotations

from typing import Any

from flask.json.provider import DefaultJSONProvider


class JSONProvider(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
