"""The Dockerfile, checked without a Docker engine.

The instructions are parsed and checked for what the image promises (slim
Python base, non-root user, /data volume, port, entry point). Then its build
and run steps are replayed on this machine: the build context is copied as
``.dockerignore`` filters it, the Dockerfile's own ``pip install`` line runs
in a fresh virtualenv, and the image's entry point script is run with
``--flags`` (and, like ``docker run IMAGE /conf``, with a config file as its
first argument); the ``pyredis-server`` it starts must answer PING.

The venv reuses the installed packages of the environment running the tests
(a virtualenv's or the interpreter's own, through a ``.pth`` file) so the
dependencies are not downloaded again; only the build backend is, as in
``docker build``.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import running_site_dirs
from pyredis.config import OPTIONS
from pyredis.testing import free_port

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"

_OFFLINE_HINTS = ("Failed to establish a new connection", "Temporary failure in name resolution",
                  "No matching distribution found", "Could not find a version that satisfies")


def parse_dockerfile(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined."""
    instructions = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, rest = current.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        current = ""
    return instructions


def one(instructions, keyword: str) -> str:
    found = [rest for kw, rest in instructions if kw == keyword]
    assert len(found) == 1, f"expected one {keyword}, found {found}"
    return found[0]


def ignore_patterns() -> list[str]:
    pats = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            pats.append(line.rstrip("/"))
    return pats


def ignored(rel: str, patterns: list[str]) -> bool:
    """Whether .dockerignore drops ``rel`` (a path or any of its parents)."""
    parts = rel.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        for pat in patterns:
            if fnmatch.fnmatchcase(prefix, pat):
                return True
            if pat.startswith("**/") and fnmatch.fnmatchcase(parts[i - 1], pat[3:]):
                return True
    return False


@pytest.fixture(scope="module")
def instructions():
    return parse_dockerfile(DOCKERFILE.read_text())


def test_image_shape(instructions):
    assert one(instructions, "FROM") == "python:3.11-slim"
    assert one(instructions, "USER") == "redis"
    assert any(kw == "RUN" and "useradd" in rest and " redis" in rest
               for kw, rest in instructions), "the redis user is never created"
    workdirs = [rest for kw, rest in instructions if kw == "WORKDIR"]
    assert workdirs[-1] == "/data"
    assert one(instructions, "VOLUME") in ("/data", '["/data"]')
    assert one(instructions, "EXPOSE") == "6379"
    assert json.loads(one(instructions, "ENTRYPOINT")) == ["docker-entrypoint.sh"]
    assert json.loads(one(instructions, "CMD")) == ["pyredis-server"]
    assert any(kw == "RUN" and "docker-entrypoint.sh /usr/local/bin/" in rest
               for kw, rest in instructions), "the entry point script is not installed"
    # USER comes after the install (pip runs as root) and before the entry point.
    kws = [kw for kw, _ in instructions]
    install = max(i for i, (kw, rest) in enumerate(instructions)
                  if kw == "RUN" and "pip install" in rest)
    assert install < kws.index("USER") < kws.index("ENTRYPOINT")


def test_entrypoint_defaults_are_real_options():
    text = (REPO / "docker-entrypoint.sh").read_text()
    defaults = "--bind 0.0.0.0 --protected-mode no"
    assert defaults in text
    for name in ("bind", "protected-mode"):
        assert name in OPTIONS, f"--{name} is not a pyredis option"


def test_dockerignore_keeps_what_pip_needs():
    pats = ignore_patterns()
    assert not any(p.startswith("!") for p in pats), "negations are not modelled here"
    for rel in ("pyproject.toml", "README.md", "pyredis/__init__.py", "pyredis/cli.py",
                "docker-entrypoint.sh"):
        assert not ignored(rel, pats), f".dockerignore drops {rel}"
    for rel in (".git/HEAD", "tests/conftest.py", "pyredis/__pycache__/x.pyc"):
        assert ignored(rel, pats), f".dockerignore keeps {rel}"


# -- replaying the build and run steps ---------------------------------------


