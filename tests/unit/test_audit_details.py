"""The audit log shows its details in words, not as Python values."""

from loyalty.services.audit_log import detail_items


def test_details_read_as_words_and_empty_ones_are_left_out() -> None:
    details = {
        "actor": "owner@example.com",  # shown in its own column
        "name": "Free coffee",  # shown under the action
        "changed": {"points_per_euro": "2"},
        "active": False,
        "points_cost": 100,
        "shops": ["Gare", "Remich"],
        "reason": "",
    }
    assert detail_items(details) == [
        ("changed", "points per euro 2"),
        ("active", "no"),
        ("points cost", "100"),
        ("shops", "Gare, Remich"),
    ]
    assert detail_items(None) == []
