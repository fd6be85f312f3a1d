"""pyredis.config without a server: value parsers, the option table,
redis.conf loading (line numbers, save lines, include, refused directives),
CONFIG GET matching and CONFIG REWRITE on strings."""

from __future__ import annotations

import os

import pytest

from pyredis.config import (ALIASES, OPTIONS, Config, ConfigError, ConfigFileError,
                            IncludeError, UnknownOption, lookup_option, parse_memory,
                            parse_strict_int, quote)
from pyredis.protocol.inline import split_args


@pytest.mark.parametrize("text, value", [
    ("0", 0), ("123", 123), ("1k", 1000), ("1kb", 1024), ("1K", 1000), ("1KB", 1024),
    ("2m", 2_000_000), ("2mb", 2 * 1024 ** 2), ("1g", 10 ** 9), ("1gb", 1024 ** 3),
    ("5b", 5), ("", 0), ("kb", 0), ("007", 7),
    ("9223372036854775807", 2 ** 63 - 1), ("99999999999999999999", 2 ** 63 - 1),
    ("17179869184gb", 0),
])
def test_parse_memory(text, value):
    assert parse_memory(text) == value


@pytest.mark.parametrize("text", ["-1", "+1", " 1", "1 ", "1.5mb", "1tb", "1kx", "abc", "0x10",
                                  "1" * 130])
def test_parse_memory_refuses(text):
    with pytest.raises(ConfigError, match="argument must be a memory value"):
        parse_memory(text)


@pytest.mark.parametrize("text, value", [
    ("0", 0), ("12", 12), ("-12", -12), ("9223372036854775807", 2 ** 63 - 1),
    ("-9223372036854775808", -2 ** 63), ("05", None), ("-0", None), ("+5", None),
    (" 5", None), ("5 ", None), ("", None), ("-", None), ("1e3", None),
    ("9223372036854775808", None), ("١٢", None),
])
def test_parse_strict_int(text, value):
    assert parse_strict_int(text) == value


def test_every_option_round_trips_its_default():
    c = Config()
    for opt in OPTIONS.values():
        if opt.name in ("dir", "logfile"):
            continue
        text = opt.render(opt.default)
        c.set(opt.name, text, startup=True)
        assert opt.render(getattr(c, opt.attr)) == text, opt.name


def test_aliases_point_at_real_options():
    for alias, real in ALIASES.items():
        assert real in OPTIONS and alias not in OPTIONS
        assert lookup_option(alias) is OPTIONS[real]
        assert lookup_option(alias.upper()) is OPTIONS[real]


def test_every_option_is_documented():
    for opt in OPTIONS.values():
        assert opt.doc, opt.name
        if not opt.effect:
            assert opt.doc.endswith("Accepted, no effect yet."), opt.name


def test_set_errors_carry_redis_reasons():
    c = Config()
    with pytest.raises(ConfigError, match="couldn't be parsed into an integer"):
        c.set("maxclients", "abc")
    with pytest.raises(ConfigError, match="between 1 and 4294967295 inclusive"):
        c.set("maxclients", "0")
    with pytest.raises(ConfigError, match="'yes' or 'no'"):
        c.set("appendonly", "maybe")
    with pytest.raises(ConfigError, match="one of the following: everysec, always, no"):
        c.set("appendfsync", "x")
    with pytest.raises(UnknownOption):
        c.set("nosuch", "1")
    with pytest.raises(UnknownOption):
        c.set("databases", "4")  # start-up only
    c.set("databases", "4", startup=True)
    assert c.databases == 4


def test_clamps_and_normalisation():
    c = Config()
    c.set("hz", "1000")
    assert c.hz == 500
    c.set("hz", "0")
    assert c.hz == 1
    c.set("repl-backlog-size", "1")
    assert c.repl_backlog_size == 16384
    c.set("notify-keyspace-events", "KEA")
    assert c.notify_keyspace_events == "AKE"
    c.set("notify-keyspace-events", "xgE")
    assert c.notify_keyspace_events == "gxE"
    c.set("maxmemory-policy", "ALLKEYS-LRU")
    assert c.maxmemory_policy == "allkeys-lru"
    c.set("client-output-buffer-limit", "replica 1mb 2 3")
    assert c.client_output_buffer_limit["slave"] == (1024 ** 2, 2, 3)
    assert c.client_output_buffer_limit["normal"] == (0, 0, 0)


def test_listeners_fire_after_set():
    c = Config()
    seen = []
    c.on_change("slave-read-only", seen.append)
    c.set("replica-read-only", "no")
    assert seen == [False]
    with pytest.raises(ConfigError):
        c.set("replica-read-only", "x")
    assert seen == [False]


