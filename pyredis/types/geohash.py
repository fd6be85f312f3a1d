"""Geohash arithmetic for the GEO commands, as Redis computes it.

A GEO member is a sorted-set member whose score is a 52-bit geohash: the
longitude and the latitude are each scaled to a 26-bit integer over their
range (longitude -180..180, latitude -85.05112878..85.05112878, the
Web-Mercator limits) and their bits are interleaved, longitude bit first
(most significant), latitude second. A prefix of ``2 * step`` bits names a
box; the members of a box are one contiguous score range of the sorted set.

A radius (or box) search, as Redis does it:

1. pick a step (box size) from the radius (:func:`estimate_steps`), so that
   the box holding the centre plus its 8 neighbours cover the search area;
   go one step coarser when a neighbour does not reach past the area's
   bounding box; drop the neighbours that lie wholly outside it
   (:func:`search_boxes`);
2. scan each box's score range, decode every member's position (the centre
   of its 26-step cell) and keep those within the radius by the haversine
   distance on a sphere of radius 6372797.560856 m (:func:`distance`).

Every float operation follows Redis's order of operations so the decoded
coordinates and distances match its replies digit for digit. The
standard 11-character geohash strings (GEOHASH) re-encode the decoded
position over the latitude range -90..90.

:func:`partial_sort` reproduces the partial quicksort Redis uses for
``COUNT`` (Bentley-McIlroy with ranges outside the wanted prefix left
unsorted), because which of several equally distant members make the cut,
and in which order, depends on that exact sequence of swaps.
"""

from __future__ import annotations

import math

LONG_MIN, LONG_MAX = -180.0, 180.0
LAT_MIN, LAT_MAX = -85.05112878, 85.05112878
STEP_MAX = 26
EARTH_RADIUS = 6372797.560856
MERCATOR_MAX = 20037726.37
_D_R = math.pi / 180.0

_sin, _cos, _asin, _sqrt = math.sin, math.cos, math.asin, math.sqrt

BASE32 = b"0123456789bcdefghjkmnpqrstuvwxyz"

# Unit name (as typed: Redis matches them case-sensitively) -> meters per unit.
UNITS = {b"m": 1.0, b"km": 1000.0, b"ft": 0.3048, b"mi": 1609.34}


def deg_rad(a: float) -> float:
    return a * _D_R


def rad_deg(a: float) -> float:
    return a / _D_R


def _spread(v: int) -> int:
    """The 32 bits of ``v`` moved to the even bit positions of 64."""
    v = (v | (v << 16)) & 0x0000FFFF0000FFFF
    v = (v | (v << 8)) & 0x00FF00FF00FF00FF
    v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v << 2)) & 0x3333333333333333
    return (v | (v << 1)) & 0x5555555555555555


def _squash(v: int) -> int:
    """Inverse of :func:`_spread`: the even bits of ``v`` packed into 32."""
    v &= 0x5555555555555555
    v = (v | (v >> 1)) & 0x3333333333333333
    v = (v | (v >> 2)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v >> 4)) & 0x00FF00FF00FF00FF
    v = (v | (v >> 8)) & 0x0000FFFF0000FFFF
    return (v | (v >> 16)) & 0x00000000FFFFFFFF


def encode(lon: float, lat: float, step: int = STEP_MAX,
           lat_min: float = LAT_MIN, lat_max: float = LAT_MAX) -> int | None:
    """The ``2 * step``-bit geohash of a position, or None when it lies
    outside the supported area."""
    if lon > LONG_MAX or lon < LONG_MIN or lat > LAT_MAX or lat < LAT_MIN:
        return None
    if lat < lat_min or lat > lat_max:
        return None
    lat_off = (lat - lat_min) / (lat_max - lat_min)
    lon_off = (lon - LONG_MIN) / (LONG_MAX - LONG_MIN)
    scale = float(1 << step)
    # C converts the scaled offsets to uint32_t, truncating.
    return _spread(int(lat_off * scale)) | (_spread(int(lon_off * scale)) << 1)


def decode_area(bits: int, step: int) -> tuple:
    """The box a geohash names: (lon_min, lon_max, lat_min, lat_max)."""
    ilat = _squash(bits)
    ilon = _squash(bits >> 1)
    scale = float(1 << step)
    lat_scale = LAT_MAX - LAT_MIN
    lon_scale = LONG_MAX - LONG_MIN
    return (LONG_MIN + (ilon * 1.0 / scale) * lon_scale,
            LONG_MIN + ((ilon + 1) * 1.0 / scale) * lon_scale,
            LAT_MIN + (ilat * 1.0 / scale) * lat_scale,
            LAT_MIN + ((ilat + 1) * 1.0 / scale) * lat_scale)


