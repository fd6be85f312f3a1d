"""GEO commands on sorted sets: GEOADD, GEODIST, GEOHASH, GEOPOS, the radius
searches GEORADIUS / GEORADIUSBYMEMBER (and their _RO forms) and the 6.2
GEOSEARCH / GEOSEARCHSTORE (BYRADIUS or BYBOX).

A position is stored as a sorted-set member whose score is its 52-bit
geohash (``types/geohash.py`` has the arithmetic and the search-box
selection). GEOADD is a ZADD of those scores and propagates as that ZADD,
as Redis does.

A search scans at most nine geohash boxes, each one score range of the
sorted set, so it costs O(log n + m) for the m members inside the boxes,
plus the sort of the matches (a partial sort with COUNT, reproducing
Redis's order among equally distant members).
"""

from __future__ import annotations

from .. import errors
from ..errors import CommandError
from ..notify import NOTIFY_GENERIC, notify
from ..protocol import NULL_ARRAY, Raw
from ..types import geohash
from ..types.zset import ZSet, parse_score, score_key
from .args import to_int
from .table import command
from .zsets import store_result, zadd_generic

_EMPTY = Raw(b"*0\r\n")


def _lonlat(a: bytes, b: bytes) -> tuple:
    """A (longitude, latitude) argument pair, checked like Redis's
    extractLongLatOrReply."""
    lon = parse_score(a)
    lat = parse_score(b)
    if lon is None or lat is None:
        raise CommandError(errors.NOT_FLOAT)
    if (lon < geohash.LONG_MIN or lon > geohash.LONG_MAX
            or lat < geohash.LAT_MIN or lat > geohash.LAT_MAX):
        raise CommandError(errors.geo_invalid_pair(lon, lat))
    return lon, lat


def _unit(b: bytes) -> float:
    conv = geohash.UNITS.get(b)  # case-sensitive, as in Redis
    if conv is None:
        raise CommandError(errors.GEO_UNIT)
    return conv


def _coord(client, v: float):
    """A coordinate reply: a bulk string in RESP2, a double in RESP3, the
    same text either way."""
    text = geohash.format_coord(v)
    if client.resp == 3:
        return Raw(b",%b\r\n" % text)
    return text


def _u64(score: float) -> int:
    """A score converted to the uint64 geohash bits as x86-64 C does
    ((uint64_t) of a double), so out-of-range scores decode as in Redis."""
    if score >= 9223372036854775808.0:
        t = score - 9223372036854775808.0
        v = 0x8000000000000000 if t >= 9223372036854775808.0 else int(t)
        return v ^ 0x8000000000000000
    if score < -9223372036854775808.0:
        return 0x8000000000000000
    return int(score) & 0xFFFFFFFFFFFFFFFF


def _decode(score: float) -> tuple:
    return geohash.decode(_u64(score))


# -- GEOADD GEODIST GEOHASH GEOPOS ----------------------------------------------


@command("geoadd", -5, "write denyoom", (1, 1, 1), "@geo", group="geo", since="3.2.0")
def geoadd(client, args):
    n = len(args)
    i = 2
    nx = xx = False
    while i < n:
        opt = args[i].lower()
        if opt == b"nx":
            nx = True
        elif opt == b"xx":
            xx = True
        elif opt != b"ch":
            break
        i += 1
    if (n - i) % 3 or (nx and xx):
        raise CommandError(errors.SYNTAX)
    zargs = [b"zadd"] + args[1:i]
    for j in range(i, n, 3):
        lon, lat = _lonlat(args[j], args[j + 1])
        zargs.append(b"%d" % geohash.score_of(lon, lat))
        zargs.append(args[j + 2])
    reply = zadd_generic(client, zargs, 0)
    client.rewrite(*zargs)
    return reply


