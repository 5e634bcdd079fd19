"""Reading what the till sends: euro amounts, basket lines, idempotency keys, uploaded photos."""

from __future__ import annotations

import io
import re
import uuid
import warnings

from werkzeug.datastructures import FileStorage, MultiDict

from loyalty.errors import InvalidInput
from loyalty.services.ledger import MAX_KEY_LENGTH
from loyalty.services.points import BasketLine

MAX_PHOTO_BYTES = 8 * 1024 * 1024
MAX_PHOTO_PIXELS = 40_000_000  # a 40-megapixel phone photo; beyond, a decompression bomb
MAX_BASKET_LINES = 50
_EUROS = re.compile(r"-?\d{1,9}(?:[.,]\d{1,2})?")


def new_key() -> str:
    """A fresh operation key, rendered into each form: a double tap resends the same one."""
    return uuid.uuid4().hex


def parse_euros(raw: str | None, *, field: str = "amount", what: str = "the amount paid") -> int:
    """'12.50', '12,5' or '12' euros as cents. Sign and size are the earn service's to judge."""
    text = (raw or "").strip().replace("€", "").replace(" ", "")
    if not text:
        raise InvalidInput(f"Enter {what}, like 12.50.", field=field)
    if not _EUROS.fullmatch(text):
        raise InvalidInput(
            f"'{raw.strip()}' is not an amount. Enter euros and cents, like 12.50.", field=field
        )
    negative = text.startswith("-")
    euros, _, cents = text.lstrip("-").replace(",", ".").partition(".")
    value = int(euros) * 100 + int((cents + "00")[:2])
    return -value if negative else value


def parse_basket(form: MultiDict) -> list[BasketLine]:
    amounts = form.getlist("line_amount")
    categories = form.getlist("line_category")
    lines = []
    for position, raw in enumerate(amounts[: MAX_BASKET_LINES + 1]):
        if not (raw or "").strip():
            continue  # an empty row of the form
        if len(lines) == MAX_BASKET_LINES:
            raise InvalidInput(
                f"A basket has at most {MAX_BASKET_LINES} lines here.", field="basket"
            )
        category = categories[position].strip() if position < len(categories) else ""
        lines.append(BasketLine(parse_euros(raw, field="basket"), category or None, label=category))
    return lines


def parse_items(form: MultiDict) -> int | None:
    """The items count typed at the till for a per-item stamp card (empty: not given)."""
    raw = (form.get("items") or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 4:
        raise InvalidInput(
            f"'{raw[:20]}' is not a number of items. Enter it like 3.", field="items"
        )
    return int(raw)


def operation_key(form: MultiDict, operation: str) -> str:
    """The page's key for this operation, namespaced so one key cannot serve two operations."""
    raw = (form.get("idempotency_key") or "").strip()
    if not raw or len(raw) > MAX_KEY_LENGTH - 20 or not re.fullmatch(r"[A-Za-z0-9_.:-]+", raw):
        raise InvalidInput(
            "This form has no valid operation key. Reload the page and try again.",
            field="idempotency_key",
        )
    return f"till:{operation}:{raw}"


def decode_qr_photo(upload: FileStorage | None) -> str:
    """The text of the QR code in an uploaded photo, read with zxing-cpp."""
    import zxingcpp
    from PIL import Image, ImageOps, UnidentifiedImageError

    if upload is None or not upload.filename:
        raise InvalidInput("Choose a photo of the member's card first.", field="photo")
    data = upload.read(MAX_PHOTO_BYTES + 1)
    if len(data) > MAX_PHOTO_BYTES:
        raise InvalidInput(
            f"That photo is larger than {MAX_PHOTO_BYTES // (1024 * 1024)} MB. "
            "Take a smaller one or type the card number.",
            field="photo",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PHOTO_PIXELS:
                raise InvalidInput("That photo is too large to read.", field="photo")
            image = ImageOps.exif_transpose(image).convert("L")
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise InvalidInput(
            "That file is not a photo we can read. Upload a JPEG or PNG of the card.",
            field="photo",
        ) from exc
    results = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    if not results:
        raise InvalidInput(
            "No QR code found in the photo. Hold the card flat, fill the frame with the code "
            "and try again, or type the card number.",
            field="photo",
        )
    return results[0].text
