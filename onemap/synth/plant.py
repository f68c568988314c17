"""Planted changes between the two dates, and their truth table.

Every object is placed inside one land-use polygon of the right kind (cultivated land outside or
inside basic farmland, the red line, other agricultural land, construction land, ponds), away from
the no-data corner and from every other planted object, so its prior land use, its approval
status and its expected verdict are known exactly. Approvals are rectangles around the buildings
they cover (or, for ``partly_approved``, stop short of the building by a known fraction).
New buildings (5-16 m tall) cast shadows on the second date, away from that date's sun; the truth
geometry is the roof footprint only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
import shapely.affinity

from . import _kernels as K
from .site import code_info
from .spectra import ROOF_MATERIALS

__all__ = ["CASES", "VERDICTS", "Planter", "case_counts"]

#: case -> expected verdict
VERDICTS = {
    "approved_building": "approved",
    "unapproved_cultivated": "unapproved",
    "unapproved_farmland": "unapproved",
    "unapproved_redline": "unapproved",
    "unapproved_other": "unapproved",
    "unapproved_road": "unapproved",
    "partly_approved": "partly_approved",
    "rebuild_existing": "existing_construction",
    "approved_unbuilt": "none",
    "distractor_harvest": "none",
    "distractor_crop": "none",
    "distractor_pond": "none",
    "distractor_cloud": "none",
    "distractor_shadow": "none",
}
CASES = tuple(VERDICTS)
_ROOFS = (("blue_steel", 0.34), ("white", 0.22), ("grey_concrete", 0.26), ("red_brick", 0.18))


def case_counts(area_km2: float, n_changes: int | None, clouds: bool) -> dict[str, int]:
    """Objects per case: ``n_changes`` each, or 0.5 per km² (at least 4)."""
    n = int(n_changes) if n_changes is not None else max(4, int(round(0.5 * area_km2)))
    out = {c: n for c in CASES}
    n_cloud = max(2, int(round(0.12 * area_km2))) if n_changes is None else max(1, n // 2)
    out["distractor_cloud"] = n_cloud if clouds else 0
    out["distractor_shadow"] = 0  # one per cloud, added with it
    return out


class _Reserved:
    """Areas already taken by planted objects (a coarse grid of buckets of shapely geometries)."""

    def __init__(self, cell: float = 400.0):
        self.cell = cell
        self.buckets: dict[tuple[int, int], list] = {}

    def _keys(self, g):
        x0, y0, x1, y1 = g.bounds
        c = self.cell
        return [
            (i, j)
            for i in range(int(x0 // c), int(x1 // c) + 1)
            for j in range(int(y0 // c), int(y1 // c) + 1)
        ]

    def free(self, g) -> bool:
        cand = [h for k in self._keys(g) for h in self.buckets.get(k, ())]
        return not cand or not shapely.intersects(g, np.array(cand, dtype=object)).any()

    def add(self, g) -> None:
        for k in self._keys(g):
            self.buckets.setdefault(k, []).append(g)


def oriented_rect(cx, cy, length, width, angle):
    ca, sa = math.cos(angle), math.sin(angle)
    u = np.array([-1, 1, 1, -1]) * length / 2
    v = np.array([-1, -1, 1, 1]) * width / 2
    return shapely.Polygon(np.stack([cx + u * ca - v * sa, cy + u * sa + v * ca], 1))


def building_shape(rng, cx, cy, angle, small: bool = False):
    """A rectangle or L-shaped footprint (at least ~20 m across), and its main axis length/width."""
    length = rng.uniform(24, 45) if small else rng.uniform(30, 95)
    width = rng.uniform(20, 28) if small else rng.uniform(22, 48)
    rect = oriented_rect(cx, cy, length, width, angle)
    if rng.random() < 0.35 and length > 40:
        # an L: cut one corner (keeps both arms >= 20 m wide)
        cl, cw = (
            rng.uniform(0.3, 0.5) * length,
            max(0.0, width - 20.0) + rng.uniform(0, 0.2) * width,
        )
        cw = min(cw, width - 20.0)
        if cw > 4.0:
            sx, sy = rng.choice([-1, 1]), rng.choice([-1, 1])
            u0, v0 = sx * (length / 2 - cl / 2), sy * (width / 2 - cw / 2)
            ca, sa = math.cos(angle), math.sin(angle)
            cut = oriented_rect(
                cx + u0 * ca - v0 * sa, cy + u0 * sa + v0 * ca, cl + 0.02, cw + 0.02, angle
            )
            rect = shapely.difference(rect, cut)
    return rect, length, width


@dataclass
class Planter:
    """Places the planted objects; collects truth rows, approvals and rendering overrides."""

    rng: np.random.Generator
    dltb: object                   # GeoDataFrame
    roles: np.ndarray
    farmland_mask: np.ndarray      # per DLTB polygon
    redline_mask: np.ndarray
    theta: float
    avoid: object                  # polygon to keep away from (no-data corner) or None
    reserved: _Reserved = field(default_factory=_Reserved)
    truth: list = field(default_factory=list)
    approvals: list = field(default_factory=list)  # dicts with geometry, kind, supplied, ...
    objects: dict = field(
        default_factory=lambda: {1: [], 2: []}
    )  # date -> (geom, material, brightness)
    sun: tuple = (0.0, -0.6, 0.8)  # unit vector (east, north, up) of the second date: cast shadows

    def __post_init__(self):
        self.geoms = self.dltb.geometry.to_numpy()
        self.codes = self.dltb["DLBM"].to_numpy()
        self.bsm = self.dltb["BSM"].to_numpy()
        self.used = np.zeros(len(self.geoms), dtype=bool)
        self.area = shapely.area(self.geoms)
        ok = np.ones(len(self.geoms), dtype=bool)
        if self.avoid is not None:
            ok &= ~shapely.intersects(self.geoms, shapely.buffer(self.avoid, 30.0))
        cult = np.array([code_info(c)[2] for c in self.codes])
        other = np.isin(self.codes, ["0201", "0404", "0301", "0305", "0401"])
        constr = np.isin(self.roles, ["village", "factory"])
        self.pools = {
            "cult": ok & cult & ~self.farmland_mask & ~self.redline_mask,
            "farm": ok & cult & self.farmland_mask,
            "red": ok & self.redline_mask & np.isin(self.codes, ["0301", "0305", "0404", "0201"]),
            "other": ok & other & ~self.redline_mask,
            "constr": ok & constr,
            "pond": ok & (self.codes == "1104") & ~self.redline_mask,
            "field": ok & cult,
        }

    # ------------------------------------------------------------------ helpers
    def _candidates(self, pool: str, min_area: float) -> np.ndarray:
        idx = np.nonzero(self.pools[pool] & (self.area >= min_area))[0]
        return self.rng.permutation(idx)

    def _angle(self):
        return (
            self.theta
            + (0.0 if self.rng.random() < 0.5 else math.pi / 2)
            + self.rng.normal(0, 0.03)
        )

    def _point_in(self, poly, inset: float):
        inner = shapely.buffer(poly, -inset)
        if inner.is_empty:
            return None
        x0, y0, x1, y1 = inner.bounds
        for _ in range(20):
            x, y = self.rng.uniform(x0, x1), self.rng.uniform(y0, y1)
            if shapely.contains_xy(inner, x, y):
                return x, y
        return None

    def _fit(
        self, pool: str, make, tries: int = 200, min_area: float = 1500.0, margin: float = 3.0
    ):
        """A polygon of *pool* and a placement ``make(poly) -> (geoms...)`` that fits inside it."""
        for i in self._candidates(pool, min_area)[:tries]:
            if self.used[i]:  # taken whole by a distractor (several buildings may share a polygon)
                continue
            poly = self.geoms[i]
            for _ in range(4):
                shapes = make(poly)
                if shapes is None:
                    break
                whole = shapely.union_all([s for s in shapes if s is not None])
                if shapely.contains(shapely.buffer(poly, -margin, join_style="mitre"), whole) and \
                        self.reserved.free(shapely.buffer(whole, 12.0)):
                    self.reserved.add(shapely.buffer(whole, 12.0))
                    return i, shapes
        return None, None

    def _roof(self) -> str:
        names = [name for name, _ in _ROOFS]
        weights = [weight for _, weight in _ROOFS]
        return names[int(self.rng.choice(len(names), p=np.array(weights) / sum(weights)))]

    def _row(self, case, geom, i, change_kind, roof="", before="", approval_id="", outside=0.0):
        code = self.codes[i]
        outside_area = (
            float(geom.area * outside)
            if VERDICTS[case] in ("unapproved", "partly_approved")
            else 0.0
        )
        self.truth.append(
            {
                "case": case,
                "expected_verdict": VERDICTS[case],
                "change_kind": change_kind,
                "roof": roof,
                "before_material": before,
                "prior_code": code,
                "prior_name": code_info(code)[0],
                "prior_group": code_info(code)[1],
                "dltb_bsm": self.bsm[i],
                "approval_id": approval_id,
                "in_farmland": bool(self.farmland_mask[i]),
                "in_redline": bool(self.redline_mask[i]),
                "outside_fraction": float(outside),
                "truth_unapproved_m2": outside_area,
                "area_m2": float(geom.area),
                "geometry": geom,
            }
        )

    def _object(self, date, geom, material: str, height: float = 0.0):
        """A surface seen on *date*; a building *height* (m) > 0 casts a shadow away from sun."""
        self.objects[date].append((geom, ROOF_MATERIALS[material], self.rng.uniform(0.9, 1.1)))
        if height > 0:
            horiz = math.hypot(self.sun[0], self.sun[1])
            length = height * horiz / max(self.sun[2], 0.2)
            dx, dy = -self.sun[0] / horiz * length, -self.sun[1] / horiz * length
            # the footprint swept away from the sun (its Minkowski sum with the shadow vector)
            ring = np.asarray(geom.exterior.coords)
            d = np.array([dx, dy])
            quads = shapely.polygons(
                np.stack([ring[:-1], ring[1:], ring[1:] + d, ring[:-1] + d, ring[:-1]], 1)
            )
            swept = shapely.union_all([geom, shapely.affinity.translate(geom, dx, dy), *quads])
            shade = shapely.difference(swept, geom)
            if not shade.is_empty:
                self.objects[date].append((shade, ROOF_MATERIALS["shadow"], 1.0))

    def _approval(self, geom, supplied: bool, built: bool, dltb_index: int) -> str:
        aid = f"PZ{len(self.approvals) + 1:05d}"
        self.approvals.append(
            {
                "approval_id": aid,
                "geometry": geom,
                "supplied": supplied,
                "built": built,
                "dltb_index": dltb_index,
                "historic": False,
            }
        )
        return aid

    # ------------------------------------------------------------------ cases
    def building(self, case: str, pool: str) -> bool:
        approved = case in ("approved_building", "partly_approved")
        small = [case in ("unapproved_redline", "unapproved_other") and self.rng.random() < 0.5]
        frac = self.rng.uniform(0.25, 0.6) if case == "partly_approved" else 0.0

        def make(poly):
            angle = self._angle()
            p = self._point_in(poly, 20.0)
            if p is None:
                return None
            b, length, width = building_shape(self.rng, *p, angle, small[0])
            if not approved:
                return (b,)
            m = self.rng.uniform(6.0, 18.0)
            if case == "approved_building":
                a = shapely.oriented_envelope(shapely.buffer(b, m, join_style="mitre"))
            else:  # the approval stops short of the far end of the building
                u1 = length / 2 - frac * length
                cu = (-length / 2 - m + u1) / 2
                ca, sa = math.cos(angle), math.sin(angle)
                a = oriented_rect(
                    p[0] + cu * ca, p[1] + cu * sa, u1 + length / 2 + m, width + 2 * m, angle
                )
            return b, a

        i, shapes = self._fit(pool, make)
        if i is None and not small[0]:  # narrow fields: try a smaller building
            small[0] = True
            i, shapes = self._fit(pool, make)
        if i is None:
            return False
        b = shapes[0]
        roof = self._roof() if case != "unapproved_other" or self.rng.random() < 0.7 else "concrete"
        aid, outside = "", 1.0
        if approved:
            aid = self._approval(shapes[1], supplied=True, built=True, dltb_index=i)
            outside = float(shapely.difference(b, shapes[1]).area / b.area)
        self._object(2, b, roof, height=self.rng.uniform(5.0, 16.0))
        self._row(case, b, i, "building", roof=roof, approval_id=aid, outside=outside)
        return True

    def road(self) -> bool:
        def make(poly):
            p = self._point_in(poly, 12.0)
            if p is None:
                return None
            env = np.asarray(shapely.oriented_envelope(poly).exterior.coords)
            sides = [env[1] - env[0], env[2] - env[1]]
            long = max(sides, key=lambda v: math.hypot(*v))
            angle = math.atan2(long[1], long[0])  # along the field, as farm roads run
            length = min(self.rng.uniform(110, 320), 0.85 * math.hypot(*long) - 24.0)
            if length < 60.0:
                return None
            w = self.rng.uniform(5.0, 8.0)
            ca, sa = math.cos(angle), math.sin(angle)
            pts = [
                (p[0] - ca * length / 2, p[1] - sa * length / 2),
                (p[0] + ca * length / 2, p[1] + sa * length / 2),
            ]
            if self.rng.random() < 0.4:  # a bend
                turn = angle + math.pi / 2 * self.rng.choice([-1, 1])
                leg = self.rng.uniform(40, 120)
                pts.append((pts[-1][0] + math.cos(turn) * leg, pts[-1][1] + math.sin(turn) * leg))
            return (
                shapely.buffer(
                    shapely.LineString(pts), w / 2, cap_style="flat", join_style="mitre"
                ),
            )

        i, shapes = self._fit("field", make, min_area=8000.0)
        if i is None:
            return False
        material = "concrete" if self.rng.random() < 0.6 else "asphalt"
        self._object(2, shapes[0], material)
        self._row("unapproved_road", shapes[0], i, "road", roof=material, outside=1.0)
        return True

    def rebuild(self) -> bool:
        def make(poly):
            p = self._point_in(poly, 18.0)
            return None if p is None else (building_shape(self.rng, *p, self._angle())[0],)

        i, shapes = self._fit("constr", make, min_area=2500.0, margin=2.0)
        if i is None:
            return False
        b = shapes[0]
        roof = self._roof()
        before = "existing" if self.rng.random() < 0.5 else "bare_earth"
        if before == "bare_earth":  # demolished before the first date, rebuilt since
            self._object(1, b, "bare_earth")
        self._object(2, b, roof, height=self.rng.uniform(5.0, 16.0))
        self._row("rebuild_existing", b, i, "building", roof=roof, before=before)
        return True

    def unbuilt(self) -> bool:
        def make(poly):
            p = self._point_in(poly, 20.0)
            if p is None:
                return None
            return (
                oriented_rect(
                    *p, self.rng.uniform(35, 100), self.rng.uniform(30, 60), self._angle()
                ),
            )

        pool = "cult" if self.rng.random() < 0.6 else "other"
        i, shapes = self._fit(pool, make, min_area=2500.0)
        if i is None:
            i, shapes = self._fit("other" if pool == "cult" else "cult", make, min_area=2500.0)
        if i is None:
            return False
        supplied = bool(
            self.rng.random() < 0.5
        )  # supplied but idle, or approved but never supplied
        aid = self._approval(shapes[0], supplied=supplied, built=False, dltb_index=i)
        self._row("approved_unbuilt", shapes[0], i, "none", approval_id=aid, outside=0.0)
        return True

    def whole_polygon(
        self, case: str, pool: str, kind2, params1, params2, min_area: float = 1200.0
    ) -> bool:
        for i in self._candidates(pool, min_area):
            g = self.geoms[i]
            if self.used[i] or g.area > 60000 or not self.reserved.free(shapely.buffer(g, 2.0)):
                continue
            self.used[i] = True
            self.reserved.add(g)
            if case == "distractor_harvest":
                kind2[i] = K.K_PLOUGHED if self.rng.random() < 0.6 else K.K_BARE
                kind = "bare_soil"
            elif case == "distractor_crop":
                lo, hi = self.rng.uniform(0.08, 0.2), self.rng.uniform(0.78, 0.95)
                params1[i, 0], params2[i, 0] = (hi, lo) if self.rng.random() < 0.6 else (lo, hi)
                kind = "crop"
            else:
                kind2[i] = K.K_MUD
                kind = "water_to_mud"
            self._row(case, g, i, kind)
            return True
        return False

    def cloud(self, frame, valid, sun) -> np.ndarray | None:
        """A cloud (union of soft discs) and its shadow, offset away from the sun; date 2 only.

        Returns the discs as (row, col, radius) in county pixels, cloud discs then shadow discs
        (negative radius marks a shadow disc), or None when no free place was found.
        """
        left, bottom, right, top = frame.bounds
        res = frame.res[0]
        short = min(right - left, top - bottom)
        away = -np.array(sun[:2]) / max(1e-9, math.hypot(sun[0], sun[1]))
        for _ in range(60):
            r0 = (
                self.rng.uniform(0.03, 0.07) * short if short < 8000 else self.rng.uniform(150, 500)
            )
            cx, cy = (
                self.rng.uniform(left + r0, right - r0),
                self.rng.uniform(bottom + r0, top - r0),
            )
            n = int(self.rng.integers(3, 8))
            ang = self.rng.uniform(0, 2 * np.pi, n)
            dist = self.rng.uniform(0, 0.9, n) * r0
            xs, ys = cx + dist * np.cos(ang), cy + dist * np.sin(ang)
            rs = r0 * self.rng.uniform(0.45, 0.85, n)
            cloud = shapely.union_all(shapely.buffer(shapely.points(xs, ys), rs, quad_segs=16))
            off = away * np.clip(1.3 * r0, 40.0, 1200.0)
            sh_all = shapely.union_all(
                shapely.buffer(shapely.points(xs + off[0], ys + off[1]), rs, quad_segs=16)
            )
            both = shapely.union(cloud, sh_all)
            if not shapely.contains(valid, both) or not self.reserved.free(
                shapely.buffer(both, 6.0)
            ):
                continue
            self.reserved.add(shapely.buffer(both, 6.0))
            shadow = shapely.difference(sh_all, cloud)
            for case, g, kind in (
                ("distractor_cloud", cloud, "cloud"),
                ("distractor_shadow", shadow, "shadow"),
            ):
                if g.is_empty:
                    continue
                self.truth.append(
                    {
                        "case": case,
                        "expected_verdict": "none",
                        "change_kind": kind,
                        "roof": "",
                        "before_material": "",
                        "prior_code": "",
                        "prior_name": "",
                        "prior_group": "",
                        "dltb_bsm": "",
                        "approval_id": "",
                        "in_farmland": False,
                        "in_redline": False,
                        "outside_fraction": 0.0,
                        "truth_unapproved_m2": 0.0,
                        "area_m2": float(g.area),
                        "geometry": g,
                    }
                )
            rows, cols = (top - ys) / res, (xs - left) / res
            srows, scols = (top - ys - off[1]) / res, (xs + off[0] - left) / res
            return np.concatenate(
                [np.stack([rows, cols, rs / res], 1), np.stack([srows, scols, -rs / res], 1)]
            )
        return None
