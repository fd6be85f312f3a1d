"""Command-line entry points (click). Builds a Config and a Server; no logic.

``pyredis-server [CONFIG_FILE] [--option value ...] [-]`` follows
redis-server: the file is read first, then standard input if the last
argument is ``-``, then every ``--name value...`` flag as one more line of
the same text. Line numbers in error reports count the flags the way
redis-server does (the flags start on the line after the file's last one,
and on line 2 without a file).
"""

from __future__ import annotations

import logging
import os
import sys
import time

import click

from . import REDIS_VERSION, __version__
from .config import OPTIONS, Config, ConfigFileError, IncludeError
from .protocol.inline import quote

_LEVEL_CHARS = {logging.DEBUG: ".", logging.INFO: "*", logging.WARNING: "#", logging.ERROR: "#"}
_LOGLEVELS = {"debug": logging.DEBUG, "verbose": logging.DEBUG, "notice": logging.INFO,
              "warning": logging.WARNING}


class RedisLogFormatter(logging.Formatter):
    """``pid:M 21 Nov 2026 14:18:37.123 * message`` like redis-server."""

    def format(self, record: logging.LogRecord) -> str:
        t = time.localtime(record.created)
        stamp = time.strftime("%d %b %Y %H:%M:%S", t) + ".%03d" % int(record.msecs)
        return f"{os.getpid()}:M {stamp} {_LEVEL_CHARS.get(record.levelno, '*')} {record.getMessage()}"


def setup_logging(config: Config) -> None:
    handler = (logging.FileHandler(config.logfile) if config.logfile
               else logging.StreamHandler(sys.stdout))
    handler.setFormatter(RedisLogFormatter())
    log = logging.getLogger("pyredis")
    log.handlers[:] = [handler]
    log.setLevel(_LOGLEVELS.get(config.loglevel, logging.INFO))
    log.propagate = False
    # CONFIG SET loglevel acts on the running process.
    config.on_change("loglevel", lambda v: log.setLevel(_LOGLEVELS.get(v, logging.INFO)))


def flags_to_config_text(argv: list[str]) -> str:
    """``--port 6380 --save "" --bind a b`` -> config lines, as redis-server
    turns its command line into configuration text."""
    lines: list[str] = []
    for arg in argv:
        if arg.startswith("--"):
            lines.append(arg[2:])
        elif lines:
            lines[-1] += " " + quote(arg.encode("utf-8", "surrogateescape"))
        else:
            raise click.UsageError(f"unexpected argument {arg!r} (options look like --port 6380)")
    return "\n".join(lines)


def build_config(config_file: str | None, flags: list[str], stdin_text: str = "",
                 chdir: bool = False) -> Config:
    """The configuration from a file (may be None), standard input's text
    and command-line flags, in that order. With ``chdir`` a ``dir`` line
    changes the process's directory as it is read, as in redis-server, so
    later relative paths (logfile, pidfile, include) are inside it. Raises
    ConfigFileError, IncludeError or OSError (the file cannot be read)."""
    config = Config()
    config.chdir = chdir
    text = ""
    if config_file:
        with open(config_file) as f:
            text = f.read()
        config.config_file = os.path.abspath(config_file)
    if stdin_text:
        text += "\n" + stdin_text
    extra = flags_to_config_text(flags)
    if extra:
        text += "\n" + extra
    config.load_text(text)
    return config


def _options_help() -> str:
    """Every option with its default and meaning, for --help (from OPTIONS)."""
    lines = ["\b", "Options (as --name value flags or config file lines):"]
    for opt in OPTIONS.values():
        default = opt.render(opt.default)
        default = f'"{default}"' if default == "" or " " in default else default
        immutable = "" if opt.mutable else " [start-up only]"
        lines.append(f"  --{opt.name} (default {default}){immutable}")
        lines.append(f"      {opt.doc}")
    return "\n".join(lines)


