"""GEO commands against the reference redis-server: GEOADD (options,
coordinate checks), GEODIST in every unit, GEOHASH strings, GEOPOS
coordinates as Redis prints them (RESP2 and RESP3), the radius searches
(GEORADIUS, GEORADIUSBYMEMBER, their _RO forms, GEOSEARCH BYRADIUS/BYBOX,
GEOSEARCHSTORE) with every option and error, and seeded random searches
over clusters of points (poles, the date line, huge radii, ties at one
position, COUNT with and without ANY) whose replies must match byte for
byte. On pyredis, GEOADD's effect is the ZADD it did."""

from __future__ import annotations

import random
import threading
import time

import pytest

from pyredis.propagate import Recorder

NAMES = ("geoadd", "geodist", "geohash", "geopos", "georadius", "georadiusbymember",
         "georadius_ro", "georadiusbymember_ro", "geosearch", "geosearchstore")

SICILY = ("13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania")


def test_command_info_rows(both):
    for name in NAMES:
        both("COMMAND", "INFO", name)


def test_command_getkeys(both):
    both("COMMAND", "GETKEYS", "GEORADIUS", "g", "1", "2", "3", "km", "STORE", "d")
    both("COMMAND", "GETKEYS", "GEORADIUS", "g", "1", "2", "3", "km", "STORE", "d", "STOREDIST", "e")
    both("COMMAND", "GETKEYS", "GEORADIUS", "g", "1", "2", "3", "km")
    both("COMMAND", "GETKEYS", "GEORADIUS", "g", "1", "2", "3", "km", "STORE")
    both("COMMAND", "GETKEYS", "GEORADIUSBYMEMBER", "g", "m", "3", "km", "STOREDIST", "d")
    both("COMMAND", "GETKEYS", "GEORADIUSBYMEMBER", "g", "m", "store", "km", "store", "d")
    both("COMMAND", "GETKEYS", "GEORADIUS_RO", "g", "1", "2", "3", "km")
    both("COMMAND", "GETKEYS", "GEOSEARCHSTORE", "d", "g", "FROMMEMBER", "m", "BYRADIUS", "1", "m")


def test_geoadd(both):
    both("GEOADD", "g", *SICILY)
    both("GEOADD", "g", "CH", "13.361389", "38.115556", "Palermo", "1", "1", "x")
    both("GEOADD", "g", "NX", "CH", "0", "0", "Palermo", "2", "2", "y")
    both("GEOADD", "g", "XX", "CH", "0", "0", "Palermo", "3", "3", "z")
    both("GEOADD", "g", "XX", "NX", "1", "1", "a")
    both("GEOADD", "g", "-180", "-85.05112878", "sw", "180", "85.05112878", "ne", "0", "0", "o")
    both("ZRANGE", "g", "0", "-1", "WITHSCORES")
    both("GEOADD", "new", "XX", "1", "1", "a")
    both("EXISTS", "new")


@pytest.mark.parametrize("args", [
    ("1", "100", "a"), ("200", "1", "a"), ("-180.0001", "0", "a"), ("0", "85.05112879", "a"),
    ("0", "-85.0511288", "a"), ("x", "1", "a"), ("1", "y", "a"), ("inf", "0", "a"),
    ("1", "1"), ("1", "1", "a", "2"), ("ch", "ch", "ch"), ("nx", "xx", "1", "1", "a"),
    ("1", "1", "a", "1", "1000", "b"), ("0x10", "1", "hex"), (" 1", "1", "a")])
def test_geoadd_errors(both, args):
    both("GEOADD", "g", *args)
    both("ZRANGE", "g", "0", "-1", "WITHSCORES")


