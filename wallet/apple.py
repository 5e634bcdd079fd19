"""Apple Wallet store cards: pass.json, images, manifest.json and its detached PKCS#7 signature.

Packaging follows Apple's rules: every file in the archive is listed in manifest.json with its
SHA-1, and `signature` is a DER-encoded detached PKCS#7 (CMS) signature of manifest.json made
with the Pass Type ID certificate, carrying Apple's WWDR intermediate certificate.
"""

from __future__ import annotations

import functools
import hashlib
import json
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from wallet.certs import PassSigner
from wallet.config import WalletSettings
from wallet.content import MAX_LOCATIONS, CardContent
from wallet.images import Branding, hex_to_rgb, images_for, readable_on

MEDIA_TYPE = "application/vnd.apple.pkpass"
# Keys Apple requires in every pass.json (PassKit Package Format Reference, "Top-Level Keys").
REQUIRED_KEYS = (
    "description",
    "formatVersion",
    "organizationName",
    "passTypeIdentifier",
    "serialNumber",
    "teamIdentifier",
)


def _rgb(color: tuple[int, int, int]) -> str:
    return f"rgb({color[0]}, {color[1]}, {color[2]})"


def _front_fields(content: CardContent) -> dict[str, list[dict[str, Any]]]:
    """Points, or a stamp card's grid (●●●○○○○○○○) with what the full card gives."""
    member = {"key": "member", "label": "MEMBER", "value": content.member_name}
    card = {"key": "card", "label": "CARD", "value": content.card_number_display}
    paid = _membership_fields(content)
    stamp_card = content.stamp_card
    if stamp_card is None:
        secondary = [member]
        if content.next_reward:
            # "Next reward: Croissant in 40 pts" split into the field's label and value.
            label, _, value = content.next_reward.partition(": ")
            secondary.append({"key": "next_reward", "label": label.upper(), "value": value})
        return {
            "primaryFields": [
                {
                    "key": "balance",
                    "label": "POINTS",
                    "value": content.balance,
                    "numberStyle": "PKNumberStyleDecimal",
                    "changeMessage": "You now have %@ points.",
                }
            ],
            "secondaryFields": secondary,
            "auxiliaryFields": [card, *paid],
        }
    return {
        "primaryFields": [
            {
                "key": "balance",
                "label": "STAMPS",
                "value": f"{stamp_card.filled} of {stamp_card.size}",
                "changeMessage": "Your card now has %@ stamps.",
            }
        ],
        "secondaryFields": [
            {
                "key": "stamps",
                "label": f"{stamp_card.size} STAMPS: {stamp_card.reward}".upper(),
                "value": stamp_card.grid,
            }
        ],
        "auxiliaryFields": [member, card, *paid],
    }


def pass_json(content: CardContent, settings: WalletSettings) -> dict[str, Any]:
    background = hex_to_rgb(content.branding.primary)
    foreground = readable_on(background)
    barcode = {
        "format": "PKBarcodeFormatQR",
        "message": content.qr_message,
        "messageEncoding": "iso-8859-1",
        "altText": content.card_number_display,
    }
    back_fields = [
        {"key": "earn", "label": "How to earn", "value": content.how_to_earn},
        {"key": "redeem", "label": "How to redeem", "value": content.how_to_redeem},
    ]
    if content.stamp_card is not None:
        # Where the card stands, and when a full card's reward comes (or why it waits).
        summary = {"key": "stamp_card", "label": "Your card", "value": content.stamp_card.summary}
        back_fields.insert(0, summary)
    if content.places:
        back_fields.append(
            {
                "key": "shops",
                "label": "Our shops",
                "value": "\n".join(
                    f"{p.name}, {p.address}" if p.address else p.name for p in content.places
                ),
            }
        )
    back_fields += [
        {
            "key": "member_page",
            "label": "Your member page",
            "value": content.member_url,
            "attributedValue": f"<a href='{content.member_url}'>Balance, rewards, history</a>",
        },
        {"key": "terms", "label": "Terms", "value": content.terms},
    ]
    if not content.white_label:
        back_fields.append({"key": "platform", "label": "Card by", "value": content.platform_name})
    body: dict[str, Any] = {
        "formatVersion": 1,
        "passTypeIdentifier": settings.pass_type_id,
        "serialNumber": content.serial_number,
        "teamIdentifier": settings.team_id,
        "organizationName": content.organization_name,
        "description": f"{content.program_name} loyalty card",
        "logoText": content.program_name,
        "backgroundColor": _rgb(background),
        "foregroundColor": _rgb(foreground),
        "labelColor": _rgb(foreground),
        "webServiceURL": settings.web_service_url,
        "authenticationToken": content.authentication_token,
        "sharingProhibited": True,
        "barcodes": [barcode],
        "barcode": barcode,  # read by iOS before 9
        "storeCard": {
            "headerFields": [
                {
                    "key": "tier",
                    "label": "TIER",
                    "value": content.tier or "Member",
                    "changeMessage": "You are now %@.",
                }
            ],
            **_front_fields(content),
            "backFields": back_fields,
        },
    }
    locations = [
        {
            "latitude": p.latitude,
            "longitude": p.longitude,
            "relevantText": f"{p.name}: show your {content.program_name} card",
        }
        for p in content.places
        if p.latitude is not None and p.longitude is not None
    ][:MAX_LOCATIONS]
    if locations:
        body["locations"] = locations
    if content.voided:
        body["voided"] = True
    if content.membership_required and content.membership_expires_at is not None:
        # Wallet shows the pass as expired from this instant on; a renewal's update moves it.
        # Not `voided`: that is for a card that is gone for good (blocked, closed).
        body["expirationDate"] = content.membership_expires_at.isoformat()
    return body


