"""Vectors and shapes: operator overloading, abstract classes, match statements, generators."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from fractions import Fraction
from functools import total_ordering
from typing import ClassVar, Iterator, Protocol


class Vector:
    __slots__ = ("x", "y")
    __match_args__ = ("x", "y")

    def __init__(self, x: float = 0.0, y: float = 0.0) -> None:
        self.x = x
        self.y = y

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.x!r}, {self.y!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vector) and (self.x, self.y) == (other.x, other.y)

    def __hash__(self) -> int:
        return hash((self.x, self.y))

    def __add__(self, other: Vector) -> Vector:
        return Vector(self.x + other.x, self.y + other.y)

    def __sub__(self, other: Vector) -> Vector:
        return self + (-other)

    def __neg__(self) -> Vector:
        return Vector(-self.x, -self.y)

    def __mul__(self, k: float) -> Vector:
        return Vector(self.x * k, self.y * k)

    __rmul__ = __mul__

    def __matmul__(self, other: Vector) -> float:
        return self.x * other.x + self.y * other.y

    def __abs__(self) -> float:
        return math.hypot(self.x, self.y)

    def __bool__(self) -> bool:
        return bool(self.x or self.y)

    def __iter__(self) -> Iterator[float]:
        yield self.x
        yield self.y

    def rotated(self, degrees: float) -> Vector:
        r = math.radians(degrees)
        return Vector(self.x * math.cos(r) - self.y * math.sin(r), self.x * math.sin(r) + self.y * math.cos(r))


class HasArea(Protocol):
    def area(self) -> float: ...


@total_ordering
class Shape(ABC):
    registry: ClassVar[dict[str, type[Shape]]] = {}

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        Shape.registry[cls.__name__.lower()] = cls

    @abstractmethod
    def area(self) -> float: ...

    def __lt__(self, other: Shape) -> bool:
        return self.area() < other.area()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Shape) and math.isclose(self.area(), other.area())

    def __str__(self) -> str:
        return f"<{self.__class__.__name__} area={self.area():.3f}>"


class Circle(Shape):
    def __init__(self, center: Vector, radius: float) -> None:
        self.center, self.radius = center, radius

    def area(self) -> float:
        return math.pi * self.radius**2


class Polygon(Shape):
    def __init__(self, *points: Vector) -> None:
        if len(points) < 3:
            raise ValueError("a polygon needs three points")
        self.points = points

    def area(self) -> float:
        pairs = zip(self.points, self.points[1:] + self.points[:1])
        return abs(sum(a.x * b.y - b.x * a.y for a, b in pairs)) / 2

    def perimeter(self) -> float:
        return sum(abs(b - a) for a, b in zip(self.points, self.points[1:] + self.points[:1]))


def describe(value: object) -> str:
    match value:
        case Vector(0, 0):
            return "origin"
        case Vector(x=0, y=y):
            return f"on the y axis at {y}"
        case Vector(x, y) if x == y:
            return "on the diagonal"
        case Circle(radius=r) if r > 10:
            return "a big circle"
        case [first, *rest]:
            return f"a sequence starting with {first!r} and {len(rest)} more"
        case {"kind": kind, **others}:
            return f"a {kind} with {sorted(others)}"
        case int() | float() as number if (half := number / 2) > 1:
            return f"a number whose half is {half}"
        case _:
            return "something else"


def spiral(n: int) -> Iterator[Vector]:
    v = Vector(1, 0)
    for i in range(n):
        yield v * (i + 1)
        v = v.rotated(90)


def main() -> None:
    shapes = [Circle(Vector(), 1), Polygon(Vector(0, 0), Vector(4, 0), Vector(4, 3)), Circle(Vector(1, 1), 11)]
    for shape in sorted(shapes):
        print(shape, getattr(shape, "radius", None))
    print(Shape.registry, max(shapes), describe(shapes[2]))
    for thing in [Vector(), Vector(0, 5), Vector(2, 2), [1, 2, 3], {"kind": "box", "w": 1}, 7, "x"]:
        print(describe(thing))
    print(list(spiral(4)), Fraction(3, 4) + Fraction(1, 4), Vector(3, 4) @ Vector(1, 0))
    area_of: HasArea = shapes[0]
    print(f"{area_of.area():.2f}", hasattr(area_of, "area"), setattr(shapes[0], "radius", 2) or shapes[0].area())


if __name__ == "__main__":
    main()