def _daemonize() -> None:
    """Detach like redis-server's daemonize: fork, new session, standard
    streams on /dev/null. The parent exits at once with status 0."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    fd = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(fd, std)
    if fd > 2:
        os.close(fd)


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                 "help_option_names": ["-h", "--help"],
                                 "max_content_width": 100},
               epilog=_options_help())
@click.argument("config_file", required=False)
@click.version_option(__version__, "-v", "--version",
                      message=f"pyredis %(version)s (Redis {REDIS_VERSION} compatible)")
@click.pass_context
def server_main(ctx: click.Context, config_file: str | None) -> None:
    """Run a pyredis server.

    CONFIG_FILE is a redis.conf-style file ("-" reads it from standard
    input); any --name value flags are applied after it, as redis-server
    does: pyredis-server /etc/redis.conf --port 6380 --save "". A "-" after
    the flags reads more configuration from standard input.
    """
    args = list(ctx.args)
    if config_file and config_file.startswith("--"):
        args.insert(0, config_file)
        config_file = None
    stdin_text = ""
    if config_file == "-":
        config_file = None
        stdin_text = sys.stdin.read()
    elif args and args[-1] == "-":
        args.pop()
        stdin_text = sys.stdin.read()
    try:
        config = build_config(config_file, args, stdin_text, chdir=True)
    except ConfigFileError as e:
        click.echo(str(e), err=True)
        sys.exit(1)
    except IncludeError as e:
        click.echo(e.reason, err=True)
        sys.exit(1)
    except OSError as e:
        click.echo(f"Fatal error, can't open config file '{config_file}': {e.strerror}", err=True)
        sys.exit(1)
    if config.daemonize:
        _daemonize()
    try:
        setup_logging(config)
    except OSError as e:
        click.echo(f"Can't open the log file: {e.strerror}", err=True)
        sys.exit(1)
    log = logging.getLogger("pyredis")
    log.info("pyredis %s (Redis %s compatible), pid=%d, just started", __version__,
             REDIS_VERSION, os.getpid())
    if config.config_file:
        log.info("Configuration loaded from %s", config.config_file)
    else:
        log.warning("Warning: no config file specified, using the default config. In order to "
                    "specify a config file use pyredis-server /path/to/redis.conf")
    for warning in config.warnings:
        log.warning("WARNING %s", warning)
    log.info("Running mode=standalone, port=%d.", config.port)
    from .server import run
    try:
        run(config)
    except OSError as e:
        log.warning("Could not create server TCP listening socket %s:%d: %s",
                    config.bind, config.port, e.strerror or e)
        sys.exit(1)


def _bench_tests() -> tuple:
    from .benchmark import TESTS
    return TESTS


def _bench_default() -> str:
    from .benchmark import DEFAULT_TESTS
    return DEFAULT_TESTS


@click.group()
@click.version_option(__version__, "-v", "--version")
def main() -> None:
    """pyredis: a Redis-compatible server in pure Python, and its tools.

    `pyredis server` runs the server (as `pyredis-server`); the other
    commands work on its files or measure it. `pyredis COMMAND --help`
    gives each command's arguments and options."""


main.add_command(server_main, name="server")


@main.command("bench", context_settings={"max_content_width": 100},
              short_help="Measure requests/s and latency, like redis-benchmark.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Server address.")
@click.option("-p", "--port", type=click.IntRange(1, 65535), default=None,
              help="Server port. Without it a pyredis-server is started for the run on a "
                   "free loopback port, and stopped after it.")
@click.option("-a", "--password", default="", help="AUTH with this password first.")
@click.option("--dbnum", type=click.IntRange(0), default=0, show_default=True,
              help="SELECT this database first.")
@click.option("-c", "--clients", type=click.IntRange(1, 10000), default=50, show_default=True,
              help="Parallel connections.")
@click.option("-n", "--requests", type=click.IntRange(1), default=100000, show_default=True,
              help="Requests per test.")
@click.option("-P", "--pipeline", type=click.IntRange(1, 100000), default=1, show_default=True,
              help="Requests sent at once on a connection before reading the replies.")
@click.option("-d", "--data-size", type=click.IntRange(1), default=3, show_default=True,
              help="Bytes in each value written.")
@click.option("-r", "--keyspace", type=click.IntRange(0), default=0, show_default=True,
              help="Draw keys at random among this many (0: the same key every time).")
@click.option("-t", "--tests", default=None, metavar="LIST",
              help="Comma-separated tests among: " + ", ".join(_bench_tests()) +
                   ". Default: " + _bench_default() + ".")
@click.option("--csv", is_flag=True, help="CSV output with redis-benchmark's columns.")
@click.option("--server-config", multiple=True, metavar="NAME=VALUE",
              help="A setting for the server started when --port is not given (repeatable).")
