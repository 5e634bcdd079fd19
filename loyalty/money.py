"""Amounts of money as people read them: integer cents in, text in the programme's currency out.

The one way to show an amount (pages, bot replies, messages); named for the default currency.
"""

from __future__ import annotations

# Currencies written with a sign before the amount in English ("€12.50"); the others show
# their code ("CHF 12.50"). French and German put the sign or code after ("12,50 €").
SIGNS = {"EUR": "€", "GBP": "£", "USD": "$"}
DEFAULT_CURRENCY = "EUR"


def euros(
    cents: int | None,
    currency: str | None = DEFAULT_CURRENCY,
    *,
    language: str = "en",
    grouping: bool = False,
) -> str:
    """`1250` → "€12.50" (English) or "12,50 €" (French, German); None → "–".

    `grouping` separates thousands ("€1,250.00"), for figures rather than receipts.
    """
    if cents is None:
        return "–"
    code = (currency or DEFAULT_CURRENCY).upper()
    sign = SIGNS.get(code)
    number = f"{abs(cents) / 100:,.2f}" if grouping else f"{abs(cents) / 100:.2f}"
    minus = "−" if cents < 0 else ""
    if language == "en":
        return f"{minus}{sign}{number}" if sign else f"{minus}{code} {number}"
    # 1,250.00 → 1 250,00 (a narrow no-break space groups thousands in both languages)
    number = number.replace(",", "\u202f").replace(".", ",")
    return f"{minus}{number} {sign or code}"
