"""Keeping installed passes current: find changed passes, queue pushes, deliver them to APNs.

Nothing here runs on the earn path. `queue_pass_updates` is one set-based pass over the passes
whose member (or branding) changed since their last push; it queues an APNs push per registered
Apple device and a REST update per Google pass. The worker then calls the senders.
"""

from __future__ import annotations

import ssl
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import case, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from loyalty.db import is_postgres, utcnow
from loyalty.models import (
    AppleRegistration,
    LoyaltyMember,
    OutboxChannel,
    OutboxMessage,
    OutboxStatus,
    WalletPass,
    WalletPlatform,
)
from wallet.config import WalletSettings
from wallet.delivery import Outcome

TEMPLATE = "pass_update"


def tag_of(moment: datetime) -> str:
    """The update tag Apple devices hand back: microseconds since the epoch, as text."""
    return str(int(moment.timestamp() * 1_000_000))


def modified_expression():
    """SQL for a pass's last modification: the later of the pass's and its member's."""
    return case(
        (WalletPass.updated_at > LoyaltyMember.updated_at, WalletPass.updated_at),
        else_=LoyaltyMember.updated_at,
    )


def queue_pass_updates(
    session: Session, now: datetime | None = None, *, limit: int = 5000
) -> dict[str, int]:
    """Queue pushes for every pass changed since its last push; the caller commits.

    Safe to run concurrently (SKIP LOCKED on PostgreSQL) and to re-run: a pass is marked
    pushed at the modification time it was queued for, so a change that lands meanwhile is
    picked up by the next run.
    """
    now = now or utcnow()
    modified = modified_expression().label("modified")
    query = (
        select(
            WalletPass.id,
            WalletPass.merchant_id,
            WalletPass.member_id,
            WalletPass.platform,
            WalletPass.serial_number,
            modified,
        )
        .join(LoyaltyMember, LoyaltyMember.id == WalletPass.member_id)
        .where(
            or_(
                LoyaltyMember.updated_at > WalletPass.pushed_at,
                WalletPass.updated_at > WalletPass.pushed_at,
            )
        )
        .order_by(WalletPass.id)
        .limit(limit)
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True, of=WalletPass)
    changed = session.execute(query).all()
    if not changed:
        return {"passes": 0, "apple": 0, "google": 0}
    apple_ids = [row.id for row in changed if row.platform == WalletPlatform.APPLE]
    devices: dict[int, list[tuple[int, str]]] = {}
    if apple_ids:
        for registration in session.execute(
            select(AppleRegistration.id, AppleRegistration.pass_id, AppleRegistration.push_token)
            .where(AppleRegistration.pass_id.in_(apple_ids))
        ):  # fmt: skip
            devices.setdefault(registration.pass_id, []).append(
                (registration.id, registration.push_token)
            )
    messages: list[dict[str, Any]] = []
    for row in changed:
        tag = tag_of(row.modified)
        common = {
            "merchant_id": row.merchant_id,
            "member_id": row.member_id,
            "template": TEMPLATE,
            "status": OutboxStatus.QUEUED,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        if row.platform == WalletPlatform.APPLE:
            for registration_id, push_token in devices.get(row.id, []):
                messages.append(
                    common
                    | {
                        "channel": OutboxChannel.APPLE,
                        "address": push_token,
                        "payload": {"pass_id": row.id, "registration_id": registration_id},
                        "dedupe_key": f"apns:{registration_id}:{tag}",
                    }
                )
        else:
            messages.append(
                common
                | {
                    "channel": OutboxChannel.GOOGLE,
                    "address": row.serial_number,
                    "payload": {"pass_id": row.id},
                    "dedupe_key": f"gwallet:{row.id}:{tag}",
                }
            )
    if messages:
        session.execute(insert(OutboxMessage), messages)
    session.execute(
        update(WalletPass),
        [{"id": row.id, "pushed_at": row.modified} for row in changed],
    )
    return {
        "passes": len(changed),
        "apple": sum(1 for m in messages if m["channel"] == OutboxChannel.APPLE),
        "google": sum(1 for m in messages if m["channel"] == OutboxChannel.GOOGLE),
    }


def apns_ssl_context(settings: WalletSettings) -> ssl.SSLContext:
    """TLS with the Pass Type ID certificate as client certificate, as APNs requires for passes."""
    context = ssl.create_default_context(
        cafile=str(settings.apns_ca_file) if settings.apns_ca_file else None
    )
    context.load_cert_chain(
        str(settings.certificate), str(settings.key), password=settings.key_password
    )
    return context


class ApnsSender:
    """Delivers outbox messages of channel `apple`: an empty push on the pass type topic."""

    def __init__(
        self,
        session: Session,
        settings: WalletSettings,
        *,
        client: httpx.Client | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.session = session
        self.settings = settings
        self._client = client
        self.timeout = timeout

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                http1=False,
                http2=True,
                verify=apns_ssl_context(self.settings),
                timeout=self.timeout,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def send(self, message: OutboxMessage) -> Outcome:
        token = message.address
        if not token or not all(c in "0123456789abcdefABCDEF" for c in token):
            return Outcome(OutboxStatus.SKIPPED, error="Not an APNs device token.")
        try:
            response = self.client.post(
                f"{self.settings.apns_url}/3/device/{token}",
                headers={
                    "apns-topic": self.settings.pass_type_id,
                    "apns-push-type": "background",
                    "apns-priority": "5",
                },
                content=b"{}",
            )
        except httpx.HTTPError as exc:
            return Outcome(OutboxStatus.FAILED, error=f"APNs: {exc!r}", retry=True)
        apns_id = response.headers.get("apns-id")
        if response.status_code == 200:
            return Outcome(OutboxStatus.SENT, provider_id=apns_id)
        reason = _reason(response)
        if response.status_code == 410 or reason in {"BadDeviceToken", "Unregistered"}:
            # The device no longer wants pushes for this pass (410) or the token is bad: forget it.
            removed = self.session.execute(
                delete(AppleRegistration).where(AppleRegistration.push_token == token)
            ).rowcount
            return Outcome(
                OutboxStatus.SKIPPED,
                provider_id=apns_id,
                error=f"APNs {response.status_code} {reason}: {removed} registration(s) removed",
            )
        retry = response.status_code == 429 or response.status_code >= 500
        return Outcome(
            OutboxStatus.FAILED,
            provider_id=apns_id,
            error=f"APNs {response.status_code} {reason}",
            retry=retry,
        )


def _reason(response: httpx.Response) -> str:
    try:
        return str(response.json().get("reason", ""))
    except ValueError:
        return ""
