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


class NotDurable(Exception):
    """Raised by a before-reply hook when writes made in this loop turn could
    not reach the disk as their fsync policy promised (``always``): the
    shell then sends none of the turn's replies, so no client is told OK
    for a write a crash could lose (the clients see their connection
    closed, and later writes get a MISCONF error)."""


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
EXEC_ABORTED = "EXECABORT Transaction discarded because of: {}"
PUBSUB_CONTEXT = (
    "ERR Can't execute '{}': only (P)SUBSCRIBE / (P)UNSUBSCRIBE / PING / QUIT / "
    "RESET are allowed in this context"
)
INVALID_CURSOR = "ERR invalid cursor"
TIMEOUT_NEGATIVE = "ERR timeout is negative"
LFU_NOT_SELECTED = (
    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please "
    "note that when switching between policies at runtime LRU and LFU data will take "
    "some time to adjust."
)
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
# HyperLogLog.
HLL_WRONGTYPE = "WRONGTYPE Key is not a valid HyperLogLog string value."
HLL_CORRUPT = "INVALIDOBJ Corrupted HLL object detected"
HLL_NO_KEY = "ERR The specified key does not exist"
HLL_NOT_SPARSE = "ERR HLL encoding is not sparse"
# Streams.
INVALID_STREAM_ID = "ERR Invalid stream ID specified as stream command argument"
XADD_ID_TOO_SMALL = ("ERR The ID specified in XADD is equal or smaller than the target "
                     "stream top item")
XADD_ID_ZERO = "ERR The ID specified in XADD must be greater than 0-0"
XADD_ARITY = "ERR wrong number of arguments for XADD"
STREAM_EXHAUSTED = ("ERR The stream has exhausted the last possible ID, unable to add "
                    "more items")
XSETID_TOO_SMALL = ("ERR The ID specified in XSETID is smaller than the target stream "
                    "top item")
MAXLEN_NEGATIVE = "ERR The MAXLEN argument must be >= 0."
LIMIT_NEGATIVE = "ERR The LIMIT argument must be >= 0."
MAXLEN_AND_MINID = ("ERR syntax error, MAXLEN and MINID options at the same time are not "
                    "compatible")
LIMIT_WITHOUT_STRATEGY = ("ERR syntax error, LIMIT cannot be used without specifying a "
                          "trimming strategy")
LIMIT_WITHOUT_APPROX = "ERR syntax error, LIMIT cannot be used without the special ~ option"
XTRIM_WITHOUT_STRATEGY = "ERR syntax error, XTRIM must be called with a trimming strategy"
INVALID_START_ID = "ERR invalid start ID for the interval"
INVALID_END_ID = "ERR invalid end ID for the interval"
TIMEOUT_NOT_INTEGER = "ERR timeout is not an integer or out of range"
XREAD_UNBALANCED = ("ERR Unbalanced XREAD list of streams: for each stream key an ID or "
                    "'$' must be specified.")
XREAD_GROUP_OPTION = ("ERR The GROUP option is only supported by XREADGROUP. You called "
                      "XREAD instead.")
XREAD_NOACK_OPTION = ("ERR The NOACK option is only supported by XREADGROUP. You called "
                      "XREAD instead.")
XREADGROUP_NO_GROUP = "ERR Missing GROUP option for XREADGROUP"
XREAD_GT_ID = ("ERR The > ID can be specified only when calling XREADGROUP using the "
               "GROUP <group> <consumer> option.")
XREADGROUP_DOLLAR_ID = (
    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the "
    "history of this consumer by specifying a proper ID, or use the > ID to get new "
    "messages. The $ ID would just return an empty result set.")
NOGROUP_BLOCKED = "NOGROUP the consumer group this client was blocked on no longer exists"
BUSYGROUP = "BUSYGROUP Consumer Group name already exists"
XGROUP_NEEDS_KEY = (
    "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may "
    "want to use the MKSTREAM option to create an empty stream automatically.")
