"""Pass images (icon, logo, strip at @1x/@2x/@3x) drawn with Pillow from a programme's logo and colours.

Rendering is cached per branding, so building a pass reuses the PNG bytes and signing dominates.
A merchant's own uploaded images (branding["pass_images"]: {"strip.png": path, ...}) win.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

# Points at @1x (Apple's Wallet design guide); @2x and @3x are multiples.
SIZES: dict[str, tuple[int, int]] = {
    "icon": (29, 29),
    "logo": (160, 50),
    "strip": (375, 144),  # store cards: behind the primary field
}
SCALES = (1, 2, 3)


@dataclass(frozen=True)
class Branding:
    """What the images are drawn from; hashable so that renderings are cached per branding."""

    name: str
    primary: str  # "#rrggbb"
    secondary: str
    logo_path: str | None = None
    uploads: tuple[tuple[str, str], ...] = ()  # (file name, path) the merchant uploaded


def hex_to_rgb(value: str, default: tuple[int, int, int] = (60, 60, 60)) -> tuple[int, int, int]:
    value = (value or "").strip().lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    try:
        return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))
    except (ValueError, IndexError):
        return default


def readable_on(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white text, whichever contrasts more with the background (WCAG luminance)."""

    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return (0, 0, 0) if luminance > 0.179 else (255, 255, 255)


def file_names() -> list[str]:
    names = []
    for kind in SIZES:
        for scale in SCALES:
            names.append(f"{kind}.png" if scale == 1 else f"{kind}@{scale}x.png")
    return names


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _open_logo(path: str | None) -> Image.Image | None:
    if not path:
        return None
    try:
        with Image.open(path) as logo:
            logo.load()
            return logo.convert("RGBA")
    except (OSError, ValueError):  # missing or not an image: draw the initials instead
        return None


def _initials(name: str) -> str:
    words = [w for w in name.split() if w[:1].isalnum()]
    return "".join(w[0] for w in words[:2]).upper() or "★"


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType
        return ImageFont.load_default()


def _fit(logo: Image.Image, box: tuple[int, int]) -> Image.Image:
    logo = logo.copy()
    logo.thumbnail(box, Image.Resampling.LANCZOS)
    return logo


def _icon(branding: Branding, size: tuple[int, int], logo: Image.Image | None) -> Image.Image:
    background = hex_to_rgb(branding.primary)
    image = Image.new("RGBA", size, (*background, 255))
    w, h = size
    if logo is not None:
        fitted = _fit(logo, (int(w * 0.8), int(h * 0.8)))
        image.alpha_composite(fitted, ((w - fitted.width) // 2, (h - fitted.height) // 2))
    else:
        draw = ImageDraw.Draw(image)
        draw.text(
            (w / 2, h / 2), _initials(branding.name), fill=readable_on(background),
            font=_font(int(h * 0.45)), anchor="mm",
        )  # fmt: skip
    return image


def _logo(branding: Branding, size: tuple[int, int], logo: Image.Image | None) -> Image.Image:
    # Transparent: Wallet draws it on the pass background, left of the logo text.
    w, h = size
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    if logo is not None:
        fitted = _fit(logo, (w, h))
        image.alpha_composite(fitted, (0, (h - fitted.height) // 2))
        return image
    # No logo uploaded: a round badge with the initials; the programme name is the logo text.
    foreground = readable_on(hex_to_rgb(branding.primary))
    draw = ImageDraw.Draw(image)
    draw.ellipse((1, 1, h - 2, h - 2), outline=foreground, width=max(1, h // 20))
    draw.text(
        (h / 2, h / 2), _initials(branding.name), fill=foreground,
        font=_font(int(h * 0.38)), anchor="mm",
    )  # fmt: skip
    return image


def _strip(branding: Branding, size: tuple[int, int], logo: Image.Image | None) -> Image.Image:
    """The primary colour behind the balance, fading into the secondary on the right."""
    w, h = size
    start, end = hex_to_rgb(branding.primary), hex_to_rgb(branding.secondary)
    # Black at the left, white at the right; flat for the left half, where the balance sits.
    mask = Image.linear_gradient("L").rotate(90).resize((w, h))
    mask = mask.point(lambda v: max(0, v - 128) * 2 * 3 // 4)
    image = Image.composite(
        Image.new("RGBA", size, (*end, 255)), Image.new("RGBA", size, (*start, 255)), mask
    )
    if logo is not None:
        fitted = _fit(logo, (int(w * 0.3), int(h * 0.7))).copy()
        fitted.putalpha(fitted.getchannel("A").point(lambda a: a * 35 // 100))
        image.alpha_composite(fitted, (w - fitted.width - h // 8, (h - fitted.height) // 2))
    return image


DRAW = {"icon": _icon, "logo": _logo, "strip": _strip}


@functools.lru_cache(maxsize=256)
def render(branding: Branding, logo_mtime: float = 0.0) -> dict[str, bytes]:
    """Every image file of a pass, by file name. `logo_mtime` invalidates after a new upload."""
    logo = _open_logo(branding.logo_path)
    uploads = dict(branding.uploads)
    files: dict[str, bytes] = {}
    for kind, (w, h) in SIZES.items():
        for scale in SCALES:
            name = f"{kind}.png" if scale == 1 else f"{kind}@{scale}x.png"
            uploaded = uploads.get(name)
            if uploaded and Path(uploaded).is_file():
                files[name] = Path(uploaded).read_bytes()
                continue
            files[name] = _png(DRAW[kind](branding, (w * scale, h * scale), logo))
    return files


def images_for(branding: Branding) -> dict[str, bytes]:
    mtime = 0.0
    if branding.logo_path:
        try:
            mtime = Path(branding.logo_path).stat().st_mtime
        except OSError:
            mtime = 0.0
    return render(branding, mtime)


@functools.lru_cache(maxsize=64)
def _square_logo(branding: Branding, logo_mtime: float, size: int) -> bytes:
    return _png(_icon(branding, (size, size), _open_logo(branding.logo_path)))


def square_logo(branding: Branding, size: int = 660) -> bytes:
    """The programme logo Google Wallet shows (square, 660 px recommended)."""
    mtime = 0.0
    if branding.logo_path:
        try:
            mtime = Path(branding.logo_path).stat().st_mtime
        except OSError:
            mtime = 0.0
    return _square_logo(branding, mtime, size)
