"""scene.py: turns (attributes, seed) into a plan in normalised coordinates (layers, water,
sun or moon, clouds) and draws it at any size, back to front; the same seed gives the same
picture at every resolution of one aspect ratio, with finer detail at higher ones."""
from dataclasses import dataclass

import numpy as np

from . import land, noise, sky, trees, water
from . import palette as P
from .attributes import Attributes, check
from .canvas import Canvas
from .rand import Rand


@dataclass
class Body:
    kind: str   # sun | moon
    u: float
    v: float
    r: float


@dataclass
class Plan:
    attrs: Attributes
    seed: int
    horizon: float
    layers: list          # land.Layer, far to near
    water_after: int      # the lake or sea is drawn after this many layers
    waterline: float
    clouds: str
    body: Body = None


def _trees_for(a, r, size, cover, spacing=None):
    if a.vegetation == "none":
        return None
    kind = a.vegetation
    if spacing is None:
        spacing = 0.42 if kind == "pines" else 0.65
    return trees.TreeRow(kind, size, spacing, cover, r.seed32(), snow=a.snow)


def _plan_layers(a, r):
    """Layers far to near, where the water goes, the horizon and the waterline."""
    L = land.Layer
    layers = []
    snow_cover = "cover" if a.snow else "none"
    green = P.HILL
    if a.terrain == "mountains":
        horizon = r.uniform(0.58, 0.68)
        n = r.randint(3, 4)
        amp = r.uniform(0.22, 0.32)
        for i in range(n):
            depth = 1.0 - i / n
            mat = P.ROCK_FAR if i == 0 else (P.ROCK if i < n - 1 else P.ROCK_NEAR)
            layer = L("mountain", depth, horizon + 0.012 * i, amp * (0.78 ** i), r.uniform(0.28, 0.5) * (0.85 ** i),
                      r.seed32(), mat, snow="caps" if a.snow and i < n - 1 else "none",
                      snowline=r.uniform(0.45, 0.7))
            layers.append(layer)
        if a.vegetation != "none":
            layers[-1].trees = _trees_for(a, r, 0.022, r.uniform(0.5, 0.9))
            layers[-1].material = P.FOREST_FLOOR
            layers[-1].snow = snow_cover
        water_after = len(layers)
        waterline = horizon + 0.03
        if a.water == "lake":
            layers.append(L("shore", 0.0, r.uniform(0.9, 0.96), 0.03, 0.3, r.seed32(), P.SHORE,
                            snow=snow_cover, tilt=r.uniform(-0.06, 0.06),
                            trees=_trees_for(a, r, r.uniform(0.1, 0.16), r.uniform(0.5, 0.9))))
        else:
            layers.append(L("hill", 0.22, horizon + 0.1, 0.07, 0.4, r.seed32(), green, snow=snow_cover,
                            trees=_trees_for(a, r, 0.04, r.uniform(0.5, 0.9))))
            layers.append(L("shore", 0.0, r.uniform(0.92, 0.98), 0.06, 0.4, r.seed32(), P.GRASS,
                            snow=snow_cover, tilt=r.uniform(-0.08, 0.08),
                            trees=_trees_for(a, r, r.uniform(0.1, 0.15), r.uniform(0.3, 0.6))))
    elif a.terrain == "hills":
        horizon = r.uniform(0.55, 0.66)
        layers.append(L("mountain", 1.0, horizon, r.uniform(0.06, 0.12), 0.5, r.seed32(), P.ROCK_FAR,
                        snow="caps" if a.snow else "none", snowline=0.6))
        layers.append(L("hill", 0.7, horizon + 0.02, r.uniform(0.05, 0.09), 0.45, r.seed32(), green,
                        snow=snow_cover))
        water_after = len(layers)
        waterline = horizon + 0.035
        if a.water == "lake":
            layers.append(L("shore", 0.0, r.uniform(0.88, 0.95), 0.05, 0.35, r.seed32(), P.GRASS,
                            snow=snow_cover, tilt=r.uniform(-0.08, 0.08),
                            trees=_trees_for(a, r, r.uniform(0.1, 0.15), r.uniform(0.5, 0.9))))
        else:
            layers.append(L("hill", 0.45, horizon + 0.12, r.uniform(0.07, 0.12), 0.4, r.seed32(), green,
                            snow=snow_cover, trees=_trees_for(a, r, 0.035, r.uniform(0.3, 0.7))))
            layers.append(L("hill", 0.0, r.uniform(0.85, 0.95), r.uniform(0.08, 0.14), 0.5, r.seed32(),
                            P.GRASS, snow=snow_cover,
                            trees=_trees_for(a, r, r.uniform(0.1, 0.16), r.uniform(0.35, 0.7))))
    elif a.terrain == "plains":
        horizon = r.uniform(0.6, 0.7)
        layers.append(L("hill", 1.0, horizon, r.uniform(0.02, 0.045), 0.4, r.seed32(), P.ROCK_FAR,
                        snow=snow_cover))
        layers.append(L("plain", 0.55, horizon + 0.006, 0.004, 0.3, r.seed32(), P.GRASS, snow=snow_cover,
                        trees=_trees_for(a, r, 0.03, r.uniform(0.35, 0.7))))
        water_after = len(layers)
        waterline = horizon + r.uniform(0.015, 0.03)
        if a.water == "lake":
            layers.append(L("shore", 0.0, r.uniform(0.9, 0.96), 0.03, 0.35, r.seed32(), P.GRASS,
                            snow=snow_cover, tilt=r.uniform(-0.05, 0.05),
                            trees=_trees_for(a, r, r.uniform(0.09, 0.14), r.uniform(0.3, 0.6))))
        else:
            layers.append(L("plain", 0.0, r.uniform(0.92, 1.0), 0.05, 0.5, r.seed32(), P.GRASS,
                            snow=snow_cover,
                            trees=_trees_for(a, r, r.uniform(0.09, 0.14), r.uniform(0.3, 0.6))))
    elif a.terrain == "dunes":
        horizon = r.uniform(0.55, 0.66)
        n = r.randint(4, 5)
        for i in range(n):
            depth = 1.0 - i / (n - 1)
            base = horizon + (1.0 - horizon + 0.05) * (i / (n - 1)) ** 1.4
            layers.append(L("dune", depth * 0.8, base, 0.04 + 0.1 * (i / (n - 1)), r.uniform(0.25, 0.45),
                            r.seed32(), P.SAND_LIT))
        water_after = len(layers)
        waterline = horizon
    else:  # sea
        horizon = r.uniform(0.5, 0.64)
        if r.chance(0.5):
            uc = r.uniform(-0.6, 0.6)
            layers.append(L("island", 1.0, horizon + 0.002, r.uniform(0.03, 0.09), 0.25, r.seed32(),
                            P.ROCK_FAR, extent=(uc, r.uniform(0.15, 0.4))))
        water_after = len(layers)
        waterline = horizon
        if a.vegetation != "none" or r.chance(0.4):
            side = 1.0 if r.chance(0.5) else -1.0
            layers.append(L("shore", 0.0, r.uniform(0.9, 0.97), 0.05, 0.35, r.seed32(), P.SHORE,
                            tilt=side * r.uniform(0.1, 0.2),
                            trees=_trees_for(a, r, r.uniform(0.1, 0.15), r.uniform(0.4, 0.8))))
    return layers, water_after, horizon, waterline


