"""Realistic sample orders for demos, benchmarks and tests — reproducible for a seed.

Sample orders are marked ``sample`` in the store and are never pushed to a remote.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

from rxfloor.core.lifecycle import DeliveryType, Priority
from rxfloor.core.models import LineItem, NewOrder
from rxfloor.core.products import pzn_from

DRUGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Amoxicillin", ("250 mg caps", "500 mg caps", "1000 mg tabs")),
    ("Ibuprofen", ("400 mg tabs", "600 mg tabs", "800 mg tabs")),
    ("Metformin", ("500 mg tabs", "850 mg tabs", "1000 mg tabs")),
    ("Atorvastatin", ("10 mg tabs", "20 mg tabs", "40 mg tabs")),
    ("Lisinopril", ("5 mg tabs", "10 mg tabs", "20 mg tabs")),
    ("Levothyroxine", ("25 µg tabs", "50 µg tabs", "100 µg tabs")),
    ("Omeprazole", ("20 mg caps", "40 mg caps")),
    ("Pantoprazole", ("20 mg tabs", "40 mg tabs")),
    ("Salbutamol", ("100 µg inhaler",)),
    ("Sertraline", ("50 mg tabs", "100 mg tabs")),
    ("Amlodipine", ("5 mg tabs", "10 mg tabs")),
    ("Ramipril", ("2.5 mg caps", "5 mg caps", "10 mg caps")),
    ("Bisoprolol", ("2.5 mg tabs", "5 mg tabs")),
    ("Prednisolone", ("5 mg tabs", "20 mg tabs")),
    ("Insulin glargine", ("100 U/ml pen",)),
    ("Enoxaparin", ("40 mg/0.4 ml syringe",)),
    ("Apixaban", ("2.5 mg tabs", "5 mg tabs")),
    ("Metoprolol", ("47.5 mg tabs", "95 mg tabs")),
    ("Cetirizine", ("10 mg tabs",)),
    ("Fluticasone", ("50 µg nasal spray",)),
    ("Doxycycline", ("100 mg caps",)),
    ("Gabapentin", ("300 mg caps", "600 mg tabs")),
)

FIRST_NAMES = (
    "Anna", "Ben", "Clara", "David", "Elif", "Farid", "Greta", "Hannah", "Ismail", "Julia",
    "Karl", "Lena", "Mehmet", "Nora", "Oskar", "Paula", "Quentin", "Rosa", "Sven", "Tanja",
    "Uwe", "Vera", "Wiebke", "Yusuf", "Zoe", "Maria", "Jonas", "Sofia", "Lukas", "Emma",
)  # fmt: skip
LAST_NAMES = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
    "Hoffmann", "Schulz", "Koch", "Richter", "Klein", "Wolf", "Neumann", "Schwarz",
    "Zimmermann", "Braun", "Krüger", "Hartmann", "Lange", "Yilmaz", "Kaya", "Nowak",
)  # fmt: skip
HOLD_REASONS = (
    "Awaiting prescriber callback",
    "Insurance pre-authorisation pending",
    "Out of stock - reorder placed",
    "Patient asked to wait for pickup slot",
    "Interaction check with GP",
)


def sample_orders(count: int, seed: int, now: datetime) -> Iterator[NewOrder]:
    """``count`` orders; the same ``seed`` gives the same orders (times relative to ``now``)."""
    rng = random.Random(seed)
    prefix = "" if seed == 0 else f"{seed}-"
    for i in range(count):
        roll = rng.random()
        priority = (
            Priority.STAT if roll < 0.08 else Priority.WAITER if roll < 0.25 else Priority.NORMAL
        )
        delivery = rng.choices(list(DeliveryType), weights=(6, 3, 1))[0]
        created = now - timedelta(minutes=rng.randint(1, 240))
        window = {
            Priority.STAT: timedelta(minutes=30),
            Priority.WAITER: timedelta(minutes=15),
            Priority.NORMAL: timedelta(hours=rng.randint(2, 24)),
        }[priority]
        items = []
        for _ in range(rng.choices((1, 2, 3, 4), weights=(5, 3, 2, 1))[0]):
            drug, strengths = rng.choice(DRUGS)
            items.append(
                LineItem(
                    sku=f"sku-{rng.randrange(16**8):08x}",
                    drug=drug,
                    strength=rng.choice(strengths),
                    quantity=rng.choices((1, 2, 3), weights=(8, 2, 1))[0],
                    pzn=pzn_from(rng.randrange(10**8)),
                )
            )
        special = rng.random()
        on_hold = special < 0.05
        scheduled = 0.05 <= special < 0.10
        yield NewOrder(
            id=f"po-s{seed}-{i + 1:06d}",
            name=f"#{prefix}{1001 + i}",
            priority=priority,
            delivery_type=delivery,
            patient_name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            items=items,
            created_at=created,
            due_at=created + window,
            fulfill_at=now + timedelta(hours=rng.randint(1, 48)) if scheduled else None,
            on_hold=on_hold,
            hold_reason=rng.choice(HOLD_REASONS) if on_hold else None,
            sample=True,
        )
