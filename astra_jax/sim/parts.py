"""Primitive parts that landmarks are built from, and the skins (surface looks) they carry.

An object's frame: origin on its base below the centre of its bounding box, x toward the
object's front, y to its left, z up. Parts are given in that frame; sizes are full extents.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Skin:
    """How a surface looks.

    ``kind`` is a material (``plastic``, ``metal``, ``wood``, ``fabric``, ...), tiled at its
    physical scale, or ``decal``: a picture named ``decal`` (``"poster"``, ``"sign:EXIT"``)
    stretched over the face. ``variant`` separates otherwise identical decals.
    """

    kind: str
    colour: str = "grey"
    decal: str | None = None
    variant: int = 0

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.kind, self.colour, self.decal or "", self.variant)


def decal(name: str, colour: str = "white", variant: int = 0) -> Skin:
    return Skin("decal", colour, name, variant)


@dataclasses.dataclass(frozen=True)
class Part:
    """A box, (truncated) cylinder or ellipsoid in the object frame.

    ``center`` (x, y, z) and ``size`` (full extents along the part's axes) in metres; ``yaw``
    turns the part about z. For cylinders ``size`` is (diameter, diameter, length) and
    ``axis`` says which object axis the length runs along; ``taper`` is top radius / bottom
    radius. ``front`` (boxes only) replaces the skin on the +x face, stretched over it.
    """

    shape: str
    center: tuple[float, float, float]
    size: tuple[float, float, float]
    skin: Skin
    yaw: float = 0.0
    axis: str = "z"
    taper: float = 1.0
    front: Skin | None = None


def box(
    x: float,
    y: float,
    z0: float,
    dx: float,
    dy: float,
    dz: float,
    skin: Skin,
    front: Skin | None = None,
    yaw: float = 0.0,
) -> Part:
    """A box with its base at height ``z0`` (not its centre), centred on (x, y)."""
    return Part("box", (x, y, z0 + dz / 2), (dx, dy, dz), skin, yaw=yaw, front=front)  # fmt: skip


def cyl(
    x: float,
    y: float,
    z0: float,
    d: float,
    h: float,
    skin: Skin,
    axis: str = "z",
    taper: float = 1.0,
) -> Part:
    """An upright cylinder (``axis='z'``: base at ``z0``) or a lying one (centre at ``z0``)."""
    zc = z0 + h / 2 if axis == "z" else z0
    return Part("cylinder", (x, y, zc), (d, d, h), skin, axis=axis, taper=taper)  # fmt: skip


def blob(x: float, y: float, zc: float, dx: float, dy: float, dz: float, skin: Skin) -> Part:
    """An ellipsoid centred at (x, y, zc)."""
    return Part("ellipsoid", (x, y, zc), (dx, dy, dz), skin)