def _skyline(layers, us):
    """The highest land (smallest v) at positions us, trees included."""
    top = np.full(len(us), 1.0)
    for layer in layers:
        t = layer.profile(us, 1.0 / 512)
        if layer.trees is not None:
            t = t - 1.3 * layer.trees.size
        top = np.minimum(top, t)
    return top


def _place_body(a, r, layers, horizon, aspect):
    """Puts the sun or moon where it clears the land (checked on a fixed coarse grid)."""
    if a.celestial == "none":
        return None
    radius = r.uniform(0.028, 0.04) if a.celestial == "sun" else r.uniform(0.026, 0.036)
    if a.time == "sunset":
        radius *= 1.2
    half = 0.5 * aspect - 2.5 * radius
    best = None
    for _ in range(6):
        u = r.uniform(-0.8, 0.8) * max(half, 0.0)
        us = np.linspace(u - 1.6 * radius, u + 1.6 * radius, 17)
        clear = min(float(_skyline(layers, us).min()), horizon) - 1.6 * radius
        if a.time == "sunset":
            v = clear - r.uniform(0.0, 0.04)
        elif a.time == "day":
            v = r.uniform(0.1, 0.3)
        else:
            v = r.uniform(0.08, 0.35)
        v = min(v, clear)
        if v >= 1.5 * radius and (best is None or (a.time == "sunset" and v > best.v)):
            best = Body(a.celestial, u, v, radius)
            if a.time != "sunset":
                break
    if best is None:
        best = Body(a.celestial, 0.0, 1.5 * radius, radius)
    return best


