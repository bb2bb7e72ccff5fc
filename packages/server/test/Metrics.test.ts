/**
 * The /metrics exposition (prom-client), read back through a strict parser: families, types, label
 * escaping, histogram series, and the scrape-time figures in a registry of their own per scrape.
 */
import * as Metrics from "@devteam/server/Metrics"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { parseExposition, sampleOf } from "./fixtures/Exposition.js"

const figures: Metrics.ScrapeFigures = {
  executions: [{ status: "COMPLETED", n: 3 }, { status: "QUEUED", n: 2 }],
  activeEntities: 4,
  stepDurations: [{ step: "IMPLEMENT", seconds: 12 }, { step: "IMPLEMENT", seconds: 0.2 }, {
    step: "VERIFY",
    seconds: 3
  }]
}

describe("Metrics", () => {
  it.effect("the exposition parses: every family typed, label values escaped, histograms well formed", () =>
    Effect.gen(function*() {
      // a route label that needs escaping (backslash, quote, newline)
      const odd = { route: "/a\\b\"c\nd", method: "GET", status: "200" }
      Metrics.httpRequestDuration.observe(odd, 0.003)
      Metrics.httpRequestDuration.observe(odd, 2)
      Metrics.httpRequests.inc(odd)
      Metrics.wsConnections.inc()
      Metrics.wsFramesSent.inc()
      const families = parseExposition(yield* Metrics.exposition(figures))

      const types = Object.fromEntries([...families.values()].map((f) => [f.name, f.type]))
      assert.deepInclude(types, {
        devteam_http_request_duration_seconds: "histogram",
        devteam_http_requests_total: "counter",
        devteam_ws_connections: "gauge",
        devteam_ws_frames_sent_total: "counter",
        devteam_ws_slow_consumer_closures_total: "counter",
        devteam_executions: "gauge",
        devteam_queue_depth: "gauge",
        devteam_active_entities: "gauge",
        devteam_step_duration_seconds: "histogram",
        process_cpu_user_seconds_total: "counter"
      })
      const latency = "devteam_http_request_duration_seconds"
      assert.strictEqual(sampleOf(families, latency, `${latency}_count`, odd).value, 2)
      assert.strictEqual(sampleOf(families, latency, `${latency}_bucket`, { ...odd, le: "0.005" }).value, 1)
      assert.strictEqual(sampleOf(families, latency, `${latency}_bucket`, { ...odd, le: "+Inf" }).value, 2)
      assert.strictEqual(sampleOf(families, latency, `${latency}_sum`, odd).value, 2.003)
      assert.strictEqual(sampleOf(families, "devteam_http_requests_total", "devteam_http_requests_total", odd).value, 1)
      assert.isAtLeast(sampleOf(families, "devteam_ws_connections", "devteam_ws_connections").value, 1)

      assert.strictEqual(
        sampleOf(families, "devteam_executions", "devteam_executions", { status: "COMPLETED" }).value,
        3
      )
      assert.strictEqual(sampleOf(families, "devteam_queue_depth", "devteam_queue_depth").value, 2)
      assert.strictEqual(sampleOf(families, "devteam_active_entities", "devteam_active_entities").value, 4)
      const steps = "devteam_step_duration_seconds"
      assert.strictEqual(sampleOf(families, steps, `${steps}_count`, { step: "IMPLEMENT" }).value, 2)
      assert.strictEqual(sampleOf(families, steps, `${steps}_bucket`, { step: "IMPLEMENT", le: "0.25" }).value, 1)
      assert.strictEqual(sampleOf(families, steps, `${steps}_sum`, { step: "VERIFY" }).value, 3)
    }))

  it.effect("scrape-time figures belong to their scrape: concurrent scrapes see their own", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Effect.all([
        Metrics.exposition({ ...figures, activeEntities: 1 }),
        Metrics.exposition({ executions: [], activeEntities: 2, stepDurations: [] })
      ], { concurrency: 2 })
      const first = parseExposition(a)
      const second = parseExposition(b)
      assert.strictEqual(sampleOf(first, "devteam_active_entities", "devteam_active_entities").value, 1)
      assert.strictEqual(sampleOf(second, "devteam_active_entities", "devteam_active_entities").value, 2)
      assert.strictEqual(sampleOf(second, "devteam_queue_depth", "devteam_queue_depth").value, 0)
      assert.deepStrictEqual(second.get("devteam_executions")?.samples, [])
      assert.deepStrictEqual(second.get("devteam_step_duration_seconds")?.samples, [])
    }))
})
