/**
 * Egress of a sandbox: the `host:port` pairs a step may reach through the runner's proxy, and the
 * summary of the connections a step made (journaled with its artifact / verification result).
 */
import { Schema } from "effect"

/** One destination a sandbox may reach: a host name (or IP literal) and a TCP port. */
export class HostPort extends Schema.Class<HostPort>("HostPort")({
  /** Lower case; IPv6 literals without brackets. */
  host: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(253)),
  port: Schema.Int.pipe(Schema.between(1, 65_535))
}) {}

const hostPattern = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/
const ipv6Pattern = /^[0-9a-f:.]+$/

/**
 * Parses `host`, `host:port` or `[v6]:port` (default port `defaultPort`, 443 unless given).
 * Returns a reason when the text is not one.
 */
export const parseHostPort = (text: string, defaultPort = 443): HostPort | string => {
  const s = text.trim().toLowerCase()
  let host: string
  let portText: string | undefined
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s)
  if (v6 !== null) {
    host = v6[1] ?? ""
    portText = v6[2]
    if (!ipv6Pattern.test(host)) return `not an IPv6 address: ${JSON.stringify(text)}`
  } else {
    const colon = s.lastIndexOf(":")
    host = colon === -1 ? s : s.slice(0, colon)
    portText = colon === -1 ? undefined : s.slice(colon + 1)
    if (host.length > 253 || !hostPattern.test(host)) {
      return `not a host name: ${JSON.stringify(text)} (expected host or host:port)`
    }
  }
  const port = portText === undefined ? defaultPort : Number(portText)
  if (portText !== undefined && !/^\d{1,5}$/.test(portText)) return `not a port in ${JSON.stringify(text)}`
  if (!Number.isInteger(port) || port < 1 || port > 65_535) return `port out of range in ${JSON.stringify(text)}`
  return new HostPort({ host, port })
}

/** `host:port` (`[v6]:port` for IPv6 literals). */
export const formatHostPort = (hp: { readonly host: string; readonly port: number }): string =>
  hp.host.includes(":") ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`

/** Parses a comma-separated list of `host[:port]`; the reasons of the entries that are not. */
export const parseHostPortList = (
  text: string,
  defaultPort = 443
): { readonly hosts: ReadonlyArray<HostPort>; readonly errors: ReadonlyArray<string> } => {
  const hosts: Array<HostPort> = []
  const errors: Array<string> = []
  for (const entry of text.split(",").map((e) => e.trim()).filter((e) => e.length > 0)) {
    const parsed = parseHostPort(entry, defaultPort)
    if (typeof parsed === "string") errors.push(parsed)
    else hosts.push(parsed)
  }
  return { hosts, errors }
}

/** Distinct entries, in first-seen order. */
export const uniqueHostPorts = (hosts: ReadonlyArray<HostPort>): ReadonlyArray<HostPort> => {
  const seen = new Set<string>()
  return hosts.filter((h) => {
    const key = formatHostPort(h)
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/** One connection through the proxy (logged per connection; summarised per destination). */
export class EgressConnection extends Schema.Class<EgressConnection>("EgressConnection")({
  /** The step whose allow-list applied (`IMPLEMENT`, `VERIFY`, …). */
  step: Schema.String,
  /** `host:port` as the command asked for it. */
  target: Schema.String,
  /** `CONNECT` (a TLS tunnel) or `HTTP` (a plain-HTTP request proxied). */
  kind: Schema.Literal("CONNECT", "HTTP"),
  allowed: Schema.Boolean,
  /** Bytes from the sandbox to the destination, and back (HTTP: the bodies; CONNECT: everything tunnelled). */
  bytesUp: Schema.Int.pipe(Schema.nonNegative()),
  bytesDown: Schema.Int.pipe(Schema.nonNegative()),
  /** Milliseconds from the request to the connection's end. */
  duration: Schema.Number,
  /** Why an allowed connection failed (name not resolved, refused, …). */
  error: Schema.optional(Schema.String)
}) {}

/** The connections to one destination during one step. */
export class EgressTarget extends Schema.Class<EgressTarget>("EgressTarget")({
  target: Schema.String,
  allowed: Schema.Boolean,
  connections: Schema.Int.pipe(Schema.nonNegative()),
  /** Allowed connections that failed (resolution, refusal, reset). */
  failed: Schema.Int.pipe(Schema.nonNegative()),
  bytesUp: Schema.Int.pipe(Schema.nonNegative()),
  bytesDown: Schema.Int.pipe(Schema.nonNegative()),
  /** Milliseconds, summed over the connections. */
  duration: Schema.Number
}) {}

/** A step's egress: its allow-list and what its commands connected to (at most 50 destinations). */
export class EgressSummary extends Schema.Class<EgressSummary>("EgressSummary")({
  step: Schema.String,
  /** The allow-list that applied, as `host:port`. */
  allowList: Schema.Array(Schema.String),
  /** Whether the sandbox could not bypass the proxy (docker, network none); false for `local`. */
  enforced: Schema.Boolean,
  connections: Schema.Int.pipe(Schema.nonNegative()),
  denied: Schema.Int.pipe(Schema.nonNegative()),
  bytesUp: Schema.Int.pipe(Schema.nonNegative()),
  bytesDown: Schema.Int.pipe(Schema.nonNegative()),
  targets: Schema.Array(EgressTarget),
  /** Destinations beyond the first 50 (counted in the totals, not listed). */
  targetsOmitted: Schema.optional(Schema.Int.pipe(Schema.nonNegative()))
}) {}

export const maxSummaryTargets = 50

/** Folds connections into a summary. */
export const summarize = (
  step: string,
  allowList: ReadonlyArray<HostPort>,
  enforced: boolean,
  connections: ReadonlyArray<EgressConnection>
): EgressSummary => {
  const byTarget = new Map<string, {
    target: string
    allowed: boolean
    connections: number
    failed: number
    bytesUp: number
    bytesDown: number
    duration: number
  }>()
  let bytesUp = 0
  let bytesDown = 0
  let denied = 0
  for (const c of connections) {
    bytesUp += c.bytesUp
    bytesDown += c.bytesDown
    if (!c.allowed) denied += 1
    const key = `${c.allowed ? "+" : "-"}${c.target}`
    const t = byTarget.get(key) ??
      { target: c.target, allowed: c.allowed, connections: 0, failed: 0, bytesUp: 0, bytesDown: 0, duration: 0 }
    t.connections += 1
    if (c.allowed && c.error !== undefined) t.failed += 1
    t.bytesUp += c.bytesUp
    t.bytesDown += c.bytesDown
    t.duration += c.duration
    byTarget.set(key, t)
  }
  // Denied destinations first (what an operator looks for), then by traffic.
  const all = [...byTarget.values()].sort((a, b) =>
    a.allowed === b.allowed ? b.bytesUp + b.bytesDown - (a.bytesUp + a.bytesDown) : a.allowed ? 1 : -1
  )
  const listed = all.slice(0, maxSummaryTargets)
  return new EgressSummary({
    step,
    allowList: allowList.map(formatHostPort),
    enforced,
    connections: connections.length,
    denied,
    bytesUp,
    bytesDown,
    targets: listed.map((t) => new EgressTarget({ ...t, duration: Math.round(t.duration) })),
    ...(all.length > listed.length ? { targetsOmitted: all.length - listed.length } : {})
  })
}
