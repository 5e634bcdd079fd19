"""Sent mail: the business's outgoing messages, as the local log delivered them.

What each viewer may read is decided in loyalty.services.sent_mail (links are hidden except
an invitation's, for the person who sent it).
"""

from __future__ import annotations

from flask import render_template

from loyalty.models import OutboxMessage
from loyalty.services import sent_mail
from web.backoffice.views import PER_PAGE, blueprint
from web.extensions import db
from web.tenancy import page_number, signed_in_user, tenant_select


@blueprint.get("/mail")
def mail() -> str:
    page = db.paginate(
        tenant_select(OutboxMessage).order_by(
            OutboxMessage.created_at.desc(), OutboxMessage.id.desc()
        ),
        page=page_number(),
        per_page=PER_PAGE,
        error_out=False,
    )
    viewer = signed_in_user()
    views = [
        sent_mail.for_merchant(message, viewer_user_id=viewer.id if viewer else None)
        for message in page.items
    ]
    return render_template("backoffice/mail.html", page=page, views=views)