def bench_main(host, port, password, dbnum, clients, requests, pipeline, data_size, keyspace,
               tests, csv, server_config) -> None:
    """Measure requests per second and latency against a server, like
    redis-benchmark -q (or --csv): each test sends REQUESTS commands over
    CLIENTS connections, PIPELINE at a time. The load generator is Python
    (asyncio, hiredis) in one process, so on a fast server it is the limit:
    use redis-benchmark for numbers to publish."""
    from . import benchmark
    names = [t.strip().lower() for t in (tests or benchmark.DEFAULT_TESTS).split(",") if t.strip()]
    unknown = [t for t in names if t not in benchmark.TESTS]
    if unknown or not names:
        raise click.BadParameter(f"unknown test {', '.join(unknown) or '(none)'}; choose among "
                                 + ", ".join(benchmark.TESTS), param_hint="'-t' / '--tests'")
    server = None
    if port is None:
        from .testing import InvalidSetting, ServerProcess, ServerStartError
        settings = {}
        for item in server_config:
            name, sep, value = item.partition("=")
            if not sep:
                raise click.BadParameter(f"wants NAME=VALUE, got {item!r}",
                                         param_hint="'--server-config'")
            settings[name] = value
        try:
            server = ServerProcess(settings).start()
        except (InvalidSetting, ServerStartError) as e:
            raise click.ClickException(str(e))
        host, port = server.host, server.port
        password = password or server.password
        if not csv:
            click.echo(f"Started pyredis-server on {host}:{port} for this run", err=True)
    try:
        for name in names:
            try:
                [res] = benchmark.run([name], host, port, clients=clients, requests=requests,
                                      pipeline=pipeline, data_size=data_size,
                                      keyspace=keyspace, password=password, dbnum=dbnum)
            except OSError as e:
                raise click.ClickException(
                    f"Could not connect to {host}:{port}: {e.strerror or e}")
            if csv:
                if name == names[0]:
                    click.echo(benchmark.CSV_HEADER)
                click.echo(benchmark.csv_line(res))
            else:
                click.echo(benchmark.quiet_line(res))
            if res.errors:
                raise click.ClickException(
                    f"{res.errors} error replies in {benchmark.label(name)}: {res.first_error}")
    finally:
        if server is not None:
            server.stop()


def _read_with_progress(path: str, label: str) -> bytes:
    """The whole file, read in chunks behind a progress bar (on a terminal)."""
    size = os.path.getsize(path)
    parts = []
    with open(path, "rb") as f, click.progressbar(length=size, label=label,
                                                  file=sys.stderr) as bar:
        while True:
            chunk = f.read(1 << 22)
            if not chunk:
                break
            parts.append(chunk)
            bar.update(len(chunk))
    return b"".join(parts)


@main.command("check-aof")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--fix", is_flag=True, help="Truncate the file after its last whole request.")
@click.option("--yes", "-y", is_flag=True, help="With --fix: do not ask for confirmation.")
def check_aof_main(path: str, fix: bool, yes: bool) -> None:
    """Verify an append-only file, as redis-check-aof does: report the
    offset up to which it is valid (ok_up_to) and the first problem after
    it. Exit status 0 when the file is valid (or was fixed), 1 otherwise."""
    from .persistence.aof import check_data
    data = _read_with_progress(path, "Reading the AOF")
    with click.progressbar(length=len(data), label="Checking", file=sys.stderr) as bar:
        done = [0]

        def progress(offset: int) -> None:
            bar.update(offset - done[0])
            done[0] = offset

        res = check_data(data, progress)
        bar.update(len(data) - done[0])
    if res.error is not None:
        click.echo("0x%16x: %s" % (res.at, res.error))
    line = data.count(b"\n", 0, res.at) + 1
    click.echo(f"AOF analyzed: size={res.size}, ok_up_to={res.ok_up_to}, "
               f"ok_up_to_line={line}, diff={res.diff}")
    if res.ok:
        click.echo("AOF is valid")
        return
    if not fix:
        click.echo("AOF is not valid. Use the --fix option to try fixing it.")
        sys.exit(1)
    click.echo(f"This will shrink the AOF from {res.size} bytes, with {res.diff} bytes, "
               f"to {res.ok_up_to} bytes")
    if not yes and not click.confirm("Continue?", default=False):
        click.echo("Aborted")
        sys.exit(1)
    os.truncate(path, res.ok_up_to)
    click.echo("Successfully truncated AOF")


@main.command("check-rdb")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def check_rdb_main(path: str) -> None:
    """Verify an RDB file (or the RDB preamble of an AOF): every record and
    the checksum. Reports the first bad offset; exit status 1 then."""
    from .persistence import rdb
    data = _read_with_progress(path, "Reading the RDB")
    with click.progressbar(length=len(data), label="Checking", file=sys.stderr) as bar:
        done = [0]

        def progress(pos: int, total: int, keys: int) -> None:
            bar.update(pos - done[0])
            done[0] = pos

        try:
            snap = rdb.parse(data, progress=progress, skip_expired=False)
        except rdb.RDBError as e:
            click.echo(f"--- RDB ERROR DETECTED ---\n[offset {e.offset}] {e}")
            click.echo("[additional info] While doing: read-object-value")
            sys.exit(1)
        bar.update(len(data) - done[0])
    click.echo(f"[offset 0] Checking RDB file {path}")
    click.echo(f"[offset 9] RDB version {snap.version}")
    for name, value in snap.aux.items():
        click.echo(f"[info] AUX FIELD {name.decode('utf-8', 'replace')} = "
                   f"'{value.decode('utf-8', 'replace')}'")
    click.echo(f"[info] {snap.keys} keys read")
    click.echo("\\o/ RDB looks OK! \\o/")


if __name__ == "__main__":
    server_main()