def test_geoadd_wrongtype(both):
    both("SET", "s", "v")
    both("GEOADD", "s", "1", "1", "a")
    for args in (("GEODIST", "s", "a", "b"), ("GEOHASH", "s", "a"), ("GEOPOS", "s", "a"),
                 ("GEORADIUS", "s", "1", "1", "1", "km"), ("GEORADIUSBYMEMBER", "s", "a", "1", "km"),
                 ("GEOSEARCH", "s", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km")):
        both(*args)


def test_geodist(both):
    both("GEOADD", "g", *SICILY, "13.361389", "38.115556", "Twin")
    for unit in (None, "m", "km", "mi", "ft", "KM", "Mi"):
        args = ("GEODIST", "g", "Palermo", "Catania") + ((unit,) if unit else ())
        both(*args)
    both("GEODIST", "g", "Palermo", "Twin")
    both("GEODIST", "g", "Palermo", "Palermo", "km")
    both("GEODIST", "g", "Palermo", "nope")
    both("GEODIST", "g", "Palermo", "Catania", "foo")
    both("GEODIST", "g", "Palermo", "Catania", "km", "x")
    both("GEODIST", "nokey", "a", "b")
    both("GEODIST", "nokey", "a", "b", "foo")


def test_geohash_and_geopos(both):
    both("GEOADD", "g", *SICILY, "-180", "-85.05112878", "sw", "180", "85.05112878", "ne",
         "0", "0", "origin", "-0.0001", "51.4778", "greenwich", "139.6917", "35.6895", "tokyo")
    members = ("Palermo", "Catania", "sw", "ne", "origin", "greenwich", "tokyo", "nope")
    both("GEOHASH", "g", *members)
    both("GEOPOS", "g", *members)
    both("GEOHASH", "nokey", "a", "b")
    both("GEOPOS", "nokey", "a", "b")
    # Scores that no GEOADD makes still decode as Redis decodes them.
    both("ZADD", "odd", "-5", "x", "1e20", "y", "4503599627370496", "z", "9007199254740993", "w",
         "inf", "v", "-inf", "u", "0", "t", "3.5", "h")
    odd = ("x", "y", "z", "w", "v", "u", "t", "h")
    both("GEOPOS", "odd", *odd)
    both("GEOHASH", "odd", *odd)
    both("GEORADIUS", "odd", "0", "0", "20000", "km", "WITHCOORD", "WITHHASH", "WITHDIST")


def test_resp3(both):
    for c in (both.p, both.r):
        assert c.call("HELLO", "3")[0] == "%"
    both("GEOADD", "g", *SICILY)
    both("GEOPOS", "g", "Palermo", "nope")
    both("GEOPOS", "nokey", "a")
    both("GEOHASH", "g", "Palermo", "nope")
    both("GEODIST", "g", "Palermo", "Catania", "km")
    both("GEODIST", "g", "Palermo", "nope")
    both("GEORADIUS", "g", "15", "37", "200", "km", "WITHDIST", "WITHCOORD", "WITHHASH", "ASC")
    both("GEOSEARCH", "g", "FROMMEMBER", "Palermo", "BYBOX", "400", "400", "km", "WITHCOORD")


@pytest.mark.parametrize("opts", [
    (), ("WITHDIST",), ("WITHCOORD",), ("WITHHASH",), ("WITHDIST", "WITHCOORD", "WITHHASH"),
    ("ASC",), ("DESC", "WITHDIST"), ("COUNT", "1"), ("COUNT", "1", "DESC"), ("COUNT", "5"),
    ("COUNT", "1", "ANY"), ("ANY", "COUNT", "2", "ASC"), ("withdist", "count", "1", "desc")])
def test_radius_options(both, opts):
    both("GEOADD", "g", *SICILY, "13.583333", "37.316667", "Agrigento")
    both("GEORADIUS", "g", "15", "37", "200", "km", *opts)
    both("GEORADIUS_RO", "g", "15", "37", "200000", "m", *opts)
    both("GEORADIUSBYMEMBER", "g", "Agrigento", "100", "mi", *opts)
    both("GEORADIUSBYMEMBER_RO", "g", "Palermo", "700000", "ft", *opts)
    both("GEOSEARCH", "g", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", *opts)
    both("GEOSEARCH", "g", "FROMMEMBER", "Palermo", "BYBOX", "300", "300", "km", *opts)


@pytest.mark.parametrize("args", [
    ("GEORADIUS", "g", "15", "37", "x", "km"), ("GEORADIUS", "g", "15", "37", "-1", "km"),
    ("GEORADIUS", "g", "15", "37", "1", "foo"), ("GEORADIUS", "g", "15", "100", "1", "km"),
    ("GEORADIUS", "g", "x", "37", "1", "km"), ("GEORADIUS", "g", "15", "37", "1", "km", "COUNT", "0"),
    ("GEORADIUS", "g", "15", "37", "1", "km", "COUNT", "-1"),
    ("GEORADIUS", "g", "15", "37", "1", "km", "COUNT", "x"),
    ("GEORADIUS", "g", "15", "37", "1", "km", "COUNT"), ("GEORADIUS", "g", "15", "37", "1", "km", "ANY"),
    ("GEORADIUS", "g", "15", "37", "1", "km", "STORE"),
    ("GEORADIUS", "g", "15", "37", "1", "km", "STORE", "d", "WITHDIST"),
    ("GEORADIUS", "g", "15", "37", "1", "km", "STOREDIST", "d", "WITHHASH"),
    ("GEORADIUS", "g", "15", "37", "1", "km", "foo"),
    ("GEORADIUS_RO", "g", "15", "37", "1", "km", "STORE", "d"),
    ("GEORADIUSBYMEMBER", "g", "nope", "1", "km"), ("GEORADIUSBYMEMBER", "g", "Palermo", "x", "km"),
    ("GEORADIUSBYMEMBER_RO", "g", "Palermo", "1", "km", "STOREDIST", "d"),
    ("GEORADIUSBYMEMBER", "nokey", "nope", "x", "km"),
    ("GEORADIUSBYMEMBER", "nokey", "nope", "1", "km", "STORE", "d"),
    ("GEORADIUS", "nokey", "15", "37", "1", "km"), ("GEORADIUS", "nokey", "15", "37", "1", "km", "STORE", "d"),
    ("GEOSEARCH", "g", "WITHDIST", "WITHCOORD", "BYRADIUS", "1", "km"),
    ("GEOSEARCH", "g", "WITHDIST", "WITHCOORD", "FROMLONLAT", "1", "1"),
    ("GEOSEARCH", "g", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "BYBOX", "1", "1", "km"),
    ("GEOSEARCH", "g", "FROMMEMBER", "Palermo", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km"),
    ("GEOSEARCH", "g", "FROMMEMBER", "nope", "BYRADIUS", "1", "km"),
    ("GEOSEARCH", "g", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "STORE", "x"),
    ("GEOSEARCH", "g", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "STOREDIST"),
    ("GEOSEARCH", "g", "FROMLONLAT", "15", "37", "BYBOX", "-1", "1", "km"),
    ("GEOSEARCH", "g", "FROMLONLAT", "15", "37", "BYBOX", "x", "1", "km"),
    ("GEOSEARCH", "g", "FROMLONLAT", "15", "37", "BYBOX", "1", "x", "km"),
    ("GEOSEARCH", "g", "FROMLONLAT", "15", "37", "BYBOX", "1", "1", "parsec"),
    ("GEOSEARCH", "g", "FROMLONLAT", "15", "95", "BYRADIUS", "1", "km"),
    ("GEOSEARCH", "g", "FROMLONLAT", "15", "37", "BYRADIUS", "1"),
    ("GEOSEARCH", "nokey", "FROMMEMBER", "x", "BYRADIUS", "1", "km"),
    ("geosearch", "nokey", "WITHDIST", "WITHCOORD", "BYRADIUS", "1", "km"),
    ("GEOSEARCHSTORE", "d", "g", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "WITHDIST"),
    ("GEOSEARCHSTORE", "d", "g", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "STOREDIST", "x"),
    ("GEOSEARCHSTORE", "d", "nokey", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km"),
])
def test_search_errors(both, args):
    both("GEOADD", "g", *SICILY)
    both("SET", "d", "x")
    both(*args)
    both("TYPE", "d")


def test_store(both):
    both("GEOADD", "g", *SICILY, "13.583333", "37.316667", "Agrigento")
    both("SET", "d", "x")
    both("EXPIRE", "d", "100")
    both("GEORADIUS", "g", "15", "37", "200", "km", "STORE", "d")
    both("TTL", "d")
    both("ZRANGE", "d", "0", "-1", "WITHSCORES")
    both("OBJECT", "ENCODING", "d")
    both("GEORADIUS", "g", "15", "37", "200", "km", "STOREDIST", "d", "COUNT", "2", "DESC")
    both("ZRANGE", "d", "0", "-1", "WITHSCORES")
    both("GEORADIUSBYMEMBER", "g", "Palermo", "500", "mi", "STORE", "d2", "STOREDIST", "d3")
    both("EXISTS", "d2", "d3")
    both("ZRANGE", "d3", "0", "-1", "WITHSCORES")
    both("GEORADIUS", "g", "0", "0", "1", "km", "STORE", "d")
    both("EXISTS", "d")
    both("GEOSEARCHSTORE", "d", "g", "FROMLONLAT", "15", "37", "BYBOX", "500", "500", "km")
    both("ZRANGE", "d", "0", "-1", "WITHSCORES")
    both("GEOSEARCHSTORE", "d", "g", "FROMLONLAT", "15", "37", "BYBOX", "500", "500", "km", "STOREDIST",
         "COUNT", "1")
    both("ZRANGE", "d", "0", "-1", "WITHSCORES")
    both("GEOSEARCHSTORE", "g", "g", "FROMMEMBER", "Catania", "BYRADIUS", "1", "km")
    both("ZRANGE", "g", "0", "-1", "WITHSCORES")


def test_ties_at_one_position(both):
    # Equal distances: the order comes from the scan order and Redis's sorts
    # (a stable sort for all, its partial quicksort under COUNT).
    args = ["GEOADD", "t"]
    rnd = random.Random(7)
    spots = [("10.000%d" % i, "10.001%d" % i) for i in range(4)]
    for i in range(60):
        lon, lat = rnd.choice(spots)
        args += [lon, lat, "m%02d" % i]
    both(*args)
    for count in ("1", "5", "17", "33", "59", "60", "100"):
        for order in ("ASC", "DESC"):
            both("GEORADIUS", "t", "10", "10", "50", "km", "COUNT", count, order)
            both("GEOSEARCH", "t", "FROMLONLAT", "10", "10", "BYBOX", "90", "90", "km", "COUNT", count,
                 order, "WITHDIST")
    both("GEORADIUS", "t", "10", "10", "50", "km", "ASC")
    both("GEORADIUS", "t", "10", "10", "50", "km", "DESC", "WITHHASH")
    both("GEORADIUS", "t", "10", "10", "50", "km")


def _random_point(rnd, clon, clat, spread):
    lon = max(-180.0, min(180.0, clon + rnd.uniform(-spread, spread)))
    lat = max(-85.05, min(85.05, clat + rnd.uniform(-spread, spread)))
    return lon, lat


@pytest.mark.parametrize("seed", range(8))
def test_random_searches(both, seed):
    rnd = random.Random(seed)
    clon, clat = rnd.choice([(rnd.uniform(-180, 180), rnd.uniform(-85, 85)), (179.99, 10.0),
                             (-179.99, -20.0), (0.0, 84.9), (12.0, -84.9), (0.0, 0.0),
                             (100.0, 66.5), (-60.0, -80.5)])
    spread = rnd.choice([0.01, 0.5, 5.0, 40.0])
    n = rnd.choice([20, 150])
    args = ["GEOADD", "g"]
    points = []
    for i in range(n):
        if points and rnd.random() < 0.15:
            lon, lat = rnd.choice(points)
        else:
            lon, lat = _random_point(rnd, clon, clat, spread)
        points.append((lon, lat))
        args += ["%.6f" % lon, "%.6f" % lat, "m%d" % i]
    both(*args)
    for _ in range(12):
        unit = rnd.choice(["m", "km", "mi", "ft"])
        conv = {"m": 1, "km": 1000, "mi": 1609.34, "ft": 0.3048}[unit]
        radius = rnd.choice([0, 10, 1000, 50000, 500000, 3000000, 8000000]) * rnd.random() / conv
        opts = []
        for flag, p in (("WITHDIST", 0.5), ("WITHCOORD", 0.3), ("WITHHASH", 0.3)):
            if rnd.random() < p:
                opts.append(flag)
        if rnd.random() < 0.5:
            opts += ["COUNT", str(rnd.randint(1, 30))]
            if rnd.random() < 0.3:
                opts.append("ANY")
        if rnd.random() < 0.5:
            opts.append(rnd.choice(["ASC", "DESC"]))
        qlon, qlat = _random_point(rnd, clon, clat, spread)
        kind = rnd.randrange(4)
        if kind == 0:
            both("GEORADIUS", "g", "%.6f" % qlon, "%.6f" % qlat, repr(radius), unit, *opts)
        elif kind == 1:
            both("GEORADIUSBYMEMBER", "g", "m%d" % rnd.randrange(n), repr(radius), unit, *opts)
        elif kind == 2:
            both("GEOSEARCH", "g", "FROMLONLAT", "%.6f" % qlon, "%.6f" % qlat, "BYBOX",
                 repr(radius * rnd.uniform(0.5, 2)), repr(radius * rnd.uniform(0.5, 2)), unit, *opts)
        else:
            plain = [o for o in opts if not o.startswith("WITH")]
            both("GEORADIUS", "g", "%.6f" % qlon, "%.6f" % qlat, repr(radius), unit, *plain,
                 rnd.choice(["STORE", "STOREDIST"]), "dst")
            both("ZRANGE", "dst", "0", "-1", "WITHSCORES")
    both("GEODIST", "g", "m0", "m%d" % (n - 1), "km")
    both("GEOHASH", "g", *["m%d" % i for i in range(0, n, 7)])
    both("GEOPOS", "g", *["m%d" % i for i in range(0, n, 7)])


def test_geoadd_effect_is_zadd(pyr, raw_pyr):
    rec = Recorder()
    done = threading.Event()
    pyr.call_soon(lambda: (pyr.core.funnel.subscribe(rec), done.set()))
    assert done.wait(5)
    try:
        assert raw_pyr.call("GEOADD", "g", "CH", *SICILY) == (":", 2)
        assert raw_pyr.call("GEOADD", "g", "NX", *SICILY) == (":", 0)
        assert raw_pyr.call("GEORADIUS", "g", "15", "37", "200", "km", "STORE", "d") == (":", 2)
        deadline = time.monotonic() + 5
        while len(rec.effects) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert [e[1] for e in rec.effects if e[0] == 0] == [
            [b"zadd", b"g", b"CH", b"3479099956230698", b"Palermo", b"3479447370796909", b"Catania"],
            [b"GEORADIUS", b"g", b"15", b"37", b"200", b"km", b"STORE", b"d"],
        ]
    finally:
        done.clear()
        pyr.call_soon(lambda: (pyr.core.funnel.unsubscribe(rec), done.set()))
        assert done.wait(5)
