# pyredis-server: a Redis-compatible server in pure Python.
#
#   docker build -t pyredis .
#   docker run -d -p 6379:6379 -v pyredis-data:/data pyredis
#   docker run -d -p 6379:6379 -v $PWD/redis.conf:/etc/pyredis.conf pyredis /etc/pyredis.conf
#
# Arguments after the image name go to pyredis-server as with the official
# redis image: a config file path first and/or --flags (docker-entrypoint.sh).
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
RUN pip install --no-cache-dir /tmp/pyredis-src \
    && install -m 0755 /tmp/pyredis-src/docker-entrypoint.sh /usr/local/bin/ \
    && rm -rf /tmp/pyredis-src

WORKDIR /data
VOLUME /data
USER redis
EXPOSE 6379

ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["pyredis-server"]
