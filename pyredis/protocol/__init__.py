"""Sans-IO RESP: the request reader and the reply encoder. No sockets here."""

from .encoder import (EMPTY_ARRAY, NULL_ARRAY, OK, ONE, PONG, QUEUED, ZERO, Push, Raw,
                      Simple, Verbatim, encode, error_bytes, format_double)
from .inline import split_args
from .reader import ProtocolError, RequestReader

__all__ = [
    "EMPTY_ARRAY", "NULL_ARRAY", "OK", "ONE", "PONG", "QUEUED", "ZERO", "Push", "Raw",
    "Simple", "Verbatim", "encode", "error_bytes", "format_double", "split_args",
    "ProtocolError", "RequestReader",
]
