"""Uploaded pictures (reward photos, logos): checked, re-encoded as PNG, stored under a folder.

Nothing uploaded is served as sent: every file is decoded and written again by Pillow, so
what we serve is always a plain PNG (no script in an SVG, no HTML sniffed from a "JPEG", no
EXIF location). Names carry a random part, so a new picture never shows an old cached one.
"""

from __future__ import annotations

import io
import os
import secrets
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from loyalty.errors import InvalidInput

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_PIXELS = 25_000_000  # beyond, a decompression bomb rather than a photo
ACCEPTED_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF"})


def normalised_png(data: bytes, *, field: str, max_side: int = 1024) -> bytes:
    """`data` as a PNG at most `max_side` pixels wide and high, or InvalidInput saying why not."""
    if not data:
        raise InvalidInput("The file is empty. Choose a PNG or JPEG picture.", field=field)
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidInput(
            f"The picture is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB. "
            "Choose a smaller one.",
            field=field,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in ACCEPTED_FORMATS:
                raise InvalidInput("Upload a PNG, JPEG, WebP or GIF picture.", field=field)
            if image.width * image.height > MAX_PIXELS:
                raise InvalidInput(
                    "The picture has too many pixels. Choose a smaller one.", field=field
                )
            image.load()
            image = ImageOps.exif_transpose(image)
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        raise InvalidInput(
            "That file is not a picture we can read. Upload a PNG or JPEG.", field=field
        ) from None
    image = image.convert("RGBA")
    image.thumbnail((max_side, max_side))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def store(folder: Path, relative_dir: str, stem: str, png: bytes) -> str:
    """Write `png` under `folder`; returns its path relative to `folder`. Atomic: no half files."""
    name = f"{stem}-{secrets.token_hex(8)}.png"
    directory = folder / relative_dir
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{name}.tmp"
    temporary.write_bytes(png)
    os.replace(temporary, directory / name)
    return f"{relative_dir}/{name}"


def resolve(folder: Path, relative: str | None) -> Path | None:
    """The stored file for `relative`, if it exists and lies inside `folder`."""
    if not relative:
        return None
    root = folder.resolve()
    path = (root / relative).resolve()
    if root not in path.parents or not path.is_file():
        return None
    return path


def remove(folder: Path, relative: str | None) -> None:
    path = resolve(folder, relative)
    if path is not None:
        path.unlink(missing_ok=True)