XCLAIM_MIN_IDLE = "ERR Invalid min-idle-time argument for XCLAIM"
XCLAIM_IDLE = "ERR Invalid IDLE option argument for XCLAIM"
XCLAIM_TIME = "ERR Invalid TIME option argument for XCLAIM"
XCLAIM_RETRYCOUNT = "ERR Invalid RETRYCOUNT option argument for XCLAIM"
XAUTOCLAIM_MIN_IDLE = "ERR Invalid min-idle-time argument for XAUTOCLAIM"
XAUTOCLAIM_COUNT = "ERR COUNT must be > 0"


# Sorted sets.
ZADD_XX_NX = "ERR XX and NX options at the same time are not compatible"
ZADD_GT_LT_NX = "ERR GT, LT, and/or NX options at the same time are not compatible"
ZADD_INCR_PAIR = "ERR INCR option supports a single increment-element pair"
ZADD_NAN = "ERR resulting score is not a number (NaN)"
ZRANGE_NOT_FLOAT = "ERR min or max is not a float"
ZRANGE_NOT_LEX = "ERR min or max not valid string range item"
ZRANGE_LIMIT_RANK = ("ERR syntax error, LIMIT is only supported in combination with either "
                     "BYSCORE or BYLEX")
ZRANGE_WITHSCORES_LEX = "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
WEIGHT_NOT_FLOAT = "ERR weight value is not a float"
# Geo.
GEO_UNIT = "ERR unsupported unit provided. please use m, km, ft, mi"
GEO_NEED_RADIUS = "ERR need numeric radius"
GEO_RADIUS_NEGATIVE = "ERR radius cannot be negative"
GEO_NEED_WIDTH = "ERR need numeric width"
GEO_NEED_HEIGHT = "ERR need numeric height"
GEO_BOX_NEGATIVE = "ERR height or width cannot be negative"
GEO_NO_MEMBER = "ERR could not decode requested zset member"
GEO_COUNT = "ERR COUNT must be > 0"
GEO_ANY_COUNT = "ERR the ANY argument requires COUNT argument"
GEO_STORE_WITH = ("ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH "
                  "and WITHCOORDS options")


def zsetop_no_keys(name: str) -> str:
    """ZUNIONSTORE & co. with numkeys < 1 (the command name in lower case)."""
    return f"ERR at least 1 input key is needed for {name}"


def geo_invalid_pair(lon: float, lat: float) -> str:
    return "ERR invalid longitude,latitude pair %f,%f" % (lon, lat)


def geo_need_from(name: str) -> str:
    return f"ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"


def geo_need_by(name: str) -> str:
    return f"ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"


# Server administration: SWAPDB, SHUTDOWN, MONITOR, CONFIG, CLIENT, COMMAND, DEBUG.
INVALID_FIRST_DB = "ERR invalid first DB index"
INVALID_SECOND_DB = "ERR invalid second DB index"
SHUTDOWN_FAILED = "ERR Errors trying to SHUTDOWN. Check logs."
MONITOR_DENY_BLOCKING = "ERR MONITOR isn't allowed for DENY BLOCKING client"
NO_CONFIG_FILE = "ERR The server is running without a config file"
NO_SUCH_CLIENT = "ERR No such client"
INVALID_CLIENT_ID = "ERR Invalid client ID"
CLIENT_NAME_CHARS = "ERR Client names cannot contain spaces, newlines or special characters."
GETKEYS_INVALID_COMMAND = "ERR Invalid command specified"
GETKEYS_ARITY = "ERR Invalid number of arguments specified for command"
GETKEYS_INVALID_ARGS = "ERR Invalid arguments specified for command"
GETKEYS_NO_KEYS = "ERR The command has no key arguments"


def unknown_client_type(name: str) -> str:
    return f"ERR Unknown client type '{name}'"


def wrong_arity(name: str) -> str:
    return f"ERR wrong number of arguments for '{name}' command"