def decode(score: float) -> tuple:
    """The (longitude, latitude) a member's score stands for: the centre of
    its 26-step cell, clamped to the valid ranges."""
    lon_min, lon_max, lat_min, lat_max = decode_area(int(score), STEP_MAX)
    lon = (lon_min + lon_max) / 2
    if lon > LONG_MAX:
        lon = LONG_MAX
    elif lon < LONG_MIN:
        lon = LONG_MIN
    lat = (lat_min + lat_max) / 2
    if lat > LAT_MAX:
        lat = LAT_MAX
    elif lat < LAT_MIN:
        lat = LAT_MIN
    return lon, lat


def score_of(lon: float, lat: float) -> int:
    """The sorted-set score GEOADD stores for a (valid) position."""
    return encode(lon, lat)


def hash_string(score: float) -> bytes:
    """GEOHASH's 11-character string: the decoded position re-encoded over
    latitude -90..90; the 11th character stands for bits Redis does not
    have and is always '0'."""
    lon, lat = decode(score)
    bits = encode(lon, lat, STEP_MAX, -90.0, 90.0)
    out = bytearray(11)
    for i in range(10):
        out[i] = BASE32[(bits >> (52 - (i + 1) * 5)) & 0x1F]
    out[10] = 48
    return bytes(out)


