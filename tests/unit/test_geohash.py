"""Geohash arithmetic (types/geohash.py) without a server: scores,
decoded coordinates, GEOHASH strings and distances for known places (the
values redis-server 6.2 gives), neighbour moves and their wrap-around,
the search-box selection, and the partial sort whose permutations were
taken from redis-server's own pqsort."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from pyredis.types import geohash as gh

PALERMO = (13.361389, 38.115556)
CATANIA = (15.087269, 37.502669)


def test_scores_of_known_places():
    assert gh.score_of(*PALERMO) == 3479099956230698
    assert gh.score_of(*CATANIA) == 3479447370796909
    assert gh.encode(181.0, 0.0) is None
    assert gh.encode(0.0, 85.06) is None


def test_decoded_coordinates_as_redis_prints_them():
    lon, lat = gh.decode(3479099956230698)
    assert gh.format_coord(lon) == b"13.36138933897018433"
    assert gh.format_coord(lat) == b"38.11555639549629859"
    lon, lat = gh.decode(0)
    assert (gh.format_coord(lon), gh.format_coord(lat)) == (b"-179.99999731779098511",
                                                              b"-85.05112751263942528")
    assert gh.format_coord(180.0) == b"180"
    assert gh.format_coord(-0.0) == b"0"
    assert gh.format_coord(gh.LAT_MAX) == b"85.0511287799999991"


def test_hash_strings():
    assert gh.hash_string(3479099956230698) == b"sqc8b49rny0"
    assert gh.hash_string(3479447370796909) == b"sqdtr74hyu0"


def test_distances():
    p = gh.decode(gh.score_of(*PALERMO))
    c = gh.decode(gh.score_of(*CATANIA))
    assert gh.format_distance(gh.distance(*p, *c)) == b"166274.1516"
    assert gh.format_distance(gh.distance(*p, *c) / 1000) == b"166.2742"
    assert gh.distance(*p, *p) == 0.0
    assert gh.format_distance(gh.distance(15, 37, *c) / 1000) == b"56.4413"


@settings(max_examples=200, deadline=None)
@given(st.floats(-180, 180), st.floats(gh.LAT_MIN, gh.LAT_MAX))
def test_encode_decode_round_trip(lon, lat):
    bits = gh.encode(lon, lat)
    # 180 and the top latitude scale to 2**26, one past 26 bits, as in Redis.
    assert 0 <= bits < 1 << 54
    dlon, dlat = gh.decode(bits)
    # A 26-step cell is about 5.4e-6 degrees of longitude wide.
    assert abs(dlon - lon) < 1e-5 and abs(dlat - lat) < 1e-5


def test_estimate_steps():
    assert gh.estimate_steps(0, 0) == 26
    # 1 m doubles 25 times to pass the Mercator half-width: 26 - 2.
    assert gh.estimate_steps(1, 0) == 24
    assert gh.estimate_steps(1000, 0) == 14
    assert gh.estimate_steps(1000, 70) == 13
    assert gh.estimate_steps(1000, -85) == 12
    assert gh.estimate_steps(5_000_000, 0) == 2
    assert gh.estimate_steps(10_000_000, 0) == 1
    assert gh.estimate_steps(1e9, 0) == 1
    assert gh.estimate_steps(1e-9, 0) == 26


def test_neighbours_wrap_around():
    step = 1
    # Two cells per axis at step 1: moving twice east comes back.
    b = gh.encode(-90.0, -45.0, step)
    east = gh._move_lon(b, step, 1)
    assert east != b and gh._move_lon(east, step, 1) == b
    assert gh._move_lon(b, step, -1) == east
    north = gh._move_lat(b, step, 1)
    assert gh._move_lat(north, step, 1) == b
    lon_min, lon_max, lat_min, lat_max = gh.decode_area(b, step)
    assert (lon_min, lon_max, lat_min, lat_max) == (-180.0, 0.0, gh.LAT_MIN, 0.0)


def test_box_score_ranges_nest():
    bits = gh.encode(*PALERMO, 10)
    lo, hi = gh.box_score_range(bits, 10)
    assert lo <= gh.score_of(*PALERMO) < hi
    assert hi - lo == 1 << 32


def test_search_boxes_cover_the_centre():
    for radius in (1.0, 500.0, 200_000.0):
        boxes, step = gh.search_boxes(*PALERMO, radius, radius, radius)
        assert len(boxes) == 9 and boxes[0] is not None
        lo, hi = gh.box_score_range(boxes[0], step)
        assert lo <= gh.score_of(*PALERMO) < hi
    # Far from a cell edge a small search keeps only the centre box.
    boxes, step = gh.search_boxes(*PALERMO, 0.1, 0.1, 0.1)
    assert step >= 2


# -- partial sort: permutations from redis-server 6.2.14's own pqsort ---------------


def _cmp(x, y):
    return (x[0] > y[0]) - (x[0] < y[0])


def _rcmp(x, y):
    return (x[0] < y[0]) - (x[0] > y[0])


@pytest.mark.parametrize("values,count,desc,expected", [
    ([1] * 6 + [2] * 6 + [9] + [5] * 7 + [10] * 4, 17, False,
     [1, 2, 3, 4, 5, 0, 11, 6, 7, 8, 9, 10, 18, 13, 14, 15, 16, 17, 19, 12, 20, 21, 22, 23]),
    ([1, 0, 5, 5, 1, 4, 0, 0, 0, 732, 976, 808, 6, 135, 187, 1, 1], 11, False,
     [1, 6, 8, 7, 16, 4, 15, 0, 5, 2, 3, 11, 12, 13, 14, 9, 10]),
    ([1, 0, 0, 0, 3, 1, 3, 0, 2, 1, 471, 0, 0, 0, 1, 4, 3, 1, 9, 481, 1, 1, 3, 394, 967, 9, 4, 0,
      9, 0, 9, 999, 3, 701, 616, 3, 0, 4, 6], 11, False,
     [27, 1, 2, 3, 7, 11, 12, 13, 36, 29, 0, 14, 17, 20, 5, 21, 9, 8, 37, 26, 6, 22, 35, 32, 4, 15,
      16, 38, 28, 25, 30, 31, 24, 33, 34, 23, 19, 18, 10]),
    ([3, 6, 0, 1, 0, 0, 1, 2, 1, 765, 2, 1, 453, 8, 520, 0, 689, 3, 0, 2, 1, 3, 0, 5, 94, 2, 1,
      686, 243, 0, 136, 4, 1, 2, 1, 1, 859, 851, 0, 0, 7, 0, 1, 3, 1, 985], 8, True,
     [45, 36, 37, 9, 16, 27, 14, 12, 28, 30, 24, 40, 1, 13, 23, 15, 11, 17, 18, 19, 20, 21, 22, 0,
      10, 25, 26, 8, 7, 29, 6, 31, 32, 33, 34, 35, 5, 4, 38, 39, 3, 41, 42, 43, 44, 2]),
])
def test_partial_sort_matches_redis(values, count, desc, expected):
    a = [[v, i] for i, v in enumerate(values)]
    gh.partial_sort(a, _rcmp if desc else _cmp, 0, count - 1)
    assert [x[1] for x in a] == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=120), st.data())
def test_partial_sort_orders_the_prefix(values, data):
    count = data.draw(st.integers(1, len(values)))
    a = [[v, i] for i, v in enumerate(values)]
    gh.partial_sort(a, _cmp, 0, count - 1)
    assert [x[0] for x in a[:count]] == sorted(values)[:count]
    assert sorted(x[1] for x in a) == list(range(len(values)))
