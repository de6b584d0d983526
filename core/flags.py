"""What an order's items need on the bench: the fridge, the controlled-substance cabinet.

``[floor] fridge`` and ``[floor] controlled`` list product codes (SKU, PZN, GTIN, NDC: equal
to an item's code) or words of a product's name (found in its name, any case). Pure: the
service stores the result on the order (``orders.flags``) when its items arrive.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rxfloor.core.models import LineItem

FRIDGE = "fridge"
CONTROLLED = "controlled"


@dataclass(frozen=True, slots=True)
class FlagRules:
    fridge: tuple[str, ...] = ()
    controlled: tuple[str, ...] = ()

    @classmethod
    def of(cls, fridge: Iterable[str], controlled: Iterable[str]) -> FlagRules:
        return cls(_clean(fridge), _clean(controlled))


def _clean(terms: Iterable[str]) -> tuple[str, ...]:
    return tuple(t.strip().casefold() for t in terms if t.strip())


def _hits(item: LineItem, terms: Sequence[str]) -> bool:
    codes = {c.casefold() for c in (item.sku, item.pzn, item.barcode) if c}
    name = f"{item.drug} {item.strength}".casefold()
    return any(t in codes or re.search(rf"(?<!\w){re.escape(t)}(?!\w)", name) for t in terms)


def item_flags(items: Iterable[LineItem], rules: FlagRules) -> str:
    """``"fridge,controlled"``, ``"fridge"``, … or ``""``: what any of the items needs."""
    found = []
    listed = list(items)
    if rules.fridge and any(_hits(i, rules.fridge) for i in listed):
        found.append(FRIDGE)
    if rules.controlled and any(_hits(i, rules.controlled) for i in listed):
        found.append(CONTROLLED)
    return ",".join(found)