def distance(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Haversine distance in meters."""
    lat1r = lat1 * _D_R
    lon1r = lon1 * _D_R
    lat2r = lat2 * _D_R
    lon2r = lon2 * _D_R
    u = _sin((lat2r - lat1r) / 2)
    v = _sin((lon2r - lon1r) / 2)
    return 2.0 * EARTH_RADIUS * _asin(_sqrt(u * u + _cos(lat1r) * _cos(lat2r) * v * v))


def estimate_steps(radius_m: float, lat: float) -> int:
    """The box precision to search a radius with (geohashEstimateStepsByRadius)."""
    if radius_m == 0:
        return 26
    step = 1
    while radius_m < MERCATOR_MAX:
        radius_m *= 2
        step += 1
    step -= 2
    if lat > 66 or lat < -66:
        step -= 1
        if lat > 80 or lat < -80:
            step -= 1
    if step < 1:
        step = 1
    if step > 26:
        step = 26
    return step


_EVEN = 0x5555555555555555
_ODD = 0xAAAAAAAAAAAAAAAA


def _move_lon(bits: int, step: int, d: int) -> int:
    """Move a geohash one box east (d=1) or west (d=-1), wrapping around."""
    x = bits & _ODD
    y = bits & _EVEN
    zz = _EVEN >> (64 - step * 2)
    if d > 0:
        x = x + (zz + 1)
    else:
        x = (x | zz) - (zz + 1)
    x &= _ODD >> (64 - step * 2)
    return x | y


def _move_lat(bits: int, step: int, d: int) -> int:
    """Move a geohash one box north (d=1) or south (d=-1), wrapping around."""
    x = bits & _ODD
    y = bits & _EVEN
    zz = _ODD >> (64 - step * 2)
    if d > 0:
        y = y + (zz + 1)
    else:
        y = (y | zz) - (zz + 1)
    y &= _EVEN >> (64 - step * 2)
    return x | y


def bounding_box(lon: float, lat: float, half_width_m: float, half_height_m: float) -> tuple:
    """(min_lon, min_lat, max_lon, max_lat) around a search centre; the
    longitude span is taken at the edge nearer the pole, where it is widest."""
    lat_delta = rad_deg(half_height_m / EARTH_RADIUS)
    top = rad_deg(half_width_m / EARTH_RADIUS / _cos(deg_rad(lat + lat_delta)))
    bottom = rad_deg(half_width_m / EARTH_RADIUS / _cos(deg_rad(lat - lat_delta)))
    span = bottom if lat < 0 else top
    return lon - span, lat - lat_delta, lon + span, lat + lat_delta


def search_boxes(lon: float, lat: float, half_width_m: float, half_height_m: float,
                 radius_m: float) -> tuple:
    """The boxes to scan for a search centred at (lon, lat): ``(boxes,
    step)`` where ``boxes`` lists the geohashes of the centre box and its
    neighbours in Redis's order (centre, N, S, E, W, NE, NW, SE, SW), None
    for a neighbour that lies wholly outside the search area."""
    min_lon, min_lat, max_lon, max_lat = bounding_box(lon, lat, half_width_m, half_height_m)
    step = estimate_steps(radius_m, lat)
    bits = encode(lon, lat, step)
    n = _neighbours(bits, step)
    # A neighbour that does not reach past the bounding box means the boxes
    # are too small to cover the area: use the next coarser step.
    north = decode_area(n[0], step)
    south = decode_area(n[1], step)
    east = decode_area(n[2], step)
    west = decode_area(n[3], step)
    if step > 1 and (north[3] < max_lat or south[2] > min_lat
                     or east[1] < max_lon or west[0] > min_lon):
        step -= 1
        bits = encode(lon, lat, step)
        n = _neighbours(bits, step)
    boxes = [bits] + n
    if step >= 2:
        a_lon_min, a_lon_max, a_lat_min, a_lat_max = decode_area(bits, step)
        # Indices into boxes: 1 N, 2 S, 3 E, 4 W, 5 NE, 6 NW, 7 SE, 8 SW.
        if a_lat_min < min_lat:
            boxes[2] = boxes[8] = boxes[7] = None
        if a_lat_max > max_lat:
            boxes[1] = boxes[5] = boxes[6] = None
        if a_lon_min < min_lon:
            boxes[4] = boxes[8] = boxes[6] = None
        if a_lon_max > max_lon:
            boxes[3] = boxes[7] = boxes[5] = None
    return boxes, step


def _neighbours(bits: int, step: int) -> list:
    """N, S, E, W, NE, NW, SE, SW of a box."""
    n = _move_lat(bits, step, 1)
    s = _move_lat(bits, step, -1)
    e = _move_lon(bits, step, 1)
    w = _move_lon(bits, step, -1)
    return [n, s, e, w,
            _move_lat(e, step, 1), _move_lat(w, step, 1),
            _move_lat(e, step, -1), _move_lat(w, step, -1)]


def box_score_range(bits: int, step: int) -> tuple:
    """The scores [lo, hi) of the members inside a box."""
    shift = 52 - step * 2
    return bits << shift, (bits + 1) << shift


def format_coord(v: float) -> bytes:
    """A coordinate as Redis prints it (%.17Lf with trailing zeros and a
    bare point removed)."""
    s = b"%.17f" % v
    s = s.rstrip(b"0")
    if s.endswith(b"."):
        s = s[:-1]
    if s == b"-0":
        s = b"0"
    return s


def format_distance(d: float) -> bytes:
    return b"%.4f" % d


# -- the partial sort behind COUNT ---------------------------------------------


def partial_sort(a: list, cmp, lo_rank: int, hi_rank: int) -> None:
    """Sort ``a`` in place enough that ranks lo_rank..hi_rank hold the
    right elements in order, making the same comparisons and swaps as
    Redis's pqsort (Bentley-McIlroy quicksort that skips partitions
    outside the wanted ranks). ``cmp(x, y)`` returns <0, 0 or >0."""
    _pq(a, 0, len(a), cmp, lo_rank, hi_rank)


def _med3(a, i, j, k, cmp) -> int:
    if cmp(a[i], a[j]) < 0:
        if cmp(a[j], a[k]) < 0:
            return j
        return k if cmp(a[i], a[k]) < 0 else i
    if cmp(a[j], a[k]) > 0:
        return j
    return i if cmp(a[i], a[k]) < 0 else k


def _insertion(a, base, n, cmp) -> None:
    for m in range(base + 1, base + n):
        p = m
        while p > base and cmp(a[p - 1], a[p]) > 0:
            a[p - 1], a[p] = a[p], a[p - 1]
            p -= 1


def _vecswap(a, i, j, n) -> None:
    for k in range(n):
        a[i + k], a[j + k] = a[j + k], a[i + k]


def _pq(a, base, n, cmp, lo_rank, hi_rank) -> None:
    while True:
        if n < 7:
            _insertion(a, base, n, cmp)
            return
        pm = base + n // 2
        if n > 7:
            pl = base
            pn = base + n - 1
            if n > 40:
                d = n // 8
                pl = _med3(a, pl, pl + d, pl + 2 * d, cmp)
                pm = _med3(a, pm - d, pm, pm + d, cmp)
                pn = _med3(a, pn - 2 * d, pn - d, pn, cmp)
            pm = _med3(a, pl, pm, pn, cmp)
        a[base], a[pm] = a[pm], a[base]
        pivot_i = base
        pa = pb = base + 1
        pc = pd = base + n - 1
        while True:
            while pb <= pc:
                c = cmp(a[pb], a[pivot_i])
                if c > 0:
                    break
                if c == 0:
                    a[pa], a[pb] = a[pb], a[pa]
                    pa += 1
                pb += 1
            while pb <= pc:
                c = cmp(a[pc], a[pivot_i])
                if c < 0:
                    break
                if c == 0:
                    a[pc], a[pd] = a[pd], a[pc]
                    pd -= 1
                pc -= 1
            if pb > pc:
                break
            a[pb], a[pc] = a[pc], a[pb]
            pb += 1
            pc -= 1
        end = base + n
        r = min(pa - base, pb - pa)
        _vecswap(a, base, pb - r, r)
        r = min(pd - pc, end - pd - 1)
        _vecswap(a, pb, end - r, r)
        r = pb - pa
        if r > 1 and hi_rank >= base and lo_rank <= base + r - 1:
            _pq(a, base, r, cmp, lo_rank, hi_rank)
        r = pd - pc
        if r > 1:
            base = end - r
            n = r
            if hi_rank >= base and lo_rank <= base + r - 1:
                continue
        return
