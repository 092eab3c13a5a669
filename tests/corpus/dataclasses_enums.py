# min-python: 3.10 (match statement)
# Dataclasses, enums, typing and pattern matching.
from dataclasses import dataclass, field, asdict
from enum import Enum, auto
from typing import NamedTuple

class Color(Enum):
    RED = auto()
    GREEN = auto()

@dataclass(order=True)
class Item:
    price: float
    name: str = field(compare=False)
    tags: list = field(default_factory=list)

class Point(NamedTuple):
    x: int
    y: int

items = sorted([Item(3.5, "b"), Item(1.25, "a", ["x"])])
print(items, asdict(items[0]))
print(Color.RED, Color["GREEN"].value, Point(1, 2)._replace(y=5))
def describe(v):
    match v:
        case Point(x=0, y=y): return f"on y axis at {y}"
        case [a, b, *rest]: return f"list of {2 + len(rest)}"
        case {"k": k}: return f"dict with k={k}"
        case _: return "other"
print([describe(v) for v in (Point(0, 3), [1, 2, 3], {"k": 1}, 4)])
