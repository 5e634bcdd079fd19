"""White-label branding (Enterprise): the merchant's own colours, logo and sender name.

Stored in `Merchant.branding`, whose keys `wallet/content.py` and the public pages read
(`primary_color`, `secondary_color`, `logo_path`); empty values fall back to the programme's
own. The caller must make wallet passes refresh after a change (`wallet.passes.branding_changed`):
the core does not import the wallet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from loyalty import offerings
from loyalty.errors import InvalidInput
from loyalty.models import Merchant, Role
from loyalty.offerings import Feature
from loyalty.services import audit, images
from loyalty.services.actors import Actor

_HEX = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})")
# A display name in a From: header. Quotes, angle brackets, commas, @ and line breaks would
# let a name forge another address or header, so they are refused outright.
_SENDER_NAME = re.compile(r"[^\"<>,;:@\\\r\n\t]{1,60}")
LOGO_SIDE = 660  # Google Wallet's recommended square logo


@dataclass(frozen=True)
class BrandingDraft:
    primary_color: str = ""  # "#rrggbb"; empty: the programme's colour
    secondary_color: str = ""
    sender_name: str = ""  # empty: the programme's name


@dataclass(frozen=True)
class BrandingChange:
    changed: bool
    replaced_logo: str | None = None  # to delete once the transaction has committed


def colour(raw: str | None, *, field: str) -> str:
    text = (raw or "").strip()
    if not text:
        return ""
    match = _HEX.fullmatch(text)
    if match is None:
        raise InvalidInput(f"'{text}' is not a colour. Use a hex code like #7a4b2a.", field=field)
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return f"#{digits}"


def sender_name(raw: str | None) -> str:
    text = " ".join((raw or "").split())
    if not text:
        return ""
    if not _SENDER_NAME.fullmatch(text):
        raise InvalidInput(
            "A sender name has at most 60 characters, without quotes, <, >, commas, colons, "
            "semicolons or @.",
            field="sender_name",
        )
    return text


def draft_of(merchant: Merchant) -> BrandingDraft:
    branding = merchant.branding or {}
    return BrandingDraft(
        primary_color=branding.get("primary_color") or "",
        secondary_color=branding.get("secondary_color") or "",
        sender_name=branding.get("sender_name") or "",
    )


def update_branding(
    session: Session,
    *,
    merchant: Merchant,
    actor: Actor,
    draft: BrandingDraft,
    logo: bytes | None = None,
    remove_logo: bool = False,
    folder: Path,
) -> BrandingChange:
    """Save the brand; `changed` says whether anything a customer sees changed."""
    actor.require_role(Role.OWNER, "change the brand")
    offerings.require(merchant, Feature.WHITE_LABEL)
    values = {
        "primary_color": colour(draft.primary_color, field="primary_color"),
        "secondary_color": colour(draft.secondary_color, field="secondary_color"),
        "sender_name": sender_name(draft.sender_name),
    }
    before = dict(merchant.branding or {})
    after = dict(before)
    for key, value in values.items():
        if value:
            after[key] = value
        else:
            after.pop(key, None)
    replaced = None
    if logo is not None:
        png = images.normalised_png(logo, field="logo", max_side=LOGO_SIDE)
        relative = images.store(folder, f"branding/{merchant.id}", "logo", png)
        # The wallet opens the logo by path, so the stored value is the absolute one.
        after["logo_path"] = str((folder / relative).resolve())
        after["logo_file"] = relative
        replaced = before.get("logo_file")
    elif remove_logo and before.get("logo_file"):
        after.pop("logo_path", None)
        after.pop("logo_file", None)
        replaced = before.get("logo_file")
    if after == before:
        return BrandingChange(changed=False)
    merchant.branding = after  # a new dict: JSON columns do not see changes made in place
    session.flush()
    audit.record(
        session,
        merchant_id=merchant.id,
        actor=actor,
        action="merchant.branding_changed",
        target_type="merchant",
        target_id=merchant.id,
        changed=sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k)),
    )
    return BrandingChange(changed=True, replaced_logo=replaced)
