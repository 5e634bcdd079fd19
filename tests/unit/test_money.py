"""One way to show an amount: cents in, the programme's currency and the reader's language out."""

from __future__ import annotations

import pytest

from loyalty.money import euros


@pytest.mark.parametrize(
    ("cents", "currency", "language", "shown"),
    [
        (1250, "EUR", "en", "€12.50"),
        (5, "EUR", "en", "€0.05"),
        (1250, "EUR", "fr", "12,50 €"),
        (1250, "EUR", "de", "12,50 €"),
        (1250, "GBP", "en", "£12.50"),
        (1250, "CHF", "en", "CHF 12.50"),
        (1250, "CHF", "de", "12,50 CHF"),
        (1250, None, "en", "€12.50"),
        (-500, "EUR", "en", "−€5.00"),
    ],
)
def test_an_amount_reads_the_way_its_currency_and_language_write_it(
    cents, currency, language, shown
):
    assert euros(cents, currency, language=language) == shown


def test_figures_group_thousands_and_receipts_do_not():
    assert euros(123456789, "EUR", grouping=True) == "€1,234,567.89"
    assert euros(123456789, "EUR") == "€1234567.89"
    assert euros(123456789, "EUR", language="fr", grouping=True) == "1\u202f234\u202f567,89 €"


def test_no_amount_shows_a_dash():
    assert euros(None) == "–"


def test_pages_show_amounts_in_the_programmes_currency(app):
    with app.test_request_context():
        template = app.jinja_env.from_string("{{ 1250|euros }} {{ 1250|euros('GBP') }}")
        assert template.render() == "€12.50 £12.50"

        class Programme:
            currency = "CHF"

        assert app.jinja_env.from_string("{{ 1250|euros }}").render(program=Programme()) == (
            "CHF 12.50"
        )
