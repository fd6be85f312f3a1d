# pyredis-server: a Redis-compatible server in pure Python.
#
#   docker build -t pyredis .
#   docker run -d -p 6379:6379 -v pyredis-data:/data pyredis
#   docker run -d -p 6379:6379 -v $PWD/redis.conf:/etc/pyredis.conf pyredis /etc/pyredis.conf
#
# Arguments after the image name replace CMD and go to pyredis-server, as
# with the official redis image: a config file path first, then --flags.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# The same uid/gid as the official redis image, so a data volume can move
# between the two.
RUN groupadd --system --gid 999 redis \
    && useradd --system --uid 999 --gid redis --home-dir /data --shell /usr/sbin/nologin redis \
    && mkdir /data && chown redis:redis /data

# The dependencies (hiredis, uvloop, zstandard) ship binary wheels: no
# compiler is needed. The source is not kept in the image.
COPY . /tmp/pyredis-src
RUN pip install --no-cache-dir /tmp/pyredis-src && rm -rf /tmp/pyredis-src

WORKDIR /data
VOLUME /data
USER redis
EXPOSE 6379

ENTRYPOINT ["pyredis-server"]
# Inside a container the published port is the access control: listen on
# every interface, without the loopback-only protected mode. Giving any
# arguments to `docker run` replaces these, so repeat them if you pass flags.
CMD ["--bind", "0.0.0.0", "--protected-mode", "no"]
