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
# Redis 6.2's checkStringLength (APPEND, SETRANGE), against proto-max-bulk-len.
STRING_EXCEEDS_BULK_LEN = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
MSET_ARITY = "ERR wrong number of arguments for MSET"
BITPOS_BIT = "ERR The bit argument must be 1 or 0."
BITOP_NOT_ARITY = "ERR BITOP NOT must be called with a single source key."
BITFIELD_TYPE = (
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not "
    "supported but i64 is."
)
BITFIELD_OVERFLOW = "ERR Invalid OVERFLOW type specified"
BITFIELD_RO_GET_ONLY = "ERR BITFIELD_RO only supports the GET subcommand"
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
EXEC_WITHOUT_MULTI = "ERR EXEC without MULTI"
DISCARD_WITHOUT_MULTI = "ERR DISCARD without MULTI"
WATCH_IN_MULTI = "ERR WATCH inside MULTI is not allowed"
EXECABORT = "EXECABORT Transaction discarded because of previous errors."
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
# Lists and hashes.
TIMEOUT_NOT_FLOAT = "ERR timeout is not a float or out of range"
MUST_BE_POSITIVE = "ERR value is out of range, must be positive"
VALUE_OUT_OF_RANGE = "ERR value is out of range"
HASH_NOT_INTEGER = "ERR hash value is not an integer"
HASH_NOT_FLOAT = "ERR hash value is not a float"
NAN_OR_INFINITY = "ERR value is NaN or Infinity"
LPOS_RANK_ZERO = ("ERR RANK can't be zero: use 1 to start from the first match, "
                  "2 from the second, ...")
LPOS_COUNT_NEGATIVE = "ERR COUNT can't be negative"
LPOS_MAXLEN_NEGATIVE = "ERR MAXLEN can't be negative"


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
    quoted in backticks until 128 bytes of them have been shown. Redis prints
    them as C strings (each ends at a NUL) and sends the bytes as they are
    (kept here through surrogateescape; error_bytes restores them)."""
    shown = b""
    for a in args[1:]:
        if len(shown) >= 128:
            break
        shown += b"`%b`, " % a[: 128 - len(shown)].split(b"\0", 1)[0]
    name = args[0].split(b"\0", 1)[0]
    return "ERR unknown command `%s`, with args beginning with: %s" % (
        name.decode("utf-8", "surrogateescape"), shown.decode("utf-8", "surrogateescape"))


def sanitize(message: str) -> str:
    """Error replies are one line: Redis turns CR and LF into spaces."""
    if "\r" in message or "\n" in message:
        return message.replace("\r", " ").replace("\n", " ")
    return message