def clean_env() -> dict:
    """This environment without anything that would import the checkout."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}




def copy_context(dest: Path) -> None:
    pats = ignore_patterns()
    for root, dirs, files in os.walk(REPO):
        rel_root = os.path.relpath(root, REPO)
        rel_root = "" if rel_root == "." else rel_root + "/"
        dirs[:] = [d for d in dirs if not ignored(rel_root + d, pats)]
        for f in files:
            rel = rel_root + f
            if not ignored(rel, pats):
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(os.path.join(root, f), target)


def _ping(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        return s.recv(64)


def wait_ping(proc: subprocess.Popen, port: int, timeout: float = 20.0) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace")
            pytest.fail(f"pyredis-server exited {proc.returncode}:\n{out}")
        try:
            return _ping(port)
        except OSError:
            time.sleep(0.05)
    pytest.fail("pyredis-server did not answer in time")


@pytest.fixture(scope="module")
def image(tmp_path_factory, instructions):
    """A venv standing for the built image: (bin dir, data dir)."""
    tmp = tmp_path_factory.mktemp("docker")
    copies = [rest.split() for kw, rest in instructions if kw == "COPY"]
    assert copies == [[".", "/tmp/pyredis-src"]], copies
    src = tmp / "src"
    copy_context(src)

    venv = tmp / "venv"
    # No pip inside: this interpreter's pip installs into the venv (--python).
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)],
                   check=True, timeout=60)
    bin_dir = venv / "bin"
    # The dependencies, already installed here, count as satisfied in the
    # venv: a .pth appends the running environment's site-packages to its
    # sys.path (after its own, so the pyredis installed below wins; the
    # directories' own .pth files, such as an editable install's hook, are
    # not run). pip sees the pyredis-server there too but leaves it alone,
    # as it is outside the venv.
    purelib = subprocess.run([str(bin_dir / "python"), "-c",
                              "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True, timeout=60).stdout
    with open(os.path.join(purelib.strip(), "running-env-site.pth"), "w") as f:
        f.write("".join(d + "\n" for d in running_site_dirs()))

    run = next(rest for kw, rest in instructions if kw == "RUN" and "pip install" in rest)
    step = next(s for s in run.split("&&") if "pip install" in s)
    argv = shlex.split(step)
    assert argv[:2] == ["pip", "install"] and "--no-cache-dir" in argv
    argv = [str(src) if a == "/tmp/pyredis-src" else a for a in argv[2:]]
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(bin_dir / "python"),
                           "install", "-q",
                           "--disable-pip-version-check", *argv],
                          capture_output=True, text=True, timeout=50, cwd=tmp, env=clean_env())
    if proc.returncode != 0:
        if any(h in proc.stdout + proc.stderr for h in _OFFLINE_HINTS):
            pytest.skip("no package index reachable for the build backend")
        pytest.fail(f"pip install failed:\n{proc.stdout}\n{proc.stderr}")

    where = subprocess.run([str(bin_dir / "python"), "-c",
                            "import pyredis; print(pyredis.__file__)"],
                           capture_output=True, text=True, check=True, timeout=30,
                           cwd=tmp, env=clean_env()).stdout
    assert where.startswith(str(venv)), f"venv imports pyredis from {where}"
    data = tmp / "data"
    data.mkdir()
    return bin_dir, data


def start(bin_dir: Path, data: Path, args: list[str]) -> subprocess.Popen:
    """``docker run IMAGE args...``: the entry point script with the venv's
    bin directory standing for the image's PATH."""
    env = clean_env()
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.Popen(["sh", str(REPO / "docker-entrypoint.sh"), *args], cwd=data, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    proc.stdout.close()


@pytest.mark.timeout(60)
def test_installed_server_runs_with_flags(image):
    bin_dir, data = image
    port = free_port()
    # Flags given later win over the entry point's defaults: stay on loopback here.
    proc = start(bin_dir, data, ["--bind", "127.0.0.1", "--port", str(port)])
    try:
        assert wait_ping(proc, port) == b"+PONG\r\n"
    finally:
        stop(proc)
    assert proc.returncode == 0


@pytest.mark.timeout(60)
def test_installed_server_takes_config_file_first(image):
    bin_dir, data = image
    port = free_port()
    conf = data / "redis.conf"
    conf.write_text(f"port {port}\nbind 127.0.0.1\nsave \"\"\n")
    proc = start(bin_dir, data, [str(conf)])
    try:
        assert wait_ping(proc, port) == b"+PONG\r\n"
    finally:
        stop(proc)
