"""Packaging and the command-line tools as a user gets them: the wheel built
by ``python -m build`` installs into a fresh virtualenv with the console
scripts ``pyredis-server`` and ``pyredis`` (a click group) and the pytest
plugin entry point; every command's ``--help`` is complete; start-up errors
name the bad setting; ``pyredis bench`` measures a running server or one it
starts itself."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
import time
import venv
import zipfile

import click
import pytest
from click.testing import CliRunner

from conftest import running_site_dirs
from pyredis import __version__
from pyredis.cli import main, server_main
from pyredis.testing import ServerThread, free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# -- the wheel in a virtualenv ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """Build the wheel from a copy of the sources (so no build/ or
    egg-info lands in the work tree), offline with the installed setuptools."""
    pytest.importorskip("build", reason="the 'build' package (test extras) is needed")
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, name), src / name)
    shutil.copytree(os.path.join(ROOT, "pyredis"), src / "pyredis",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation",
                           "--outdir", str(out), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [whl] = list(out.glob("*.whl"))
    return whl




@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """A fresh virtualenv with the wheel installed (offline, ``--no-deps``);
    its bin directory.

    The dependencies come from the environment running the tests, through a
    ``.pth`` file naming its site-packages directories. A venv created with
    system site packages would not do: inside a virtualenv it sees the base
    interpreter's packages, not the virtualenv's. The ``.pth`` lines only
    append those directories to ``sys.path``, after the venv's own
    site-packages, and do not run the ``.pth`` files inside them, so the
    editable install of pyredis there (a ``.pth`` hook) stays inert and the
    wheel's copy is the one imported (test_installed_scripts checks it)."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, system_site_packages=False, with_pip=False)
    bindir = env_dir / "bin"
    # Installed before the .pth is written, so pip sees an empty venv and
    # never considers the running environment's pyredis-server as installed
    # there (to uninstall or to skip).
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(bindir / "python"),
                           "install", "--no-deps", "--no-index", "--force-reinstall", "-q",
                           str(wheel)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    purelib = subprocess.run([str(bindir / "python"), "-c",
                              "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, timeout=60, check=True)
    with open(os.path.join(purelib.stdout.strip(), "running-env-site.pth"), "w") as f:
        f.write("".join(d + "\n" for d in running_site_dirs()))
    return bindir


def run_in(bindir, *args, cwd, timeout=60, **kw):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout, **kw)


def test_wheel_contents(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        [ep] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entry_points = z.read(ep).decode()
    assert wheel.name == f"pyredis_server-{__version__}-py3-none-any.whl"
    for module in ("pyredis/cli.py", "pyredis/testing.py", "pyredis/pytest_plugin.py",
                   "pyredis/benchmark.py", "pyredis/server.py", "pyredis/__main__.py"):
        assert module in names
    assert not any(n.startswith("tests/") for n in names)
    assert "pyredis-server = pyredis.cli:server_main" in entry_points
    assert "pyredis = pyredis.cli:main" in entry_points
    assert "[pytest11]\npyredis = pyredis.pytest_plugin" in entry_points


def test_installed_scripts(installed, tmp_path):
    where = run_in(installed, installed / "python", "-c",
                   "import pyredis; print(pyredis.__file__)", cwd=tmp_path)
    assert where.stdout.startswith(str(installed.parent)), where  # the wheel's, not the tree's
    # The metadata too (entry points: the scripts, the pytest plugin) is the
    # wheel's, and the dependencies import from the running environment.
    meta = run_in(installed, installed / "python", "-c",
                  "import importlib.metadata as m, anycrc, click, hiredis, lupa, "
                  "sortedcontainers, zstandard; "
                  "print(m.distribution('pyredis-server').locate_file(''))", cwd=tmp_path)
    assert meta.returncode == 0, meta.stderr
    assert meta.stdout.startswith(str(installed.parent)), meta

    version = run_in(installed, "pyredis-server", "--version", cwd=tmp_path)
    assert version.returncode == 0
    assert version.stdout.startswith(f"pyredis {__version__} (Redis ")

    helped = run_in(installed, "pyredis", "--help", cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    for sub in ("server", "check-aof", "check-rdb", "bench"):
        assert f"\n  {sub} " in helped.stdout

    bad = run_in(installed, "pyredis-server", "--maxmemory", "lots", cwd=tmp_path)
    assert bad.returncode == 1
    assert ">>> 'maxmemory \"lots\"'" in bad.stderr and "memory value" in bad.stderr


def test_installed_server_runs_and_bench_measures_it(installed, tmp_path):
    port = free_port()
    proc = subprocess.Popen([str(installed / "pyredis-server"), "--port", str(port),
                             "--save", ""], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": ""})
    try:
        deadline = time.monotonic() + 20
        while True:
            res = run_in(installed, "pyredis", "bench", "-p", port, "-n", 200, "-c", 2,
                         "-t", "ping,set", "--csv", cwd=tmp_path)
            if res.returncode == 0 or time.monotonic() > deadline or proc.poll() is not None:
                break
            time.sleep(0.2)
        assert res.returncode == 0, res.stderr
        rows = list(csv.reader(io.StringIO(res.stdout)))
        assert [r[0] for r in rows] == ["test", "PING", "SET"]
    finally:
        proc.terminate()
        proc.wait(10)


def test_plugin_from_the_wheel(installed, tmp_path):
    (tmp_path / "test_user.py").write_text(
        "def test_it(pyredis_client):\n"
        "    import pyredis\n"
        "    assert pyredis_client.set('a', 1) and pyredis_client.dbsize() == 1\n"
        "    assert pyredis.__file__.startswith(%r)\n" % str(installed.parent))
    res = run_in(installed, installed / "python", "-m", "pytest", "-q", "-p",
                 "no:cacheprovider", "test_user.py", cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 passed" in res.stdout


# -- --help and start-up errors -------------------------------------------------------------------


def _all_commands():
    yield "pyredis", main
    for name, cmd in main.commands.items():
        yield f"pyredis {name}", cmd
    yield "pyredis-server", server_main


@pytest.mark.parametrize("name, cmd", list(_all_commands()), ids=lambda v: str(v))
def test_help_is_complete(name, cmd):
    """Every command says what it does and every option what it means, and
    the --help text shows each of them."""
    assert cmd.help and len(cmd.help.split()) >= 5, name
    ctx = click.Context(cmd, info_name=name)
    text = cmd.get_help(ctx)
    for param in cmd.params:
        if isinstance(param, click.Option):
            assert param.help, f"{name}: {param.opts} has no help"
            assert param.opts[-1] in text
    if isinstance(cmd, click.Group):
        for sub in cmd.commands:
            assert sub in text
    res = CliRunner().invoke(main, [*name.split()[1:], "--help"]) if name != "pyredis-server" \
        else CliRunner().invoke(server_main, ["--help"])
    assert res.exit_code == 0 and res.output.startswith("Usage:")


def test_group_lists_every_tool():
    assert {"server", "check-aof", "check-rdb", "bench"} <= set(main.commands)


@pytest.mark.parametrize("args, message", [
    (["server", "--port", "abc"], ">>> 'port \"abc\"'"),
    (["server", "--no-such-option", "1"], ">>> 'no-such-option \"1\"'"),
    (["bench", "-t", "set,nope"], "unknown test nope"),
    (["bench", "--server-config", "maxmemory=lots"],
     "invalid pyredis setting 'maxmemory' = 'lots': argument must be a memory value"),
    (["bench", "--server-config", "maxmemory"], "wants NAME=VALUE, got 'maxmemory'"),
])
def test_startup_errors_name_the_setting(args, message):
    res = subprocess.run([sys.executable, "-c", "from pyredis.cli import main; main()", *args],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode != 0
    assert message in res.stderr, res.stderr


# -- pyredis bench --------------------------------------------------------------------------------


def test_bench_against_a_running_server():
    with ServerThread() as srv:
        res = CliRunner().invoke(main, ["bench", "-p", str(srv.port), "-n", "300", "-c", "3",
                                        "-P", "4", "-r", "50", "-t", "set,get,incr,lpush,"
                                        "lrange_100,mset", "--csv"])
        assert res.exit_code == 0, res.output
        rows = list(csv.DictReader(io.StringIO(res.output)))
        assert [r["test"] for r in rows] == ["SET", "GET", "INCR", "LPUSH",
                                             "LRANGE_100 (first 100 elements)", "MSET (10 keys)"]
        for r in rows:
            assert float(r["rps"]) > 0
            assert 0 < float(r["min_latency_ms"]) <= float(r["p50_latency_ms"]) \
                <= float(r["max_latency_ms"])
        r = srv.client()
        assert 0 < r.dbsize() <= 50 + 50 + 1  # key:*, counter:*, mylist
        assert r.llen("mylist") == 100  # LRANGE_100 set it up after LPUSH


def test_bench_reports_error_replies_and_closed_ports():
    with ServerThread(requirepass="pw") as srv:
        res = CliRunner().invoke(main, ["bench", "-p", str(srv.port), "-n", "10", "-t", "get"])
        assert res.exit_code == 1
        assert "AUTH" in res.output or "NOAUTH" in res.output
        res = CliRunner().invoke(main, ["bench", "-p", str(srv.port), "-a", "pw", "-n", "10",
                                        "-c", "2", "-t", "get"])
        assert res.exit_code == 0 and res.output.startswith("GET: ")
    res = CliRunner().invoke(main, ["bench", "-p", str(free_port()), "-n", "10", "-t", "ping"])
    assert res.exit_code == 1 and "Could not connect to 127.0.0.1:" in res.output


def test_bench_starts_its_own_server():
    res = subprocess.run([sys.executable, "-c", "from pyredis.cli import main; main()",
                          "bench", "-n", "200", "-c", "2", "-t", "ping,incr",
                          "--server-config", "hz=50"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "Started pyredis-server on 127.0.0.1:" in res.stderr
    lines = res.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["PING", "INCR"]
    assert all("requests per second, p50=" in line for line in lines)
