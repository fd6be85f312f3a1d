"""Every error string a client can see, in one place.

Texts follow real Redis (6.2, the reference our compat tests run against)
byte for byte. Handlers raise :class:`CommandError`; the executor turns it
into a RESP error reply. Constants hold the message without the leading '-'.
"""


class CommandError(Exception):
    """A command failed; ``args[0]`` is the full error line, e.g. 'ERR syntax error'."""

    __slots__ = ()

    @property
    def message(self) -> str:
        return self.args[0]


WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
SYNTAX = "ERR syntax error"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
NO_SUCH_KEY = "ERR no such key"
INDEX_OUT_OF_RANGE = "ERR index out of range"
OVERFLOW = "ERR increment or decrement would overflow"
INCR_NAN = "ERR increment would produce NaN or Infinity"
STRING_TOO_LONG = "ERR string exceeds maximum allowed size (512MB)"
BIT_OFFSET = "ERR bit offset is not an integer or out of range"
BIT_VALUE = "ERR bit is not an integer or out of range"
OFFSET_OUT_OF_RANGE = "ERR offset is out of range"
SAME_OBJECT = "ERR source and destination objects are the same"
DB_OUT_OF_RANGE = "ERR DB index is out of range"
INVALID_DB = "ERR invalid DB index"
NOAUTH = "NOAUTH Authentication required."
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
AUTH_NOT_CONFIGURED = (
    "ERR AUTH <password> called without any password configured for the "
    "default user. Are you sure your configuration is correct?"
)
OOM = "OOM command not allowed when used memory > 'maxmemory'."
READONLY = "READONLY You can't write against a read only replica."
LOADING = "LOADING Redis is loading the dataset in memory"
NOPROTO = "NOPROTO unsupported protocol version"
MULTI_NESTED = "ERR MULTI calls can not be nested"
PUBSUB_CONTEXT = (
    "ERR Can't execute '{}': only (P)SUBSCRIBE / (P)UNSUBSCRIBE / PING / QUIT "
    "are allowed in this context"
)
INVALID_CURSOR = "ERR invalid cursor"
TIMEOUT_NEGATIVE = "ERR timeout is negative"
LFU_NOT_SELECTED = (
    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please "
    "note that when switching between policies at runtime LRU and LFU data will take "
    "some time to adjust."
)
# Not Redis: OBJECT FREQ under an LFU policy, as pyredis keeps no access counters.
FREQ_NOT_TRACKED = "ERR access frequency is not tracked by this server"


def wrong_arity(name: str) -> str:
    return f"ERR wrong number of arguments for '{name}' command"


def invalid_expire(name: str) -> str:
    # Redis 6.2.14's text (SET EX, EXPIRE...): the bare command name, no quotes.
    return f"ERR invalid expire time in {name}"


def out_of_range(lo: int, hi: int) -> str:
    """getRangeLongFromObjectOrReply's error (e.g. MOVE's db index)."""
    return f"ERR value is out of range, value must between {lo} and {hi}"


def unknown_subcommand(sub: str, cmd: str) -> str:
    # Redis 6.2 text, with the command name upper-cased as in addReplySubcommandSyntaxError.
    return f"ERR Unknown subcommand or wrong number of arguments for '{sub}'. Try {cmd.upper()} HELP."


def unknown_command(args: list) -> str:
    """Redis 6.2's reply to an unknown command: its name, then the arguments
    quoted in backticks until 128 characters of them have been shown."""
    shown = ""
    for a in args[1:]:
        if len(shown) >= 128:
            break
        shown += "`%s`, " % a[: 128 - len(shown)].decode("utf-8", "replace")
    name = args[0].decode("utf-8", "replace")
    return f"ERR unknown command `{name}`, with args beginning with: {shown}"


def sanitize(message: str) -> str:
    """Error replies are one line: Redis turns CR and LF into spaces."""
    if "\r" in message or "\n" in message:
        return message.replace("\r", " ").replace("\n", " ")
    return message