def make_plan(attrs, seed, aspect=1.0):
    """The scene plan for `attrs` and `seed` at picture aspect ratio width/height."""
    check(attrs)
    r = Rand(seed, "plan")
    layers, water_after, horizon, waterline = _plan_layers(attrs, r)
    body = _place_body(attrs, r, layers, horizon, aspect)
    return Plan(attrs, seed, horizon, layers, water_after, waterline, attrs.clouds, body)


def render_scene(attrs, seed, width, height):
    """The picture of `attrs` with `seed` at width x height, as uint8 (height, width, 3)."""
    plan = make_plan(attrs, seed, width / height)
    cv = Canvas(width, height)
    pal = P.Palette(attrs.time, seed)
    r = Rand(seed, "render")
    seeds = [r.seed32() for _ in range(6)]
    body = plan.body
    sun_u = body.u if body is not None else (0.5 if seed % 2 else -0.5)
    sky.draw_gradient(cv, pal, plan.horizon)
    if attrs.time == "night":
        sky.draw_stars(cv, seeds[0], plan.horizon)
    sky.draw_glow(cv, pal, body, plan.horizon)
    sky.draw_body(cv, pal, body, seeds[1])
    sky.draw_clouds(cv, pal, plan, seeds[2], body, plan.horizon)
    land_top = min(float(l.base - 1.4 * l.amp) for l in plan.layers) if plan.layers else 1.0
    r0, _ = cv.rows(max(land_top, 0.0), 1.0)
    texture = np.zeros((cv.height, cv.width), np.float32)
    if plan.layers:
        texture[r0:] = noise.fbm2_grid(cv.us, cv.vs[r0:], 0.09, seeds[3], cv.pitch, gain=0.55)
    for i, layer in enumerate(plan.layers):
        if i == plan.water_after:
            _draw_water(cv, pal, plan, seeds[4])
        nxt = plan.layers[i + 1] if i + 1 < len(plan.layers) and i + 1 != plan.water_after else None
        band_end = 1.0 if nxt is None or nxt.extent is not None else nxt.base + 0.02
        land.draw_layer(cv, pal, layer, texture if i % 2 == 0 else -texture, band_end, sun_u)
        if layer.trees is not None:
            trees.draw_trees(cv, pal, layer, layer.trees, sun_u)
    if plan.water_after >= len(plan.layers):
        _draw_water(cv, pal, plan, seeds[4])
    return cv.to_uint8()


def _draw_water(cv, pal, plan, seed):
    if plan.attrs.water == "lake":
        water.draw_lake(cv, pal, plan.waterline, seed)
    elif plan.attrs.water == "sea":
        water.draw_sea(cv, pal, plan.horizon, seed)
