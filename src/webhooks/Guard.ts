import * as dns from "node:dns"
import * as net from "node:net"

/** Where a webhook may not go unless WEBHOOK_ALLOW_PRIVATE is set: this machine and private networks. */
const blocked = new net.BlockList()
for (const [prefix, bits] of [
  ["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["127.0.0.0", 8], ["169.254.0.0", 16], ["172.16.0.0", 12],
  ["192.0.0.0", 24], ["192.168.0.0", 16], ["198.18.0.0", 15], ["224.0.0.0", 4], ["240.0.0.0", 4]
] as const) blocked.addSubnet(prefix, bits, "ipv4")
for (const [prefix, bits] of [["::", 128], ["::1", 128], ["fc00::", 7], ["fe80::", 10], ["ff00::", 8], ["64:ff9b::", 96]] as const) {
  blocked.addSubnet(prefix, bits, "ipv6")
}

export const isPrivateAddress = (address: string): boolean => {
  const family = net.isIP(address)
  if (family === 4) return blocked.check(address, "ipv4")
  if (family !== 6) return false
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  return mapped ? blocked.check(mapped[1]!, "ipv4") : blocked.check(address, "ipv6")
}

const hostOf = (url: URL) => url.hostname.replace(/^\[|\]$/g, "")

/** Why a webhook URL is refused before any lookup: not http(s), or a private literal address or name. */
export const refuseUrl = (raw: string, allowPrivate: boolean): string | undefined => {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return "webhook_url is not a valid URL"
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "webhook_url must be an http(s) URL"
  if (url.username !== "" || url.password !== "") return "webhook_url must not carry credentials"
  if (allowPrivate) return undefined
  const host = hostOf(url).toLowerCase()
  if (host === "localhost" || host.endsWith(".localhost") || isPrivateAddress(host)) {
    return "webhook_url points at a loopback or private address (set WEBHOOK_ALLOW_PRIVATE=true to allow it)"
  }
  return undefined
}

/**
 * A `lookup` for http.request that refuses names resolving to private addresses, so a public name
 * cannot be pointed at this machine after the URL was accepted.
 */
export const guardedLookup: net.LookupFunction = (hostname, options, callback) =>
  dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, "", 0)
    const list = addresses as unknown as Array<dns.LookupAddress>
    const refused = list.find((a) => isPrivateAddress(a.address))
    if (refused !== undefined || list.length === 0) {
      return callback(Object.assign(new Error(`${hostname} resolves to a private address`), { code: "EPRIVATE" }), "", 0)
    }
    if (options.all) return (callback as unknown as (e: null, a: Array<dns.LookupAddress>) => void)(null, list)
    return callback(null, list[0]!.address, list[0]!.family)
  })
