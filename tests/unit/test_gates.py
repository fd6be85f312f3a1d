"""Gates: server-wide ones send every command through the executor's gate
path; a gate installed for some commands only (Core.set_gate with
``commands``) refuses just those, everywhere they can run (directly, queued
in MULTI, from a script), and leaves the other commands' path alone."""

from __future__ import annotations

from pyredis.core import Core
from pyredis.executor import call


def _refuse_with(text):
    return lambda client, cmd, args: text


def test_a_gate_for_some_commands_refuses_only_those():
    core = Core()
    c = core.new_client()
    core.set_gate(_refuse_with("ERR no swapping here"), "test", commands=("swapdb",))
    assert not c.slowpath
    assert call(c, [b"SWAPDB", b"0", b"1"]) == b"-ERR no swapping here\r\n"
    assert call(c, [b"swapdb", b"0", b"1"]) == b"-ERR no swapping here\r\n"
    assert call(c, [b"SET", b"k", b"v"]) == b"+OK\r\n"
    assert core.commands["swapdb"].rejected_calls == 2
    assert core.commands["swapdb"].calls == 0
    assert core.commands["set"].gate is None
    core.set_gate(None, "test", commands=("swapdb",))
    assert core.commands["swapdb"].gate is None
    assert call(c, [b"SWAPDB", b"0", b"1"]) == b"+OK\r\n"


def test_gates_for_one_command_chain_with_each_other_and_with_server_wide_ones():
    core = Core()
    c = core.new_client()
    seen = []

    def note(client, cmd, args):
        seen.append(cmd.name)

    core.set_gate(note, "note", commands=("swapdb", "debug"))
    core.set_gate(_refuse_with("ERR second"), "second", commands=("swapdb",))
    core.set_gate(note, "wide")
    assert c.slowpath
    assert call(c, [b"SWAPDB", b"0", b"1"]) == b"-ERR second\r\n"
    # The server-wide gate first, then the command's chain in order.
    assert seen == ["swapdb", "swapdb"]
    core.set_gate(None, "second", commands=())
    assert call(c, [b"SWAPDB", b"0", b"1"]) == b"+OK\r\n"


def test_a_command_gate_refuses_at_queue_time_in_multi_and_in_scripts():
    core = Core()
    c = core.new_client()
    core.set_gate(_refuse_with("ERR no swapping here"), "test", commands=("swapdb",))
    assert call(c, [b"MULTI"]) == b"+OK\r\n"
    assert call(c, [b"SWAPDB", b"0", b"1"]) == b"-ERR no swapping here\r\n"
    assert call(c, [b"SET", b"k", b"v"]) == b"+QUEUED\r\n"
    assert call(c, [b"EXEC"]).startswith(b"-EXECABORT")
    reply = call(c, [b"EVAL", b"return redis.pcall('SWAPDB', 0, 1)", b"0"])
    assert b"no swapping here" in reply
    assert call(c, [b"EVAL", b"return redis.call('SET', 'k', 'v')", b"0"]) == b"+OK\r\n"
