"""A till talking to the Loyalty API: find or enrol the customer, price the basket, credit the
purchase (safe to retry), redeem a reward and accept its voucher, refund part of the purchase.

    LOYALTY_API_KEY=lk_live_… python docs/examples/pos.py [--base-url http://127.0.0.1:5000]

Standard library only. Against `make run`: create a key first with
`.venv/bin/flask --app web api-keys create --merchant supermarche-wagner`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid


class ApiError(Exception):
    """A problem+json answer: `code` to branch on, `detail` to show the cashier."""

    def __init__(self, status: int, problem: dict) -> None:
        super().__init__(problem.get("detail", f"HTTP {status}"))
        self.status = status
        self.code = problem.get("code", "")
        self.problem = problem


class LoyaltyApi:
    def __init__(self, base_url: str, key: str) -> None:
        self.base = base_url.rstrip("/") + "/api/v1"
        self.key = key

    def request(self, method: str, path: str, body: dict | None = None, *, key: str | None = None):
        """One call. POSTs carry an Idempotency-Key; a retry reuses it, so nothing happens twice."""
        headers = {"Authorization": f"Bearer {self.key}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if method == "POST":
            headers["Idempotency-Key"] = key or str(uuid.uuid4())
        for attempt in range(5):
            call = urllib.request.Request(
                self.base + path, data=data, method=method, headers=headers
            )
            try:
                with urllib.request.urlopen(call, timeout=10) as answer:
                    return json.load(answer)
            except urllib.error.HTTPError as error:
                problem = json.load(error) if error.headers.get_content_subtype() in (
                    "problem+json", "json") else {}  # fmt: skip
                # 409 idempotency_in_progress: the first attempt still runs; 429: over the
                # rate limit. Both say "wait, then send the very same request again".
                retry = error.code == 429 or problem.get("code") == "idempotency_in_progress"
                if not retry or attempt == 4:
                    raise ApiError(error.code, problem) from None
                time.sleep(float(error.headers.get("Retry-After") or 0.5))
            except urllib.error.URLError:
                if attempt == 4:
                    raise
                time.sleep(0.5 * (attempt + 1))  # network hiccup: same key, safe to resend
        raise AssertionError("unreachable")


def find_or_enrol(api: LoyaltyApi, email: str, name: str) -> dict:
    try:
        return api.request("GET", f"/members/lookup?email={urllib.parse.quote(email)}")
    except ApiError as error:
        if error.status != 404:
            raise
    return api.request("POST", "/members", {"name": name, "email": email, "terms_accepted": True})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base-url", default=os.environ.get("LOYALTY_API_URL", "http://127.0.0.1:5000")
    )
    parser.add_argument("--key", default=os.environ.get("LOYALTY_API_KEY"))
    parser.add_argument("--email", default="pos-example@example.com")
    args = parser.parse_args()
    if not args.key:
        parser.error("give the API key with --key or LOYALTY_API_KEY")
    api = LoyaltyApi(args.base_url, args.key)

    try:
        shop = api.request("GET", "/shops")["data"][0]
        print(f"Till in {shop['name']} (shop {shop['id']})")
        member = find_or_enrol(api, args.email, "Pos Example")
        print(f"Customer: card {member['card_number']}, {member['points_balance']} points")

        basket = {
            "member_id": member["id"],
            "amount_cents": 4780,
            "shop_id": shop["id"],
            "lines": [{"amount_cents": 1290, "category": "wine", "label": "Riesling"}],
        }
        quote = api.request("POST", "/promotions/evaluate", basket)
        print(
            f"This basket earns {quote['points']} points, discount €{quote['discount_cents'] / 100:.2f}"
        )

        receipt = f"R-{uuid.uuid4().hex[:8]}"
        purchase = {**basket, "order_reference": receipt}
        # The key is derived from the receipt: if the till crashes and resends, nothing doubles.
        earned = api.request("POST", "/transactions", purchase, key=f"earn-{receipt}")
        again = api.request("POST", "/transactions", purchase, key=f"earn-{receipt}")
        assert again == earned, "a retry returns the first answer"
        print(f"+{earned['points']} points for {receipt}; balance now {earned['balance']}")

        rewards = api.request("GET", "/rewards")["data"]
        affordable = [r for r in rewards if r["points_cost"] <= earned["balance"]]
        if affordable:
            reward = affordable[0]
            redeemed = api.request(
                "POST", "/redemptions", {"member_id": member["id"], "reward_id": reward["id"]}
            )
            code = redeemed["voucher"]["code"]
            print(f"Redeemed “{reward['name']}”: voucher {code}, balance {redeemed['balance']}")
            used = api.request("POST", f"/vouchers/{code}/use", {"shop_id": shop["id"]})
            print(f"Voucher {code} accepted: {used['status']}")
        else:
            print("No reward affordable yet.")

        refund = api.request(
            "POST",
            f"/transactions/{earned['transaction']['id']}/refund",
            {"amount_cents": 1290, "reason": "Riesling returned"},
        )
        print(
            f"Refund of €12.90: {refund['transaction']['points']} points; balance {refund['balance']}"
        )
    except ApiError as error:
        print(f"Refused ({error.status} {error.code}): {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