@command("geodist", -4, "readonly", (1, 1, 1), "@geo", group="geo", since="3.2.0")
def geodist(client, args):
    to_meter = 1.0
    if len(args) == 5:
        to_meter = _unit(args[4])
    elif len(args) > 5:
        raise CommandError(errors.SYNTAX)
    z = client.db.get_typed(args[1], ZSet)
    if z is None:
        return None
    s1 = z.scores.get(args[2])
    s2 = z.scores.get(args[3])
    if s1 is None or s2 is None:
        return None
    lon1, lat1 = _decode(s1)
    lon2, lat2 = _decode(s2)
    return geohash.format_distance(geohash.distance(lon1, lat1, lon2, lat2) / to_meter)


@command("geohash", -2, "readonly", (1, 1, 1), "@geo", group="geo", since="3.2.0")
def geohash_(client, args):
    z = client.db.get_typed(args[1], ZSet)
    if z is None:
        return [None] * (len(args) - 2)
    get = z.scores.get
    out = []
    for m in args[2:]:
        s = get(m)
        out.append(None if s is None else geohash.hash_string(_u64(s)))
    return out


@command("geopos", -2, "readonly", (1, 1, 1), "@geo", group="geo", since="3.2.0")
def geopos(client, args):
    z = client.db.get_typed(args[1], ZSet)
    if z is None:
        return [NULL_ARRAY] * (len(args) - 2)
    get = z.scores.get
    out = []
    for m in args[2:]:
        s = get(m)
        if s is None:
            out.append(NULL_ARRAY)
        else:
            lon, lat = _decode(s)
            out.append([_coord(client, lon), _coord(client, lat)])
    return out


# -- searches ------------------------------------------------------------------

_COORDS, _MEMBER, _NOSTORE, _SEARCH, _SEARCHSTORE = 1, 2, 4, 8, 16
_SORT_NONE, _SORT_ASC, _SORT_DESC = 0, 1, 2


class _Shape:
    """The search area: centre, circle radius or box size (in the query's
    unit) and the unit's size in meters."""

    __slots__ = ("lon", "lat", "box", "radius", "width", "height", "conversion")

    def __init__(self) -> None:
        self.lon = self.lat = 0.0
        self.box = False
        self.radius = self.width = self.height = 0.0
        self.conversion = 1.0


def _distance_arg(shape: _Shape, radius: bytes, unit: bytes) -> None:
    d = parse_score(radius)
    if d is None:
        raise CommandError(errors.GEO_NEED_RADIUS)
    if d < 0:
        raise CommandError(errors.GEO_RADIUS_NEGATIVE)
    shape.radius = d
    shape.conversion = _unit(unit)
    shape.box = False


def _box_arg(shape: _Shape, width: bytes, height: bytes, unit: bytes) -> None:
    w = parse_score(width)
    if w is None:
        raise CommandError(errors.GEO_NEED_WIDTH)
    h = parse_score(height)
    if h is None:
        raise CommandError(errors.GEO_NEED_HEIGHT)
    if w < 0 or h < 0:
        raise CommandError(errors.GEO_BOX_NEGATIVE)
    shape.width, shape.height = w, h
    shape.conversion = _unit(unit)
    shape.box = True


def _member_center(shape: _Shape, z: ZSet, member: bytes) -> None:
    s = z.scores.get(member)
    if s is None:
        raise CommandError(errors.GEO_NO_MEMBER)
    shape.lon, shape.lat = _decode(s)