def invalid_expire(name: str) -> str:
    # Redis 6.2.14's text (SET EX, EXPIRE...): the bare command name, no quotes.
    return f"ERR invalid expire time in {name}"


def out_of_range(lo: int, hi: int) -> str:
    """getRangeLongFromObjectOrReply's error (e.g. MOVE's db index)."""
    return f"ERR value is out of range, value must between {lo} and {hi}"


def unknown_subcommand(sub: str, cmd: str) -> str:
    # Redis 6.2 quotes the subcommand with %s: a NUL ends it.
    sub = sub.split("\x00", 1)[0]
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


def _text(b: bytes) -> str:
    # Raw bytes in an error text (error_bytes restores them). Redis formats
    # these with %s, so a NUL ends the name there.
    return b.split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")


def nogroup_xreadgroup(key: bytes, group: bytes) -> str:
    return "NOGROUP No such key '%s' or consumer group '%s' in XREADGROUP with GROUP option" % (
        _text(key), _text(group))


def nogroup_key(key: bytes, group: bytes) -> str:
    """XCLAIM/XPENDING/XAUTOCLAIM without the key or the group."""
    return "NOGROUP No such key '%s' or consumer group '%s'" % (_text(key), _text(group))


def nogroup_for_key(group: bytes, key: bytes) -> str:
    """XGROUP/XINFO naming a group the stream does not have."""
    return "NOGROUP No such consumer group '%s' for key name '%s'" % (_text(group), _text(key))


def xclaim_option(opt: bytes) -> str:
    return "ERR Unrecognized XCLAIM option '%s'" % _text(opt)


def sanitize(message: str) -> str:
    """Error replies are one line: Redis turns CR and LF into spaces."""
    if "\r" in message or "\n" in message:
        return message.replace("\r", " ").replace("\n", " ")
    return message

# -- append-only file
AOF_REWRITE_IN_PROGRESS = "ERR Background append only file rewriting already in progress"
AOF_REWRITE_FAILED = "ERR Can't execute an AOF background rewriting. Please check the server logs for more information."

# -- SORT
SORT_NOT_DOUBLE = "ERR One or more scores can't be converted into double"
# Limits and admin surface (eviction.py, commands/admin.py).
LRU_NOT_SELECTED = (
    "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when "
    "switching between policies at runtime LRU and LFU data will take some time to adjust."
)
# Not Redis: OBJECT IDLETIME while no LRU policy is selected (pyredis keeps
# access times only for the LRU policies, see eviction.py).
IDLETIME_NOT_TRACKED = (
    "ERR idle time is not tracked: select an LRU maxmemory-policy to track it"
)
CLIENT_PAUSE_TIMEOUT = "ERR timeout is not an integer or out of range"
PROTECTED_MODE_DENIED = (
    "-DENIED Redis is running in protected mode because protected mode is enabled, no bind "
    "address was specified, no authentication password is requested to clients. In this mode "
    "connections are only accepted from the loopback interface. If you want to connect from "
    "external computers to Redis you may adopt one of the following solutions: 1) Just "
    "disable protected mode sending the command 'CONFIG SET protected-mode no' from the "
    "loopback interface by connecting to Redis from the same host the server is running, "
    "however MAKE SURE Redis is not publicly accessible from internet if you do so. Use "
    "CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the "
    "protected mode by editing the Redis configuration file, and setting the protected mode "
    "option to 'no', and then restarting the server. 3) If you started the server manually "
    "just for testing, restart it with the '--protected-mode no' option. 4) Setup a bind "
    "address or an authentication password. NOTE: You only need to do one of the above "
    "things in order for the server to start accepting connections from the outside."
)

# -- RDB persistence (SAVE, BGSAVE, DUMP/RESTORE, DEBUG RELOAD)
BGSAVE_IN_PROGRESS = "ERR Background save already in progress"
BGSAVE_OTHER_CHILD = ("ERR Another child process is active (AOF?): can't BGSAVE right now. "
                      "Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.")
