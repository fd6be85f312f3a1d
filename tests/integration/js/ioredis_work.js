// Real work through ioredis against a server on 127.0.0.1:PORT, as a Node
// user would do it: pipelines, MULTI/EXEC with WATCH, pub/sub, scripts
// (when the last argument is "scripts"), blocking pops. Prints one JSON
// object of results for tests/integration/test_clients.py to check; exits
// non-zero on any error, and by itself after 30 s whatever happens.
"use strict";
const Redis = require("ioredis");

const port = Number(process.argv[2]);
const withScripts = process.argv[3] === "scripts";
const opts = { host: "127.0.0.1", port, maxRetriesPerRequest: 1, retryStrategy: () => null,
  enableOfflineQueue: true, lazyConnect: false };
const watchdog = setTimeout(() => { console.error("timeout"); process.exit(3); }, 30000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const r = new Redis(opts);
  const out = {};

  // Pipelines: many commands in one write; per-command errors stay per command.
  const pipe = r.pipeline();
  pipe.set("p:str", "v").incrby("p:n", 5).rpush("p:list", "a", "b", "c")
    .hset("p:hash", "f1", "1", "f2", "2").zadd("p:z", 1, "one", 2, "two")
    .lrange("p:list", 0, -1).hgetall("p:hash").zrange("p:z", 0, -1, "WITHSCORES")
    .incr("p:list").get("p:str");
  out.pipeline = (await pipe.exec()).map(([err, val]) => (err ? "ERR:" + err.message : val));
  const big = r.pipeline();
  for (let i = 0; i < 1000; i++) big.incr("p:counter");
  out.bigPipelineLast = (await big.exec())[999][1];

  // Transactions: MULTI/EXEC, and WATCH aborting on a concurrent write.
  out.multi = await r.multi().set("t:k", "1").incr("t:k").get("t:k").exec();
  const other = new Redis(opts);
  await r.watch("t:k");
  await other.set("t:k", "changed");
  out.watchAborted = await r.multi().set("t:k", "mine").exec();  // null when aborted
  out.afterWatch = await r.get("t:k");

  // Pub/sub: a subscriber connection in subscribe mode, patterns too.
  const sub = new Redis(opts);
  const received = [];
  sub.on("message", (ch, msg) => received.push(["message", ch, msg]));
  sub.on("pmessage", (pat, ch, msg) => received.push(["pmessage", pat, ch, msg]));
  out.subscribed = await sub.subscribe("chan", "other");
  await sub.psubscribe("news.*");
  out.published = [await r.publish("chan", "hello"), await r.publish("news.tech", "pyredis"),
    await r.publish("nobody", "x")];
  for (let i = 0; i < 100 && received.length < 2; i++) await sleep(10);
  out.received = received;
  out.numsub = await r.pubsub("NUMSUB", "chan");
  out.unsubscribed = await sub.unsubscribe("chan", "other");
  out.punsubscribed = await sub.punsubscribe("news.*");
  sub.disconnect();

  // Scripts: EVAL, EVALSHA through defineCommand (NOSCRIPT then load).
  if (withScripts) {
    out.eval = await r.eval("return redis.call('INCRBY', KEYS[1], ARGV[1])", 1, "s:k", 7);
    r.defineCommand("addTwo", { numberOfKeys: 1,
      lua: "return redis.call('INCRBY', KEYS[1], 2)" });
    await r.script("FLUSH");
    out.defined = [await r.addTwo("s:k"), await r.addTwo("s:k")];
  }

  // Blocking pops: served by a push from another connection; a timeout gives null.
  const blocker = new Redis(opts);
  const pending = blocker.blpop("b:q", 5);
  await sleep(100);
  await other.rpush("b:q", "job1");
  out.blpop = await pending;
  out.brpopTimeout = await blocker.brpop("b:none", 0.1);
  const zpending = blocker.bzpopmin("b:z", 5);
  await sleep(50);
  await other.zadd("b:z", 3, "m");
  out.bzpopmin = await zpending;

  out.dbsize = await r.dbsize();
  for (const c of [r, other, blocker]) c.disconnect();
  clearTimeout(watchdog);
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => { console.error(e && e.stack ? e.stack : String(e)); process.exit(1); });