def _search(z: ZSet, shape: _Shape, limit: int) -> list:
    """The members inside the shape as [dist_m, score, member, lon, lat]
    lists, in the order Redis's box scan finds them; stops after ``limit``
    matches when it is not 0 (ANY)."""
    conv = shape.conversion
    if shape.box:
        half_w = conv * (shape.width / 2)
        half_h = conv * (shape.height / 2)
        radius_m = geohash._sqrt((shape.width / 2) * (shape.width / 2)
                                 + (shape.height / 2) * (shape.height / 2)) * conv
        width_m = shape.width * conv
        height_m = shape.height * conv
    else:
        half_w = half_h = conv * shape.radius
        radius_m = shape.radius * conv
    boxes, step = geohash.search_boxes(shape.lon, shape.lat, half_w, half_h, radius_m)
    found: list = []
    order = z.order
    scores = z.scores
    clon, clat = shape.lon, shape.lat
    dist = geohash.distance
    decode = geohash.decode
    last = 0
    for i, bits in enumerate(boxes):
        if bits is None:
            continue
        # Redis skips a box equal to the one it scanned just before (huge
        # radii wrap around), but never compares with the centre box.
        if last and bits == boxes[last]:
            continue
        if found and limit and len(found) >= limit:
            break
        lo, hi = geohash.box_score_range(bits, step)
        hi_key = score_key(float(hi))
        for key in order.islice(z.first_at_or_above(float(lo))):
            if key >= hi_key:
                break
            member = key[8:]
            score = scores[member]
            lon, lat = decode(_u64(score))
            if shape.box:
                if (dist(lon, lat, clon, lat) <= width_m / 2
                        and dist(lon, lat, lon, clat) <= height_m / 2):
                    found.append([dist(clon, clat, lon, lat), score, member, lon, lat])
            else:
                d = dist(clon, clat, lon, lat)
                if d <= radius_m:
                    found.append([d, score, member, lon, lat])
            if found and limit and len(found) >= limit:
                break
        last = i
    return found


def _dist(p: list) -> float:
    return p[0]


def _cmp_asc(a, b) -> int:
    da, db = a[0], b[0]
    return 1 if da > db else (0 if da == db else -1)


def _cmp_desc(a, b) -> int:
    da, db = a[0], b[0]
    return -1 if da > db else (0 if da == db else 1)


def georadius_generic(client, args, src_index: int, flags: int):
    """GEORADIUS, GEORADIUSBYMEMBER, their _RO forms, GEOSEARCH and
    GEOSEARCHSTORE (Redis's georadiusGeneric)."""
    z = client.db.get_typed(args[src_index], ZSet)
    shape = _Shape()
    store = None
    storedist = False
    if flags & _COORDS:
        base = 6
        shape.lon, shape.lat = _lonlat(args[2], args[3])
        _distance_arg(shape, args[4], args[5])
    elif flags & _MEMBER:
        base = 5
        if z is not None:
            _member_center(shape, z, args[2])
            _distance_arg(shape, args[3], args[4])
    else:
        base = 2
        if flags & _SEARCHSTORE:
            base = 3
            store = args[1]
    withdist = withhash = withcoord = any_ = False
    frommember = fromloc = byradius = bybox = False
    sort = _SORT_NONE
    count = 0
    n = len(args)
    remaining = n - base
    i = 0
    search = flags & _SEARCH
    while i < remaining:
        a = args[base + i]
        opt = a.lower()
        if opt == b"withdist":
            withdist = True
        elif opt == b"withhash":
            withhash = True
        elif opt == b"withcoord":
            withcoord = True
        elif opt == b"any":
            any_ = True
        elif opt == b"asc":
            sort = _SORT_ASC
        elif opt == b"desc":
            sort = _SORT_DESC
        elif opt == b"count" and i + 1 < remaining:
            count = to_int(args[base + i + 1])
            if count is None:
                raise CommandError(errors.NOT_INTEGER)
            if count <= 0:
                raise CommandError(errors.GEO_COUNT)
            i += 1
        elif (opt in (b"store", b"storedist") and i + 1 < remaining
              and not flags & _NOSTORE and not search):
            store = args[base + i + 1]
            storedist = opt == b"storedist"
            i += 1
        elif opt == b"storedist" and search and flags & _SEARCHSTORE:
            storedist = True
        elif opt == b"frommember" and i + 1 < remaining and search and not fromloc:
            if z is not None:
                _member_center(shape, z, args[base + i + 1])
            frommember = True
            i += 1
        elif opt == b"fromlonlat" and i + 2 < remaining and search and not frommember:
            shape.lon, shape.lat = _lonlat(args[base + i + 1], args[base + i + 2])
            fromloc = True
            i += 2
        elif opt == b"byradius" and i + 2 < remaining and search and not bybox:
            _distance_arg(shape, args[base + i + 1], args[base + i + 2])
            byradius = True
            i += 2
        elif opt == b"bybox" and i + 3 < remaining and search and not byradius:
            _box_arg(shape, args[base + i + 1], args[base + i + 2], args[base + i + 3])
            bybox = True
            i += 3
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    if store is not None and (withdist or withhash or withcoord):
        raise CommandError(errors.GEO_STORE_WITH)
    name = args[0].decode("utf-8", "surrogateescape")
    if search and not (frommember or fromloc):
        raise CommandError(errors.geo_need_from(name))
    if search and not (byradius or bybox):
        raise CommandError(errors.geo_need_by(name))
    if any_ and not count:
        raise CommandError(errors.GEO_ANY_COUNT)
    if z is None:
        if store is not None:
            if client.db.delete(store):
                notify(client.db, NOTIFY_GENERIC, b"del", store)
            return 0
        return _EMPTY
    if count and sort == _SORT_NONE and not any_:
        sort = _SORT_ASC
    found = _search(z, shape, count if any_ else 0)
    if not found and store is None:
        return _EMPTY
    total = len(found)
    returned = total if not count or total < count else count
    if sort != _SORT_NONE:
        if returned == total:
            # Redis sorts with qsort, a stable merge sort in glibc: equally
            # distant members keep their scan order.
            found.sort(key=_dist, reverse=sort == _SORT_DESC)
        else:
            geohash.partial_sort(found, _cmp_asc if sort == _SORT_ASC else _cmp_desc,
                                 0, returned - 1)
    conv = shape.conversion
    if store is not None:
        pairs = [(p[2], p[0] / conv if storedist else p[1]) for p in found[:returned]]
        return store_result(client, store, pairs,
                            b"geosearchstore" if search else b"georadiusstore")
    options = withdist or withhash or withcoord
    out = []
    for p in found[:returned]:
        if not options:
            out.append(p[2])
            continue
        item = [p[2]]
        if withdist:
            item.append(geohash.format_distance(p[0] / conv))
        if withhash:
            item.append(int(p[1]))
        if withcoord:
            item.append([_coord(client, p[3]), _coord(client, p[4])])
        out.append(item)
    return out