BUSYKEY = "BUSYKEY Target key name already exists."
DUMP_PAYLOAD_INVALID = "ERR DUMP payload version or checksum are wrong"
BAD_DATA_FORMAT = "ERR Bad data format"
INVALID_TTL = "ERR Invalid TTL value, must be >= 0"
INVALID_IDLETIME = "ERR Invalid IDLETIME value, must be >= 0"
INVALID_FREQ = "ERR Invalid FREQ value, must be >= 0 and <= 255"
DEBUG_RELOAD_OPTIONS = "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options."
RDB_LOAD_FAILED = "ERR Error trying to load the RDB dump"
MISCONF = ("MISCONF Redis is configured to save RDB snapshots, but it is currently not able to "
           "persist on disk. Commands that may modify the data set are disabled, because this "
           "instance is configured to report errors during writes if RDB snapshotting fails "
           "(stop-writes-on-bgsave-error option). Please check the Redis logs for details about "
           "the RDB error.")
# Redis's text when the AOF cannot be written (writeCommandsGetDiskErrorMessage);
# the argument is strerror, e.g. "No space left on device".
MISCONF_AOF = "MISCONF Errors writing to the AOF file: {}"
# The same refusal for the global log (pyredis's own, in Redis's words).
MISCONF_GLOBAL_LOG = "MISCONF Errors writing to the global log: {}"


# Scripting (EVAL, EVALSHA, SCRIPT).
NOSCRIPT = "NOSCRIPT No matching script. Please use EVAL."
EVAL_NUMKEYS_NEGATIVE = "ERR Number of keys can't be negative"
EVAL_NUMKEYS_TOO_BIG = "ERR Number of keys can't be greater than number of args"
LUA_COMPILE = "ERR Error compiling script (new function): {}"
LUA_RUNTIME = "ERR Error running script (call to f_{}): {}"
BUSY_SCRIPT = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
NOTBUSY = "NOTBUSY No scripts in execution right now."
UNKILLABLE = ("UNKILLABLE Sorry the script already executed write commands against the dataset. "
              "You can either wait the script termination or kill the server in a hard way using "
              "the SHUTDOWN NOSAVE command.")
LUA_WRITE_AFTER_RANDOM = ("Write commands not allowed after non deterministic commands. Call "
                          "redis.replicate_commands() at the start of your script in order to "
                          "switch to single commands replication mode.")
SCRIPT_FLUSH_MODE = "ERR SCRIPT FLUSH only support SYNC|ASYNC option"
SCRIPT_DEBUG_MODE = "ERR Use SCRIPT DEBUG YES/SYNC/NO"
# Not Redis: pyredis has no Lua debugger (SCRIPT DEBUG YES/SYNC).
SCRIPT_NO_DEBUGGER = "ERR the Lua debugger is not supported by this server"

# Classic replication, master side (Redis 6.2's replication.c texts).
NOREPLICAS = "NOREPLICAS Not enough good replicas to write."
NOMASTERLINK = "NOMASTERLINK Can't SYNC while not connected with my master"
WAIT_ON_REPLICA = (
    "ERR WAIT cannot be used with replica instances. Please also note that since Redis "
    "4.0 if a replica is configured to be writable (which is not the default) writes to "
    "replicas are just local and are not propagated."
)
REPLCONF_UNKNOWN = "ERR Unrecognized REPLCONF option: {}"

# Classic replication, replica side (Redis 6.2's texts; READONLY is above).
MASTERDOWN = ("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set "
              "to 'no'.")
REPLICAOF_FROM_REPLICA = "ERR Command is not valid when client is a replica."
UNBLOCKED_TO_REPLICA = ("UNBLOCKED force unblock from blocking operation, instance state "
                        "changed (master -> replica?)")
# Global replication.
SWAPDB_GLOBAL = "ERR SWAPDB is not supported while global replication is on"
# Loading a dataset behind global replication's back (keys without
# versions, or versions that no longer match their values).
LOAD_GLOBAL = "ERR {} is not supported while global replication is on"
