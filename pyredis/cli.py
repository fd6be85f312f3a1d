"""Command-line entry points (click). Builds a Config and a Server; no logic.

``pyredis-server [CONFIG_FILE] [--option value ...]`` follows redis-server:
the file is read first, then each ``--name value...`` flag is applied as if
it were one more line of the file.
"""

from __future__ import annotations

import logging
import os
import sys
import time

import click

from . import REDIS_VERSION, __version__
from .config import OPTIONS, Config, ConfigFileError

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


def flags_to_config_text(argv: list[str]) -> str:
    """``--port 6380 --save "" --bind a b`` -> config lines, as redis-server
    turns its command line into configuration text."""
    lines: list[str] = []
    for arg in argv:
        if arg.startswith("--") and len(arg) > 2:
            lines.append(arg[2:])
        elif lines:
            quoted = '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
            lines[-1] += " " + quoted
        else:
            raise click.UsageError(f"unexpected argument {arg!r} (options look like --port 6380)")
    return "\n".join(lines)


def build_config(config_file: str | None, flags: list[str]) -> Config:
    config = Config()
    text = ""
    if config_file:
        with open(config_file) as f:
            text = f.read()
        config.config_file = os.path.abspath(config_file)
    extra = flags_to_config_text(flags)
    config.load_text(text + "\n" + extra if extra else text)
    return config


_EPILOG = "Options: " + ", ".join(f"--{name}" for name in OPTIONS) + " (see README)."


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                 "help_option_names": ["-h", "--help"]},
               epilog=_EPILOG)
@click.argument("config_file", required=False)
@click.version_option(__version__, "-v", "--version",
                      message=f"pyredis %(version)s (Redis {REDIS_VERSION} compatible)")
@click.pass_context
def server_main(ctx: click.Context, config_file: str | None) -> None:
    """Run a pyredis server.

    CONFIG_FILE is a redis.conf-style file; any --name value flags are applied
    after it, as redis-server does (pyredis-server --port 6380 --requirepass x).
    """
    if config_file and config_file.startswith("--"):
        ctx.args.insert(0, config_file)
        config_file = None
    try:
        config = build_config(config_file, list(ctx.args))
    except ConfigFileError as e:
        click.echo(str(e), err=True)
        sys.exit(1)
    except OSError as e:
        click.echo(f"Fatal error, can't open config file '{config_file}': {e.strerror}", err=True)
        sys.exit(1)
    setup_logging(config)
    log = logging.getLogger("pyredis")
    log.info("pyredis %s (Redis %s compatible), pid=%d, just started", __version__,
             REDIS_VERSION, os.getpid())
    log.info("Running mode=standalone, port=%d.", config.port)
    from .server import run
    try:
        run(config)
    except OSError as e:
        log.warning("Could not create server TCP listening socket %s:%d: %s",
                    config.bind, config.port, e.strerror or e)
        sys.exit(1)


@click.group()
@click.version_option(__version__, "-v", "--version")
def main() -> None:
    """pyredis: a Redis-compatible server in pure Python."""


main.add_command(server_main, name="server")


if __name__ == "__main__":
    server_main()
