"""The back-office home: the programme's figures, as much as the merchant's offering includes."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Response, render_template, request, stream_with_context

from loyalty.models import Membership
from loyalty.offerings import FEATURE_LABELS, Feature, cheapest_plan_with, has, plan_of
from loyalty.services import analytics, merchants
from loyalty.services.shops import open_shop_count
from web.backoffice import charts
from web.backoffice.views import blueprint, count
from web.extensions import db
from web.tenancy import current_merchant


def _merchant():
    merchant = current_merchant()
    assert merchant is not None  # the blueprint's role guard let the request in
    return merchant


def _days() -> int:
    """`?days=`: a bad value is refused by the service with a readable message, never a 500."""
    raw = request.args.get("days", "")
    if not raw:
        return analytics.BASIC_PERIOD_DAYS
    try:
        return int(raw)
    except ValueError:
        return -1


def _charts(series: analytics.Series) -> list[charts.Chart]:
    days = [bucket.first_day for bucket in series.buckets]
    per = "per day" if series.unit == "day" else "per week"
    return [
        charts.bar_chart(
            f"New members {per}", days, [bucket.new_members for bucket in series.buckets]
        ),
        charts.bar_chart(f"Visits {per}", days, [bucket.visits for bucket in series.buckets]),
        charts.line_chart(
            f"Points {per}",
            days,
            [
                ("Issued", [bucket.points_issued for bucket in series.buckets]),
                ("Redeemed", [bucket.points_redeemed for bucket in series.buckets]),
            ],
        ),
        charts.bar_chart(
            f"Spend {per}",
            days,
            [bucket.spend_cents // 100 for bucket in series.buckets],
            fmt=lambda value: "€" + charts.short_number(value),
        ),
    ]


@blueprint.get("/", endpoint="home")
def dashboard() -> str:
    merchant = _merchant()
    plan = plan_of(merchant)
    figures = analytics.dashboard(db.session, merchant=merchant, days=_days())
    period, kpis = figures.period, figures.kpis
    context: dict[str, Any] = {}
    if figures.series is not None:
        context.update(
            series=figures.series,
            charts=_charts(figures.series),
            shops=figures.shops,
            tiers=figures.tiers,
            rewards=figures.rewards,
        )
    if figures.cohorts is not None:
        context["cohorts"] = figures.cohorts
    features = [
        (FEATURE_LABELS[feature], feature in plan.features, cheapest_plan_with(feature).label)
        for feature in Feature
    ]
    return render_template(
        "backoffice/dashboard.html",
        merchant=merchant,
        plan=plan,
        period=period,
        period_choices=analytics.PERIOD_CHOICES,
        kpis=kpis,
        as_of=figures.as_of,
        program=merchants.program_of(db.session, merchant),  # its currency, for |euros
        features=features,
        advanced=has(merchant, Feature.ADVANCED_ANALYTICS),
        full=has(merchant, Feature.FULL_ANALYTICS),
        advanced_plan=cheapest_plan_with(Feature.ADVANCED_ANALYTICS).label,
        full_plan=cheapest_plan_with(Feature.FULL_ANALYTICS).label,
        shop_count=open_shop_count(db.session, merchant),  # as the offering counts them
        staff_count=count(Membership),
        **context,
    )


def _csv_lines(rows: Iterable[list[str]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


@blueprint.get("/analytics.csv")
def analytics_export() -> Response:
    """Every figure of the dashboard as CSV, streamed section by section (full analytics)."""
    merchant = _merchant()
    period = analytics.period_for(merchant, days=_days())
    rows = analytics.export_rows(db.session, merchant=merchant, period=period)
    filename = f"{merchant.slug}-analytics-{period.first_day}-{period.last_day}.csv"
    return Response(
        stream_with_context(_csv_lines(rows)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@blueprint.context_processor
def offering_notice() -> dict[str, Any]:
    """The banner saying what the last offering change switched off (every back-office page)."""

    def notice() -> merchants.OfferingChange | None:
        merchant = current_merchant()
        if merchant is None:
            return None
        change = merchants.latest_offering_change(db.session, merchant=merchant)
        return change if change is not None and change.is_downgrade else None

    return {"offering_notice": notice}
