import { Effect } from "effect"
import { luaNow, type RedisConnection, type RedisUnavailable, script } from "./Redis.js"

/** The in-memory bucket's arithmetic, atomically, on Redis time: `{allowed, tokens left}`. */
const takeLua = `${luaNow}
local t = now()
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(bucket[1]) or burst
local at = tonumber(bucket[2]) or t
if t > at then tokens = math.min(burst, tokens + (t - at) / 1000 * rate) else t = at end
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(t))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return { allowed, tostring(tokens) }
`
const takeScript = script(takeLua)

/** Takes `cost` tokens from the bucket every instance shares for `key`. */
export const redisBucket = (redis: RedisConnection) =>
(key: string, rate: number, burst: number, cost: number): Effect.Effect<{ allowed: boolean; tokens: number }, RedisUnavailable> =>
  Effect.map(redis.call((c) => takeScript(c, [`${redis.prefix}rl:${key}`], [rate, burst, cost])), (reply) => {
    const [allowed, tokens] = reply as [number, string]
    return { allowed: allowed === 1, tokens: Number(tokens) }
  })