def test_dir(tmp_path):
    c = Config()
    assert c.dir == os.getcwd()
    c.set("dir", str(tmp_path))
    assert c.dir == str(tmp_path) and os.getcwd() != str(tmp_path)  # stored, no chdir
    with pytest.raises(ConfigError, match="Changing directory: No such file or directory"):
        c.set("dir", str(tmp_path / "nope"))
    with pytest.raises(ConfigFileError, match="Can't chdir to"):
        c.load_text(f"dir {tmp_path / 'nope'}")


# -- matching -------------------------------------------------------------------------------


def test_matching():
    c = Config()
    assert c.matching("maxclients") == [("maxclients", "10000")]
    assert c.matching("MAXCLIENTS") == [("maxclients", "10000")]
    assert c.matching("replicaof") == [("replicaof", "")]
    names = [n for n, _ in c.matching("*")]
    assert "replicaof" not in names and "slaveof" in names
    assert len(names) == len(set(names)) == len(OPTIONS) - 1 + len(ALIASES)
    assert [n for n, _ in c.matching("slave-read-*")] == ["slave-read-only"]
    assert c.matching("nosuch*") == []


# -- loading files --------------------------------------------------------------------------


def load_error(text: str) -> ConfigFileError:
    with pytest.raises(ConfigFileError) as e:
        Config().load_text(text)
    return e.value


def test_file_error_report_format():
    e = load_error("port 7000\n# comment\n\n   foo bar  \n")
    assert (e.lineno, e.line, e.reason) == (4, "foo bar", "Bad directive or wrong number of "
                                                            "arguments")
    from pyredis import REDIS_VERSION
    assert str(e) == (f"\n*** FATAL CONFIG FILE ERROR (Redis {REDIS_VERSION}) ***\n"
                      "Reading the configuration file, at line 4\n"
                      ">>> 'foo bar'\nBad directive or wrong number of arguments")


@pytest.mark.parametrize("text, reason", [
    ("port 1 2", "wrong number of arguments"),
    ("port", "wrong number of arguments"),
    ("bind", "Bad directive or wrong number of arguments"),
    ("slaveof", "Bad directive or wrong number of arguments"),
    ('port "1', "Unbalanced quotes in configuration line"),
    ("maxclients abc", "argument couldn't be parsed into an integer"),
    ("maxclients 0", "argument must be between 1 and 4294967295 inclusive"),
    ("maxmemory-policy foo", "argument must be one of the following: volatile-lru, "
     "volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, "
     "allkeys-random, noeviction"),
    ("save a b", "Invalid save parameters"),
    ("save 10", "Invalid save parameters"),
    ("notify-keyspace-events Q", "Invalid event class character. Use 'g$lshzxeA'."),
    ("client-output-buffer-limit foo 1 2 3", "Unrecognized client limit class: the user "
     "specified an invalid one, or 'master' which has no buffer limits."),
    ("databases 0", "argument must be between 1 and 2147483647 inclusive"),
    ("appendonly foo", "argument must be 'yes' or 'no'"),
    ("logfile /nonexistent-dir/x.log", "Can't open the log file: No such file or directory"),
    ("list-max-ziplist-entries", "Bad directive or wrong number of arguments"),
])
def test_file_errors(text, reason):
    assert load_error(text).reason == reason


@pytest.mark.parametrize("text", ["loadmodule /x.so", "user default on nopass"])
def test_refused_directives_are_fatal(text):
    e = load_error(text)
    assert e.lineno == 1 and e.reason


def test_rename_command_lines():
    c = Config()
    c.load_text('rename-command CONFIG ""\nrename-command FLUSHALL wipe\nrename-command wipe gone\n')
    assert c.renamed_commands == [("CONFIG", ""), ("FLUSHALL", "wipe"), ("wipe", "gone")]


@pytest.mark.parametrize("text, reason", [
    ("rename-command nosuchcmd x", "No such command in rename-command"),
    ("rename-command get set", "Target command name already exists"),
    ('rename-command config ""\nrename-command config x', "No such command in rename-command"),
    ("rename-command get", "Bad directive or wrong number of arguments"),
])
def test_rename_command_errors(text, reason):
    assert load_error(text).reason == reason


def test_save_lines():
    c = Config()
    assert c.save == [(3600, 1), (300, 100), (60, 10000)]
    c.load_text("save 900 1\nsave 300 10\n")
    assert c.save == [(900, 1), (300, 10)]
    c.load_text('save ""')
    assert c.save == []
    c.load_text("save 1 2 3 4")
    assert c.save == [(1, 2), (3, 4)]
    c.load_text("save")
    assert c.save == []
    c.load_text("port 1")  # no save line: the current points stay
    assert c.save == []


