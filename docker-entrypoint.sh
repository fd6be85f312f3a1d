#!/bin/sh
# Entry point of the pyredis image, with the official redis image's conventions:
#   docker run IMAGE                      -> pyredis-server (container defaults)
#   docker run IMAGE --port 6380          -> pyredis-server with those flags
#   docker run IMAGE /etc/redis.conf ...  -> pyredis-server reading that file
#   docker run IMAGE sh                   -> any other command runs as given
set -e

case "$1" in
    -*|*.conf) set -- pyredis-server "$@" ;;
esac

if [ "$1" = "pyredis-server" ]; then
    shift
    case "$1" in
        ""|-*)
            # No config file: inside a container the published port is the
            # access control, so listen on every interface without the
            # loopback-only protected mode. Flags given after these win.
            set -- pyredis-server --bind 0.0.0.0 --protected-mode no "$@" ;;
        *)
            # A config file governs; flags after it still override it.
            set -- pyredis-server "$@" ;;
    esac
fi

exec "$@"
