/**
 * Process-wide metrics in Prometheus text format (`GET /metrics`). Instruments are plain
 * synchronous objects so that any module (HTTP middleware, the WebSocket gateway) can update them
 * on its hot path without an Effect; `render` writes the exposition text.
 *
 * Owned here: HTTP request latency by route and status, WebSocket connections (the WS gateway
 * calls `wsConnections.inc()` / `.dec()`) and frames sent. Figures read at scrape time from the
 * projections and the journal (executions by status, queue depth, step durations) are rendered by
 * the admin handlers with `renderGauge` / `renderHistogram`.
 */

export type Labels = Readonly<Record<string, string>>

/** Seconds: 1 ms … 60 s. */
export const DEFAULT_BUCKETS: ReadonlyArray<number> = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60
]

const escapeLabel = (value: string) => value.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll("\"", "\\\"")

const labelText = (labels: Labels, extra?: Labels): string => {
  const entries = [...Object.entries(labels), ...Object.entries(extra ?? {})]
  return entries.length === 0 ? "" : `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`
}

const keyOf = (labels: Labels) => JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)))

const formatNumber = (n: number) => (Number.isFinite(n) ? String(n) : n > 0 ? "+Inf" : n < 0 ? "-Inf" : "NaN")

export interface Instrument {
  readonly name: string
  readonly render: () => string
}

export class Counter implements Instrument {
  private readonly values = new Map<string, { labels: Labels; value: number }>()
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const key = keyOf(labels)
    const current = this.values.get(key)
    if (current === undefined) this.values.set(key, { labels, value: by })
    else current.value += by
  }
  get(labels: Labels = {}): number {
    return this.values.get(keyOf(labels))?.value ?? 0
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`]
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${value}`)
    return lines.join("\n")
  }
}

export class Gauge implements Instrument {
  private readonly values = new Map<string, { labels: Labels; value: number }>()
  constructor(readonly name: string, readonly help: string) {}
  set(value: number, labels: Labels = {}): void {
    this.values.set(keyOf(labels), { labels, value })
  }
  inc(labels: Labels = {}, by = 1): void {
    this.set(this.get(labels) + by, labels)
  }
  dec(labels: Labels = {}, by = 1): void {
    this.set(this.get(labels) - by, labels)
  }
  get(labels: Labels = {}): number {
    return this.values.get(keyOf(labels))?.value ?? 0
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`]
    if (this.values.size === 0) lines.push(`${this.name} 0`)
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${value}`)
    return lines.join("\n")
  }
}

interface Series {
  readonly labels: Labels
  readonly counts: Array<number>
  sum: number
  count: number
}

export class Histogram implements Instrument {
  private readonly series = new Map<string, Series>()
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: ReadonlyArray<number> = DEFAULT_BUCKETS
  ) {}
  observe(value: number, labels: Labels = {}): void {
    const key = keyOf(labels)
    let series = this.series.get(key)
    if (series === undefined) {
      series = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 }
      this.series.set(key, series)
    }
    for (let i = 0; i < this.buckets.length; i++) {
      const bound = this.buckets[i]
      if (bound !== undefined && value <= bound) series.counts[i] = (series.counts[i] ?? 0) + 1
    }
    series.sum += value
    series.count += 1
  }
  count(labels: Labels = {}): number {
    return this.series.get(keyOf(labels))?.count ?? 0
  }
  render(): string {
    return renderHistogram(this.name, this.help, this.buckets, [...this.series.values()])
  }
}

/** A histogram's exposition text from precomputed cumulative bucket counts. */
export const renderHistogram = (
  name: string,
  help: string,
  buckets: ReadonlyArray<number>,
  series: ReadonlyArray<{ readonly labels: Labels; readonly counts: ReadonlyArray<number>; sum: number; count: number }>
): string => {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`]
  for (const s of series) {
    buckets.forEach((bound, i) => {
      lines.push(`${name}_bucket${labelText(s.labels, { le: formatNumber(bound) })} ${s.counts[i] ?? 0}`)
    })
    lines.push(`${name}_bucket${labelText(s.labels, { le: "+Inf" })} ${s.count}`)
    lines.push(`${name}_sum${labelText(s.labels)} ${s.sum}`)
    lines.push(`${name}_count${labelText(s.labels)} ${s.count}`)
  }
  return lines.join("\n")
}

/** A gauge's exposition text from values read at scrape time. */
export const renderGauge = (
  name: string,
  help: string,
  samples: ReadonlyArray<{ readonly labels: Labels; readonly value: number }>
): string =>
  [
    `# HELP ${name} ${help}`,
    `# TYPE ${name} gauge`,
    ...samples.map((s) => `${name}${labelText(s.labels)} ${formatNumber(s.value)}`)
  ].join("\n")

/** Cumulative bucket counts of `values` (for `renderHistogram`). */
export const bucketCounts = (buckets: ReadonlyArray<number>, values: ReadonlyArray<number>) =>
  buckets.map((bound) => values.filter((v) => v <= bound).length)

// ---------------------------------------------------------------------------------------------
// The process's instruments
// ---------------------------------------------------------------------------------------------

export const httpRequestDuration = new Histogram(
  "devteam_http_request_duration_seconds",
  "HTTP request latency by route template, method and status"
)

export const httpRequests = new Counter("devteam_http_requests_total", "HTTP requests by route, method and status")

/** Updated by the WebSocket gateway: `wsConnections.inc()` on open, `.dec()` on close. */
export const wsConnections = new Gauge("devteam_ws_connections", "Open WebSocket connections")

/** Updated by the WebSocket gateway for every frame written to a client. */
export const wsFramesSent = new Counter("devteam_ws_frames_sent_total", "WebSocket frames sent to clients")

const instruments: Array<Instrument> = [httpRequestDuration, httpRequests, wsConnections, wsFramesSent]

/** Adds an instrument to `render` (once per name). */
export const register = (instrument: Instrument): void => {
  if (!instruments.some((i) => i.name === instrument.name)) instruments.push(instrument)
}

/** Every registered instrument, in Prometheus text format (no trailing newline). */
export const render = (): string => instruments.map((i) => i.render()).join("\n")
