/**
 * Process-wide metrics for `GET /metrics`, on prom-client (the exposition format, label escaping and
 * histogram buckets are its). Instruments are plain synchronous objects so that any module (HTTP
 * middleware, the WebSocket gateway) can update them on its hot path without an Effect.
 *
 * Owned here: HTTP request latency by route and status, WebSocket connections, frames sent and
 * slow consumers closed, and the process's own figures (CPU, memory, event loop lag, GC: prom-client's
 * default metrics). Figures read at scrape time from the projections and the journal (executions by
 * status, queue depth, active entities, step durations) go into a registry of their own per scrape
 * (`exposition`), so concurrent scrapes never share them.
 */
import { Effect } from "effect"
import * as Prometheus from "prom-client"

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

/** Step durations: 10 ms … 30 min. */
const STEP_BUCKETS: ReadonlyArray<number> = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800]

/** Every instrument the process updates as it goes. */
export const registry = new Prometheus.Registry()
Prometheus.collectDefaultMetrics({ register: registry })

export const httpRequestDuration = new Prometheus.Histogram({
  name: "devteam_http_request_duration_seconds",
  help: "HTTP request latency by route template, method and status",
  labelNames: ["route", "method", "status"] as const,
  buckets: [...DEFAULT_BUCKETS],
  registers: [registry]
})

export const httpRequests = new Prometheus.Counter({
  name: "devteam_http_requests_total",
  help: "HTTP requests by route, method and status",
  labelNames: ["route", "method", "status"] as const,
  registers: [registry]
})

/** Updated by the WebSocket gateway: `wsConnections.inc()` on open, `.dec()` on close. */
export const wsConnections = new Prometheus.Gauge({
  name: "devteam_ws_connections",
  help: "Open WebSocket connections",
  registers: [registry]
})

/** Updated by the WebSocket gateway for every frame written to a client. */
export const wsFramesSent = new Prometheus.Counter({
  name: "devteam_ws_frames_sent_total",
  help: "WebSocket frames sent to clients",
  registers: [registry]
})

/** Connections closed with 1013 because their consumer could not keep up. */
export const wsSlowConsumerClosures = new Prometheus.Counter({
  name: "devteam_ws_slow_consumer_closures_total",
  help: "WebSocket connections closed with 1013 (consumer too slow)",
  registers: [registry]
})

/** What the service knows only at scrape time (projections, journal, sharding). */
export interface ScrapeFigures {
  readonly executions: ReadonlyArray<{ readonly status: string; readonly n: number }>
  readonly activeEntities: number
  readonly stepDurations: ReadonlyArray<{ readonly step: string; readonly seconds: number }>
}

const scrapeRegistry = (figures: ScrapeFigures): Prometheus.Registry => {
  const scrape = new Prometheus.Registry()
  const executions = new Prometheus.Gauge({
    name: "devteam_executions",
    help: "Executions by status (projection)",
    labelNames: ["status"] as const,
    registers: [scrape]
  })
  for (const { n, status } of figures.executions) executions.set({ status }, n)
  new Prometheus.Gauge({
    name: "devteam_queue_depth",
    help: "Executions waiting for a runner slot (QUEUED)",
    registers: [scrape]
  }).set(figures.executions.find((c) => c.status === "QUEUED")?.n ?? 0)
  new Prometheus.Gauge({
    name: "devteam_active_entities",
    help: "Project entities active on this node",
    registers: [scrape]
  }).set(figures.activeEntities)
  const steps = new Prometheus.Histogram({
    name: "devteam_step_duration_seconds",
    help: "Pipeline step durations over the last 24 hours (journal: StepStarted → next step event)",
    labelNames: ["step"] as const,
    buckets: [...STEP_BUCKETS],
    registers: [scrape]
  })
  for (const { seconds, step } of figures.stepDurations) steps.observe({ step }, seconds)
  return scrape
}

/** The exposition text (Prometheus text format 0.0.4) of every instrument and the scrape-time figures. */
export const exposition = (figures: ScrapeFigures): Effect.Effect<string> =>
  Effect.promise(() => Prometheus.Registry.merge([registry, scrapeRegistry(figures)]).metrics())
