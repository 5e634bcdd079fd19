"""All outgoing messages of the platform, for its operators (password resets included)."""

from __future__ import annotations

from flask import render_template
from sqlalchemy import select

from loyalty.models import Merchant, OutboxMessage
from loyalty.services import sent_mail
from web.admin.views import PER_PAGE, blueprint
from web.extensions import db
from web.tenancy import page_number


@blueprint.get("/mail")
def mail() -> str:
    # Deliberately across tenants: the operator's view of what the platform sent.
    page = db.paginate(
        select(OutboxMessage).order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()),
        page=page_number(),
        per_page=PER_PAGE,
        error_out=False,
    )
    views = [sent_mail.for_platform(message) for message in page.items]
    ids = {message.merchant_id for message in page.items if message.merchant_id is not None}
    names = dict(
        db.session.execute(select(Merchant.id, Merchant.name).where(Merchant.id.in_(ids))).all()
    )
    return render_template("admin/mail.html", page=page, views=views, merchant_names=names)
