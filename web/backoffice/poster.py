"""The counter poster: a printable A4/A5 page per shop with the join page's QR code and Telegram link."""

from __future__ import annotations

from flask import render_template, request

from loyalty.models import Shop
from loyalty.services import merchants
from web.backoffice.views import blueprint
from web.extensions import db
from web.public import links
from web.public.branding import theme_for
from web.tenancy import tenant_get_or_404

SIZES = ("a4", "a5")


@blueprint.get("/shops/<int:shop_id>/poster")
def shop_poster(shop_id: int) -> str:
    shop = tenant_get_or_404(Shop, shop_id)
    program = merchants.program_of(db.session, shop.merchant)
    size = request.args.get("size", "a4").lower()
    return render_template(
        "public/poster.html",
        shop=shop,
        program=program,
        merchant=shop.merchant,
        theme=theme_for(program),
        size=size if size in SIZES else "a4",
        sizes=SIZES,
        join_url=links.join_url(program),
        telegram_link=links.telegram_join_link(program),
    )
