import { Duration, Effect, Queue, type Scope } from "effect"
import { AppConfig } from "../AppConfig.js"
import { Bus } from "../realtime/Bus.js"
import { socketCounts } from "../realtime/SocketCounts.js"
import type { UserRegistryShape } from "../realtime/UserRegistry.js"
import { luaNow, makeOutage, type RedisConnection, type RedisUnavailable, script } from "./Redis.js"
import { held } from "../realtime/Held.js"

const HEARTBEAT = Duration.seconds(3)
/** A crashed instance's users count as connected at most this long. */
const TTL_MS = 10_000

/**
 * Presence of ARGV[4] ("tenant/user") across instances; each op answers with the other live
 * instances where it is present (connected, or in a grace period not yet over).
 * arrive: connected here. leave: in its grace period here until now + ARGV[5] ms. depart: gone
 * from here. settle: ARGV[5..] held it at departure; if one of them is still alive it tells offline itself.
 */
const presenceLua = `${luaNow}
local t = now()
local function holders()
  local found = {}
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], t, '+inf')) do
    if id ~= ARGV[2] then
      local v = redis.call('HGET', ARGV[1] .. 'users:' .. id, ARGV[4])
      if v == 'c' or (v and tonumber(v) > t) then found[#found + 1] = id end
    end
  end
  return found
end
local op = ARGV[3]
if op == 'arrive' then
  redis.call('HSET', KEYS[2], ARGV[4], 'c')
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
elseif op == 'leave' then
  redis.call('HSET', KEYS[2], ARGV[4], tostring(t + tonumber(ARGV[5])))
elseif op == 'depart' then
  if redis.call('HGET', KEYS[2], ARGV[4]) ~= 'c' then redis.call('HDEL', KEYS[2], ARGV[4]) end
else
  for i = 5, #ARGV do
    local lease = redis.call('ZSCORE', KEYS[1], ARGV[i])
    if lease and tonumber(lease) > t then return { ARGV[i] } end
  end
end
return holders()
`

/** For each of ARGV[3..]: 1 when it is connected on a live instance other than ARGV[2]. */
const elsewhereLua = `${luaNow}
local t = now()
local hashes = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], t, '+inf')) do
  if id ~= ARGV[2] then hashes[#hashes + 1] = ARGV[1] .. 'users:' .. id end
end
local out = {}
for i = 3, #ARGV do
  local found = 0
  for _, hash in ipairs(hashes) do
    if redis.call('HGET', hash, ARGV[i]) == 'c' then found = 1 break end
  end
  out[#out + 1] = found
end
return out
`

/**
 * Rewrites this instance's hashes from its own state (ARGV[4] entries of users, then sockets) and
 * renews its lease; answers Redis time and the instances whose lease ran out since ARGV[3] (the last beat).
 */
const heartbeatLua = `${luaNow}
local t = now()
local users = tonumber(ARGV[4])
redis.call('DEL', KEYS[2], KEYS[3])
for i = 5, 4 + users, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
for i = 5 + users, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
local lost = {}
if ARGV[3] ~= '' then lost = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[3], t) end
redis.call('ZADD', KEYS[1], t + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t - 3600000)
return { tostring(t), lost }
`

/**
 * One more socket of ARGV[3] here, ARGV[5] in all here with it: taken (1) unless that and the
 * user's sockets on the other live instances make more than ARGV[4].
 */
const claimLua = `${luaNow}
local t = now()
local total = tonumber(ARGV[5])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], t, '+inf')) do
  if id ~= ARGV[2] then total = total + (tonumber(redis.call('HGET', ARGV[1] .. 'sockets:' .. id, ARGV[3])) or 0) end
end
if total > tonumber(ARGV[4]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return 1
`

const presence = script(presenceLua)
const elsewhereScript = script(elsewhereLua)
const heartbeat = script(heartbeatLua)
const claim = script(claimLua)

/**
 * Per instance, a hash `users:<instance>` of `tenant/user` → `c` (connected here) or the time in ms
 * its grace period here ends, a hash `sockets:<instance>` of `tenant/user` → sockets here, and a
 * sorted set `instances` of leases. All are renewed by a heartbeat that rewrites the hashes from
 * this process's own state, so a crashed instance's users and sockets expire and a Redis outage
 * heals by itself; an instance whose lease ran out may have died between a commit and its publish,
 * so every socket here then catches up from the store. When Redis does not answer, this instance
 * decides alone. Scripts read other instances' hashes by name: fine on one Redis, not on Redis Cluster.
 */
