"""attributes.py: the attributes a scene is drawn from, a seeded sampler that keeps their
combinations plausible, and the caption generator (varied phrasing, fixed by the seed, always
naming every attribute the judges check)."""
from dataclasses import dataclass, asdict

from .rand import Rand

TIMES = ("day", "sunset", "night")
CELESTIALS = ("sun", "moon", "none")
TERRAINS = ("mountains", "hills", "dunes", "sea", "plains")
WATERS = ("lake", "sea", "none")
VEGETATIONS = ("pines", "round", "none")
CLOUDS = ("none", "few", "many")


@dataclass(frozen=True)
class Attributes:
    time: str          # day | sunset | night
    celestial: str     # sun | moon | none (sun only by day or at sunset, moon only at night)
    terrain: str       # mountains | hills | dunes | sea | plains
    water: str         # lake | sea | none (sea exactly when terrain is sea)
    vegetation: str    # pines | round | none
    snow: bool
    clouds: str        # none | few | many

    def as_dict(self):
        return asdict(self)


def check(a):
    """Raises ValueError when `a` is not a plausible combination."""
    def need(ok, what):
        if not ok:
            raise ValueError(f"implausible scene attributes: {what} ({a})")
    need(a.time in TIMES, "time")
    need(a.celestial in CELESTIALS, "celestial")
    need(a.terrain in TERRAINS, "terrain")
    need(a.water in WATERS, "water")
    need(a.vegetation in VEGETATIONS, "vegetation")
    need(a.clouds in CLOUDS, "clouds")
    need(a.celestial != "sun" or a.time in ("day", "sunset"), "a sun only by day or at sunset")
    need(a.celestial != "moon" or a.time == "night", "a moon only at night")
    need((a.water == "sea") == (a.terrain == "sea"), "sea water exactly with sea terrain")
    need(a.terrain != "dunes" or (a.water == "none" and a.vegetation == "none"),
         "dunes are dry and bare")
    need(not a.snow or a.terrain in ("mountains", "hills", "plains"), "snow on land only")
    return a


def sample_attributes(seed):
    """The attributes of scene `seed`: a deterministic, plausible combination."""
    r = Rand(seed, "attributes")
    time = r.weighted([("day", 0.4), ("sunset", 0.3), ("night", 0.3)])
    terrain = r.weighted([("mountains", 0.36), ("hills", 0.2), ("dunes", 0.14), ("sea", 0.15),
                          ("plains", 0.15)])
    if time == "night":
        celestial = r.weighted([("moon", 0.65), ("none", 0.35)])
    else:
        celestial = r.weighted([("sun", 0.65), ("none", 0.35)])
    if terrain == "sea":
        water = "sea"
    elif terrain == "dunes":
        water = "none"
    else:
        water = r.weighted([("lake", 0.5), ("none", 0.5)])
    if terrain == "dunes":
        vegetation = "none"
    elif terrain == "mountains":
        vegetation = r.weighted([("pines", 0.5), ("round", 0.15), ("none", 0.35)])
    elif terrain == "sea":
        vegetation = r.weighted([("pines", 0.2), ("round", 0.15), ("none", 0.65)])
    else:
        vegetation = r.weighted([("pines", 0.3), ("round", 0.35), ("none", 0.35)])
    snow_p = {"mountains": 0.45, "hills": 0.3, "plains": 0.25}.get(terrain, 0.0)
    snow = r.chance(snow_p)
    clouds = r.weighted([("none", 0.3), ("few", 0.4), ("many", 0.3)])
    return check(Attributes(time, celestial, terrain, water, vegetation, snow, clouds))


def _subject(a, r):
    snowy = a.snow
    if a.terrain == "mountains":
        if a.water == "lake":
            return r.choice(["snowy mountain lake", "lake below snow-capped mountains",
                             "frozen-peaked alpine lake"] if snowy else
                            ["mountain lake", "lake in the mountains", "alpine lake"])
        return r.choice(["snowy mountain range", "snow-capped mountains", "range of snowy peaks"]
                        if snowy else ["mountain range", "mountain landscape", "valley among mountains"])
    if a.terrain == "hills":
        if a.water == "lake":
            return r.choice(["lake among snowy hills", "snow-covered hills around a lake"]
                            if snowy else ["lake among rolling hills", "hillside lake"])
        return r.choice(["snowy hills", "snow-covered rolling hills"] if snowy else
                        ["rolling hills", "hilly landscape", "gentle green hills"])
    if a.terrain == "plains":
        if a.water == "lake":
            return r.choice(["snowy plain with a lake", "lake on a snow-covered plain"] if snowy
                            else ["lake on a wide plain", "meadow with a lake"])
        return r.choice(["snowy plain", "snow-covered field", "wide plain under snow"] if snowy
                        else ["wide plain", "open grassland", "flat meadow"])
    if a.terrain == "dunes":
        return r.choice(["desert with dunes", "landscape of sand dunes", "sandy desert with dunes"])
    return r.choice(["sea", "calm sea", "seascape", "ocean horizon"])


def _time(a, r):
    return {"day": ["during the day", "in daylight", "on a bright day"],
            "sunset": ["at sunset", "at sundown", "in the light of sunset"],
            "night": ["at night", "by night", "in the night"]}[a.time]


def _celestial(a, r):
    if a.celestial == "sun":
        return (["under a bright sun", "with the sun high in the sky", "with the sun shining"]
                if a.time == "day" else
                ["with the setting sun", "with the low sun above the horizon",
                 "with the sun going down"])
    if a.celestial == "moon":
        return ["under the moon", "with a full moon", "under a bright full moon"]
    if a.time == "night":
        return ["under the stars with no moon", "on a moonless starry night"]
    if a.time == "sunset":
        return ["with the sun already below the horizon", "after the sun has gone down"]
    return ["with the sun out of view", "with no sun in sight"]


def _vegetation(a, r):
    if a.vegetation == "pines":
        return ["with pine trees", "with a pine forest", "with dark fir trees"]
    if a.vegetation == "round":
        return ["with round leafy trees", "with broadleaf trees", "with rounded deciduous trees"]
    return []


def _clouds(a, r):
    return {"none": ["and a clear sky", "under a cloudless sky"],
            "few": ["and a few clouds", "and scattered clouds"],
            "many": ["and a cloudy sky", "and heavy clouds"]}[a.clouds]


def caption(a, seed):
    """A one-line English caption for attributes `a`, its phrasing chosen by `seed`."""
    r = Rand(seed, "caption")
    subject = _subject(a, r)
    article = "an" if subject[0] in "aeiou" else "a"
    time = r.choice(_time(a, r))
    celestial = r.choice(_celestial(a, r))
    veg = _vegetation(a, r)
    parts = [f"{article} {subject}"]
    if r.chance(0.5):
        parts += [time, celestial]
    else:
        parts += [celestial, time] if a.celestial == "sun" or a.celestial == "moon" else [time, celestial]
    if veg:
        parts.insert(1 + r.randint(0, 1), r.choice(veg))
    parts.append(r.choice(_clouds(a, r)))
    return " ".join(parts)
