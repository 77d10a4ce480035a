"""The report summary: customers, paid total, and counts per channel, tag and province."""

from __future__ import annotations

from typing import Any

from chatcrm.provinces import UNKNOWN_PROVINCE, find_province

SUMMARY_TAG_LIMIT = 100
"""At most this many tags in a summary: the most used ones."""


def _most_first(counts: dict[str, int], key: str) -> list[dict[str, Any]]:
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [{key: name, "customers": n} for name, n in ordered]


def shape_summary(raw: dict[str, Any], currency: str) -> dict[str, Any]:
    """The summary answer from the store's raw counts, for a shop keeping `currency`.

    Channels, tags and provinces come most customers first, ties by name. ``most`` and
    ``fewest`` are the channels with the most and fewest of the matching customers (None when
    none match); only channels that have matching customers are listed. ``paid_total`` is in
    the shop's currency; ``paid_totals`` lists every currency met.
    """
    totals = raw["totals"]
    customers = sum(t["customers"] for t in totals)
    paid_total = sum(t["paid_total"] for t in totals if t["currency"] == currency)
    channels = _most_first(raw["channels"], "channel")
    provinces = []
    for entry in _most_first(raw["provinces"], "province"):
        name = entry["province"]
        province = find_province(name) if name != UNKNOWN_PROVINCE else None
        provinces.append(
            {
                "province": name,
                "province_th": province.name_th if province else None,
                "customers": entry["customers"],
            }
        )
    return {
        "customers": customers,
        "paid_total": paid_total,
        "currency": currency,
        "paid_totals": sorted(totals, key=lambda t: (-t["customers"], str(t["currency"]))),
        "channels": channels,
        "most": channels[0] if channels else None,
        "fewest": channels[-1] if channels else None,
        "tags": _most_first(raw["tags"], "tag")[:SUMMARY_TAG_LIMIT],
        "provinces": provinces,
    }
