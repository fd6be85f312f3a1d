"""pyredis: a Redis-compatible server in pure Python."""

__version__ = "0.1.0"

# The Redis release whose command set and replies we follow. Clients read this
# from INFO/HELLO to decide which commands they may use.
REDIS_VERSION = "5.0.14"
