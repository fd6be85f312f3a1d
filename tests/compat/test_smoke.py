"""The fixtures work: the same commands on pyredis and real Redis agree."""


def test_ping_echo(both):
    both("PING")
    both("PING", "hello")
    both("ECHO", "x y")


def test_unknown_and_arity(both):
    both("NOSUCHCOMMAND", "a", "b")
    both("GET")
    both("SET", "k")


def test_set_get(both):
    both("SET", "k", "v")
    both("GET", "k")
    both("GET", "missing")
