"""Inventory report: dataclasses, enums, csv/json round trips, dunder methods, f-strings."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Iterable, Iterator, Optional


class Category(Enum):
    TOOLS = "tools"
    FOOD = "food"
    TOYS = "toys"

    def __str__(self) -> str:
        return self.value


@dataclass(order=True)
class Item:
    sku: str
    name: str = field(compare=False)
    category: Category = field(compare=False, default=Category.TOOLS)
    price: Decimal = field(compare=False, default=Decimal("0"))
    quantity: int = field(compare=False, default=0)
    tags: list[str] = field(default_factory=list, compare=False)

    def __post_init__(self) -> None:
        if self.quantity < 0:
            raise ValueError(f"{self.sku}: negative quantity {self.quantity}")
        self.price = Decimal(self.price)

    @property
    def value(self) -> Decimal:
        return self.price * self.quantity

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.sku!r}, qty={self.quantity})"


@dataclass(frozen=True)
class Money:
    cents: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "cents", int(self.cents))

    def __add__(self, other: "Money") -> "Money":
        return Money(self.cents + other.cents)

    def __str__(self) -> str:
        return f"${self.cents / 100:,.2f}"


class Inventory:
    def __init__(self, items: Iterable[Item] = ()) -> None:
        self._items: dict[str, Item] = {}
        for item in items:
            self.add(item)

    def add(self, item: Item) -> None:
        if item.sku in self._items:
            self._items[item.sku].quantity += item.quantity
        else:
            self._items[item.sku] = item

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Item]:
        return iter(sorted(self._items.values()))

    def __getitem__(self, sku: str) -> Item:
        return self._items[sku]

    def __contains__(self, sku: object) -> bool:
        return sku in self._items

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, self.__class__):
            return NotImplemented
        return self._items == other._items

    def by_category(self) -> dict[Category, list[Item]]:
        groups: dict[Category, list[Item]] = defaultdict(list)
        for item in self:
            groups[item.category].append(item)
        return dict(groups)

    def total_value(self) -> Decimal:
        return sum((item.value for item in self), Decimal("0"))

    def low_stock(self, threshold: int = 5) -> list[str]:
        return [item.sku for item in self if item.quantity < threshold]

    def find(self, text: str) -> Optional[Item]:
        text = text.lower()
        return next((i for i in self if text in i.name.lower() or text in i.tags), None)

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["sku", "name", "category", "price", "quantity"])
        writer.writeheader()
        for item in self:
            writer.writerow(
                {
                    "sku": item.sku,
                    "name": item.name,
                    "category": str(item.category),
                    "price": f"{item.price:.2f}",
                    "quantity": item.quantity,
                }
            )
        return buffer.getvalue()

    @classmethod
    def from_csv(cls, text: str) -> "Inventory":
        reader = csv.DictReader(io.StringIO(text))
        return cls(
            Item(
                sku=row["sku"],
                name=row["name"],
                category=Category(row["category"]),
                price=Decimal(row["price"]),
                quantity=int(row["quantity"]),
            )
            for row in reader
        )

    def to_json(self) -> str:
        def encode(item: Item) -> dict:
            data = asdict(item)
            data["category"] = item.category.value
            data["price"] = str(item.price)
            return data

        return json.dumps({"date": date(2024, 1, 31).isoformat(), "items": [encode(i) for i in self]}, indent=2)


def main() -> None:
    inventory = Inventory(
        [
            Item("T-100", "Hammer", Category.TOOLS, Decimal("12.50"), 10, ["steel"]),
            Item("T-101", "Screwdriver set", Category.TOOLS, Decimal("19.99"), 3),
            Item("F-200", "Coffee beans", Category.FOOD, Decimal("8.75"), 40, ["organic"]),
            Item("Y-300", "Kite", Category.TOYS, Decimal("24.00"), 2),
        ]
    )
    inventory.add(Item("T-100", "Hammer", quantity=5))
    print(f"{len(inventory)} items, total {inventory.total_value():.2f}")
    for category, items in inventory.by_category().items():
        names = ", ".join(sorted(i.name for i in items))
        print(f"  {category!s:<6} {names}")
    print("low stock:", inventory.low_stock())
    again = Inventory.from_csv(inventory.to_csv())
    assert again.total_value() == inventory.total_value()
    print(inventory.find("coffee"))
    print(Money(1999) + Money(1))
    print(json.loads(inventory.to_json())["items"][0]["sku"])


if __name__ == "__main__":
    main()