def test_multi_argument_options():
    c = Config()
    c.load_text("bind 127.0.0.1 -::1\nclient-output-buffer-limit normal 1 2 3\n"
                "client-output-buffer-limit pubsub 4 5 6\noom-score-adj-values 1 2 3\n"
                "replicaof 10.1.1.1 6380\n")
    assert c.bind == "127.0.0.1 -::1"
    assert c.client_output_buffer_limit == {
        "normal": (1, 2, 3), "slave": (256 * 1024 ** 2, 64 * 1024 ** 2, 60), "pubsub": (4, 5, 6)}
    assert c.oom_score_adj_values == (1, 2, 3)
    assert c.replicaof == "10.1.1.1 6380"
    assert c.render("slaveof") == "10.1.1.1 6380"


def test_deprecated_options_are_ignored():
    c = Config()
    c.load_text("list-max-ziplist-entries 512\nlist-max-ziplist-value 64\n")


def test_quoted_values_and_crlf():
    c = Config()
    c.load_text('requirepass "a b\\x41"\r\nmasterauth \'it\\\'s\'\r\n')
    assert c.requirepass == "a bA" and c.masterauth == "it's"


def test_include(tmp_path):
    inner = tmp_path / "inner.conf"
    inner.write_text("maxclients 77\nhz 20\n")
    c = Config()
    c.load_text(f"hz 5\ninclude {inner}\ntimeout 3\n")
    assert (c.maxclients, c.hz, c.timeout) == (77, 20, 3)
    bad = tmp_path / "bad.conf"
    bad.write_text("hz 5\nhz x\n")
    e = load_error(f"port 1\ninclude {bad}")
    assert e.lineno == 2 and e.line == "hz x"  # the included file's own line
    with pytest.raises(IncludeError, match="can't open config file"):
        Config().load_text(f"include {tmp_path / 'missing.conf'}")


def test_startup_warnings_for_options_without_effect():
    c = Config()
    c.load_text("maxclients 5\ncluster-enabled yes\nsave \"\"\nactivedefrag no\n")
    assert len(c.warnings) == 1 and "'cluster-enabled'" in c.warnings[0]


# -- quoting and CONFIG REWRITE ---------------------------------------------------------------


@pytest.mark.parametrize("text", ["plain", "", "a b", 'q"uote', "back\\slash", "tab\there",
                                  "nl\nx", "é", "\x00\x7f", "it's"])
def test_quote_round_trips_through_split_args(text):
    assert split_args(quote(text).encode("utf-8", "surrogateescape")) == [
        text.encode("utf-8", "surrogateescape")]


def rewrite(tmp_path, old: str, changes: dict) -> str:
    path = tmp_path / "r.conf"
    path.write_text(old)
    c = Config()
    c.load_file(str(path))
    for name, value in changes.items():
        c.set(name, value)
    c.rewrite()
    return path.read_text()


def test_rewrite_in_place_and_appended(tmp_path):
    out = rewrite(tmp_path, "# top\nmaxclients 10\n\n#x\nhz 5\nhz 6\n",
                  {"maxclients": "20", "timeout": "7"})
    assert out.splitlines()[:5] == ["# top", "maxclients 20", "", "#x", "hz 6"]
    assert out.splitlines()[5] == "# Generated by CONFIG REWRITE"
    assert "timeout 7" in out.splitlines()[6:]
    assert out.count("hz ") == 1


def test_rewrite_aliases_and_defaults_in_file(tmp_path):
    out = rewrite(tmp_path, "slave-priority 5\nmaxclients 10000\n", {"replica-priority": "6"})
    lines = out.splitlines()
    assert lines[0] == "replica-priority 6"
    assert lines[1] == "maxclients 10000"  # at its default but named in the file: kept


def test_rewrite_save_points(tmp_path):
    out = rewrite(tmp_path, "save 1 1\n# between\nsave 2 2\n", {"save": "10 1 20 2 30 3"})
    assert out.splitlines()[:4] == ["save 10 1", "save 20 2", "save 30 3", "# between"]
    assert "save 2 2" not in out


def test_rewrite_without_file():
    with pytest.raises(ConfigError, match="running without a config file"):
        Config().rewrite()


def test_rewrite_result_loads_back(tmp_path):
    out_path = tmp_path / "r.conf"
    out_path.write_text("port 7000\n")
    c = Config()
    c.load_file(str(out_path))
    for name, value in (("requirepass", 'we"ird pass'), ("notify-keyspace-events", "Ex"),
                        ("client-output-buffer-limit", "normal 1 2 3"), ("save", ""),
                        ("maxmemory", "1gb"), ("oom-score-adj-values", "1 2 3"),
                        ("proc-title-template", "{title}")):
        c.set(name, value)
    c.rewrite()
    again = Config()
    again.load_file(str(out_path))
    for opt in OPTIONS.values():
        assert getattr(again, opt.attr) == getattr(c, opt.attr), opt.name