def _radius_keys(args: list) -> list:
    """The source key and the STORE/STOREDIST target of a GEORADIUS call
    (the last one given wins, as in Redis; it scans from the 6th argument
    for both GEORADIUS and GEORADIUSBYMEMBER)."""
    store = None
    i = 5
    n = len(args)
    while i < n:
        if args[i].lower() in (b"store", b"storedist") and i + 1 < n:
            store = args[i + 1]
            i += 1
        i += 1
    return [args[1]] if store is None else [args[1], store]


@command("georadius", -6, "write denyoom movablekeys", (1, 1, 1), "@geo", group="geo",
         since="3.2.0", keys_fn=_radius_keys)
def georadius(client, args):
    return georadius_generic(client, args, 1, _COORDS)


@command("georadiusbymember", -5, "write denyoom movablekeys", (1, 1, 1), "@geo",
         group="geo", since="3.2.0", keys_fn=_radius_keys)
def georadiusbymember(client, args):
    return georadius_generic(client, args, 1, _MEMBER)


@command("georadius_ro", -6, "readonly", (1, 1, 1), "@geo", group="geo", since="3.2.10")
def georadius_ro(client, args):
    return georadius_generic(client, args, 1, _COORDS | _NOSTORE)


@command("georadiusbymember_ro", -5, "readonly", (1, 1, 1), "@geo", group="geo",
         since="3.2.10")
def georadiusbymember_ro(client, args):
    return georadius_generic(client, args, 1, _MEMBER | _NOSTORE)


@command("geosearch", -7, "readonly", (1, 1, 1), "@geo", group="geo", since="6.2.0")
def geosearch(client, args):
    return georadius_generic(client, args, 1, _SEARCH)


@command("geosearchstore", -8, "write denyoom", (1, 2, 1), "@geo", group="geo",
         since="6.2.0")
def geosearchstore(client, args):
    return georadius_generic(client, args, 2, _SEARCH | _SEARCHSTORE)