def _membership_fields(content: CardContent) -> list[dict[str, Any]]:
    text = content.membership_text
    if text is None:
        return []
    paid_up = content.membership_valid_until is not None and not content.membership_lapsed
    return [
        {
            "key": "membership",
            "label": "VALID UNTIL" if paid_up else "MEMBERSHIP",
            "value": text,
            "changeMessage": "Membership: %@",
        }
    ]


def manifest(files: dict[str, bytes]) -> bytes:
    return json.dumps(
        {name: hashlib.sha1(data).hexdigest() for name, data in sorted(files.items())},
        indent=0,
        separators=(",", ":"),
    ).encode()


def sign(data: bytes, signer: PassSigner) -> bytes:
    """Detached PKCS#7 signature (DER) with the signing time, carrying the WWDR certificate."""
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(data)
        .add_signer(signer.certificate, signer.key, hashes.SHA256())
        .add_certificate(signer.wwdr)
        .sign(
            serialization.Encoding.DER,
            [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
        )
    )


# A pass is a plain zip. Writing it by hand lets the images' entries (headers, CRCs, SHA-1s)
# be prepared once per branding; zipfile would redo them for every pass, which costs as much
# as the signature itself.
_DOS_TIME, _DOS_DATE = 0, (2020 - 1980) << 9 | 1 << 5 | 1  # 2020-01-01 00:00


@dataclass(frozen=True)
class _Entry:
    name: bytes
    data: bytes
    crc: int
    sha1: str

    @classmethod
    def of(cls, name: str, data: bytes) -> _Entry:
        return cls(name.encode(), data, zlib.crc32(data), hashlib.sha1(data).hexdigest())

    def local_header(self) -> bytes:
        return struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, _DOS_TIME, _DOS_DATE,
            self.crc, len(self.data), len(self.data), len(self.name), 0,
        ) + self.name  # fmt: skip

    def central_header(self, offset: int) -> bytes:
        return struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, _DOS_TIME, _DOS_DATE,
            self.crc, len(self.data), len(self.data), len(self.name), 0, 0, 0, 0, 0, offset,
        ) + self.name  # fmt: skip


@functools.lru_cache(maxsize=256)
def _image_entries(branding: Branding) -> tuple[_Entry, ...]:
    return tuple(_Entry.of(name, data) for name, data in sorted(images_for(branding).items()))


def _zip(entries: list[_Entry]) -> bytes:
    local, central, offset = [], [], 0
    for entry in entries:
        header = entry.local_header()
        local += [header, entry.data]
        central.append(entry.central_header(offset))
        offset += len(header) + len(entry.data)
    directory = b"".join(central)
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(directory), offset, 0
    )
    return b"".join(local) + directory + end


def _manifest(entries: list[_Entry]) -> bytes:
    return json.dumps(
        {e.name.decode(): e.sha1 for e in sorted(entries, key=lambda e: e.name)},
        indent=0,
        separators=(",", ":"),
    ).encode()


def package(files: dict[str, bytes], signer: PassSigner, images: tuple = ()) -> bytes:
    """Zip the files (and prepared image entries) with their manifest and signature."""
    entries = [*images, *(_Entry.of(name, data) for name, data in files.items())]
    manifest_file = _manifest(entries)
    entries.append(_Entry.of("manifest.json", manifest_file))
    entries.append(_Entry.of("signature", sign(manifest_file, signer)))
    return _zip(entries)


def build(content: CardContent, settings: WalletSettings, signer: PassSigner) -> bytes:
    files = {"pass.json": json.dumps(pass_json(content, settings), ensure_ascii=False).encode()}
    return package(files, signer, _image_entries(content.branding))
