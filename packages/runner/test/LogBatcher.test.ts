import type { LogLine } from "@devteam/domain/JournalEvent"
import * as LogBatcher from "@devteam/runner/LogBatcher"
import * as Redaction from "@devteam/runtime/Redaction"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"

interface Delivery {
  readonly at: number
  readonly lines: ReadonlyArray<LogLine>
}

const recordingSink = (delay = 0) => {
  const deliveries: Array<Delivery> = []
  const sink = (lines: ReadonlyArray<LogLine>) =>
    Effect.gen(function*() {
      if (delay > 0) yield* Effect.sleep(delay)
      deliveries.push({ at: Date.now(), lines })
    })
  return { deliveries, sink }
}

const redactor = Redaction.make(["hunter2-secret-value"])

const messages = (deliveries: ReadonlyArray<Delivery>) => deliveries.flatMap((d) => d.lines.map((l) => l.message))

describe("LogBatcher", () => {
  it.live("delivers every line in order, ≤ 200 per batch, at most every ~100 ms while output flows", () =>
    Effect.gen(function*() {
      const { deliveries, sink } = recordingSink()
      yield* Effect.scoped(Effect.gen(function*() {
        const batcher = yield* LogBatcher.make({ sink, redact: redactor.redact })
        // 1,000 lines over ~600 ms in small bursts, then a burst of 500 at once.
        for (let burst = 0; burst < 20; burst++) {
          for (let i = 0; i < 25; i++) yield* batcher.log("info", `line ${burst * 25 + i}`)
          yield* Effect.sleep("30 millis")
        }
        for (let i = 500; i < 1000; i++) yield* batcher.log("info", `line ${i}`)
      }))
      const all = messages(deliveries)
      assert.deepStrictEqual(all, Array.from({ length: 1000 }, (_, i) => `line ${i}`))
      assert.isTrue(deliveries.every((d) => d.lines.length >= 1 && d.lines.length <= 200))
      // Not one call per line: the 500 lines of the first 600 ms came in a handful of flushes.
      const timedFlushes = deliveries.filter((d) => d.lines.length < 200)
      assert.isBelow(deliveries.length, 20)
      for (let i = 1; i < timedFlushes.length - 1; i++) {
        const gap = (timedFlushes[i]?.at ?? 0) - (timedFlushes[i - 1]?.at ?? 0)
        assert.isAtLeast(gap, 80, `flushes ${i - 1} and ${i} were ${gap} ms apart`)
      }
    }))

  it.live("a full batch (200 lines) is flushed at once, without waiting for the interval", () =>
    Effect.gen(function*() {
      const { deliveries, sink } = recordingSink()
      yield* Effect.scoped(Effect.gen(function*() {
        const batcher = yield* LogBatcher.make({ sink, redact: redactor.redact, interval: "10 seconds" })
        yield* batcher.log("info", "first")
        yield* Effect.sleep("50 millis")
        const started = Date.now()
        for (let i = 0; i < 450; i++) yield* batcher.log("info", `l${i}`)
        for (let i = 0; i < 100 && messages(deliveries).length < 400; i++) yield* Effect.sleep("5 millis")
        assert.isAtLeast(messages(deliveries).length, 400)
        assert.isBelow(Date.now() - started, 2000)
      }))
      assert.strictEqual(messages(deliveries).length, 451)
      // The first interval starts with the batcher: the first line waits, full batches do not, the rest goes at close.
      assert.deepStrictEqual(deliveries.map((d) => d.lines.length), [200, 200, 51])
    }))

  it.live("a step shorter than the interval sends nothing on its own: takeRest hands its lines over", () =>
    Effect.gen(function*() {
      const { deliveries, sink } = recordingSink()
      const rest = yield* Effect.scoped(Effect.gen(function*() {
        const batcher = yield* LogBatcher.make({ sink, redact: redactor.redact })
        yield* batcher.log("info", "SELECT: 1.1 First task")
        yield* Effect.sleep("20 millis")
        yield* batcher.log("info", "and one more")
        return yield* batcher.takeRest
      }))
      // nothing was sent, not even when the scope closed: the caller journals them
      assert.deepStrictEqual(deliveries, [])
      assert.deepStrictEqual(rest.map((l) => l.message), ["SELECT: 1.1 First task", "and one more"])
    }))

  it.live("takeRest after a long step: what was due went out on time, full batches first, at most one batch is handed over", () =>
    Effect.gen(function*() {
      const { deliveries, sink } = recordingSink()
      const rest = yield* Effect.scoped(Effect.gen(function*() {
        const batcher = yield* LogBatcher.make({ sink, redact: redactor.redact, interval: "50 millis" })
        yield* batcher.log("info", "early")
        yield* Effect.sleep("120 millis")
        const offer = yield* Effect.forkDaemon(Effect.forEach(
          Array.from({ length: 450 }, (_, i) => `late ${i}`),
          (m) => batcher.log("info", m),
          { discard: true }
        ))
        yield* offer.await
        return yield* batcher.takeRest
      }))
      assert.deepStrictEqual(messages(deliveries)[0], "early")
      assert.isAtMost(rest.length, 200)
      assert.isAbove(rest.length, 0)
      // every line once, in order: the sent ones, then the handed-over ones
      assert.deepStrictEqual(
        [...messages(deliveries), ...rest.map((l) => l.message)],
        ["early", ...Array.from({ length: 450 }, (_, i) => `late ${i}`)]
      )
    }))

  it.live("the producer never waits on a slow sink; the rest is flushed when the scope closes", () =>
    Effect.gen(function*() {
      const { deliveries, sink } = recordingSink(150)
      let offerTime = 0
      yield* Effect.scoped(Effect.gen(function*() {
        const batcher = yield* LogBatcher.make({ sink, redact: redactor.redact })
        yield* batcher.log("info", "warm up")
        yield* Effect.sleep("120 millis") // the first flush is now in the slow sink
        const started = performance.now()
        for (let i = 0; i < 2000; i++) yield* batcher.log("info", `fast ${i}`)
        offerTime = performance.now() - started
      }))
      assert.isBelow(offerTime, 200, `offering 2,000 lines took ${offerTime} ms`)
      const all = messages(deliveries)
      assert.strictEqual(all.length, 2001)
      assert.strictEqual(all[0], "warm up")
      assert.strictEqual(all[2000], "fast 1999")
    }))

  it.live("memory is bounded: beyond maxPending lines are dropped and a warning says how many", () =>
    Effect.gen(function*() {
      const { deliveries, sink } = recordingSink(200)
      yield* Effect.scoped(Effect.gen(function*() {
        const batcher = yield* LogBatcher.make({ sink, redact: redactor.redact, maxPending: 300 })
        for (let i = 0; i < 1000; i++) yield* batcher.log("info", `x${i}`)
      }))
      const all = deliveries.flatMap((d) => d.lines)
      const notice = all.find((l) => l.level === "warn")
      assert.isDefined(notice)
      assert.include(notice?.message ?? "", "dropped")
      const kept = all.filter((l) => l.level === "info").map((l) => l.message)
      assert.isAtMost(kept.length, 1000)
      assert.strictEqual(kept[0], "x0")
      // What is kept stays in order.
      const numbers = kept.map((m) => Number(m.slice(1)))
      assert.deepStrictEqual(numbers, [...numbers].sort((a, b) => a - b))
      const dropped = Number(/(\d+) log line/.exec(notice?.message ?? "")?.[1] ?? "0")
      assert.strictEqual(kept.length + dropped, 1000)
    }))

  it.live("lines are redacted again and cut when huge", () =>
    Effect.gen(function*() {
      const { deliveries, sink } = recordingSink()
      yield* Effect.scoped(Effect.gen(function*() {
        const batcher = yield* LogBatcher.make({ sink, redact: redactor.redact, maxLineChars: 100 })
        yield* batcher.log("info", "token is hunter2-secret-value here")
        yield* batcher.log("warn", "y".repeat(10_000))
      }))
      const all = deliveries.flatMap((d) => d.lines)
      assert.strictEqual(all[0]?.message, "token is [REDACTED] here")
      assert.isAtMost(all[1]?.message.length ?? 0, 120)
      assert.strictEqual(all[1]?.level, "warn")
    }))
})