export const redisUserRegistry = (redis: RedisConnection): Effect.Effect<UserRegistryShape, never, Scope.Scope | AppConfig | Bus> =>
  Effect.gen(function*() {
    const { presenceGrace } = yield* AppConfig
    const bus = yield* Bus
    const { call, instanceId, prefix } = redis
    const instances = `${prefix}instances`
    const own = `${prefix}users:${instanceId}`
    const ownSockets = `${prefix}sockets:${instanceId}`
    const state = new Map<string, string>()
    const sockets = socketCounts()
    const field = (tenantId: string, userId: string) => `${tenantId}/${userId}`
    const outage = yield* makeOutage("Redis user registry", "online checks and presence see only this instance")
    /** Redis did not answer: decide as if this were the only instance. */
    const alone = <B>(fallback: B) => <A>(effect: Effect.Effect<A, RedisUnavailable>): Effect.Effect<A | B> =>
      Effect.catchAll(effect, (e) => Effect.sync(() => (outage.failed(e.cause), fallback)))

    /** Per user who departed while present elsewhere: the instances that held them then. */
    const heldBy = new Map<string, ReadonlyArray<string>>()
    const run = (op: "arrive" | "leave" | "depart" | "settle", f: string, args: ReadonlyArray<string | number> = []) =>
      call((c) => presence(c, [instances, own], [prefix, instanceId, op, f, ...args])).pipe(Effect.map((ids) => ids as ReadonlyArray<string>))

    const arrive = (tenantId: string, userId: string) => {
      const f = field(tenantId, userId)
      state.set(f, "c")
      heldBy.delete(f)
      return run("arrive", f, [TTL_MS]).pipe(Effect.map((ids) => ids.length > 0), alone(false))
    }

    const leave = (tenantId: string, userId: string) => {
      const f = field(tenantId, userId)
      const grace = Duration.toMillis(presenceGrace)
      state.delete(f)
      return run("leave", f, [grace]).pipe(
        Effect.tap(() => Effect.sync(() => state.has(f) || state.set(f, String(Date.now() + grace)))),
        alone(undefined),
        Effect.asVoid
      )
    }

    const depart = (tenantId: string, userId: string) => {
      const f = field(tenantId, userId)
      if (state.get(f) !== "c") state.delete(f)
      return run("depart", f).pipe(
        Effect.map((ids) => {
          if (ids.length > 0) heldBy.set(f, ids)
          return ids.length > 0
        }),
        alone(false)
      )
    }

    const settle = (tenantId: string, userId: string) => {
      const f = field(tenantId, userId)
      const held = heldBy.get(f) ?? []
      heldBy.delete(f)
      return run("settle", f, held).pipe(Effect.map((ids) => ids.length > 0), alone(false))
    }

    const elsewhere = (tenantId: string, userIds: ReadonlyArray<string>) =>
      call((c) => elsewhereScript(c, [instances], [prefix, instanceId, ...userIds.map((u) => field(tenantId, u))])).pipe(
        Effect.map((flags): ReadonlySet<string> => new Set(userIds.filter((_, i) => (flags as Array<number>)[i] === 1))),
        alone<ReadonlySet<string>>(new Set())
      )

    /** Writes this instance's count of a user's sockets; the heartbeat repairs a write that was lost. */
    const writeSockets = (f: string, n: number) =>
      call((c) => (n > 0 ? c.hset(ownSockets, f, n) : c.hdel(ownSockets, f))).pipe(alone(undefined), Effect.asVoid)

    const claimSocket = (tenantId: string, userId: string, max: number) => {
      const f = field(tenantId, userId)
      return held(
        Effect.suspend(() => {
          const n = sockets.take(f, max)
          if (n === undefined) return Effect.succeed(false)
          return call((c) => claim(c, [instances, ownSockets], [prefix, instanceId, f, max, n, TTL_MS])).pipe(
            Effect.map((taken) => taken === 1),
            alone(true),
            Effect.tap((taken) => (taken ? Effect.void : Effect.sync(() => sockets.give(f))))
          )
        }),
        (taken) => (taken ? Effect.suspend(() => writeSockets(f, sockets.give(f))) : Effect.void)
      )
    }

    /** Redis time of the last heartbeat: the instances whose lease ran out since then died or lost Redis. */
    let lastBeat = ""
    const beat = Effect.suspend(() => {
      const users = [...state].flat()
      const counts = [...sockets.entries()].flat()
      return call((c) => heartbeat(c, [instances, own, ownSockets], [instanceId, TTL_MS, lastBeat, users.length, ...users, ...counts]))
    }).pipe(
      Effect.flatMap((reply) => {
        const [at, expired] = reply as [string, ReadonlyArray<string>]
        lastBeat = at
        outage.recovered()
        const lost = expired.filter((id) => id !== instanceId)
        return lost.length === 0 ? Effect.void : Effect.zipRight(
          Effect.logWarning("instance lease ran out; catching every socket up from the store").pipe(
            Effect.annotateLogs({ component: "redis", instances: lost.join(",") })
          ),
          bus.gap
        )
      }),
      alone(undefined),
      Effect.asVoid
    )

    // Added before the heartbeat starts, so it runs after the heartbeat stopped: leave no lease behind.
    yield* Effect.addFinalizer(() => call((c) => c.multi().zrem(instances, instanceId).del(own, ownSockets).exec()).pipe(Effect.ignore))
    // Right after a reconnect, then every HEARTBEAT.
    const kick = yield* Queue.sliding<void>(1)
    redis.client.on("ready", () => Queue.unsafeOffer(kick, undefined))
    yield* beat.pipe(
      Effect.zipRight(Effect.race(Queue.take(kick), Effect.sleep(HEARTBEAT))),
      Effect.forever,
      Effect.forkScoped
    )

    // One heartbeat more than a lease: by then a dead instance's lease has run out.
    return { arrive, leave, depart, settle, elsewhere, claimSocket, staleAfter: Duration.sum(Duration.millis(TTL_MS), HEARTBEAT) }
  })
