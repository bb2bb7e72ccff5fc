import * as ExecutionQueue from "@devteam/runner/ExecutionQueue"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Deferred, Effect, Exit, Fiber, Option, Ref, TestClock } from "effect"

describe("ExecutionQueue", () => {
  it.scoped("8 executions with capacity 5: never more than 5 run, the other 3 wait and run in arrival order", () =>
    Effect.gen(function*() {
      const queue = yield* ExecutionQueue.make(5)
      const order = yield* Ref.make<ReadonlyArray<string>>([])
      let concurrent = 0
      let maxConcurrent = 0
      const gates = new Map<string, Deferred.Deferred<void>>()
      const projects = Array.from({ length: 8 }, (_, i) => `p${i}`)
      for (const p of projects) gates.set(p, yield* Deferred.make<void>())
      const fibers = []
      for (const p of projects) {
        fibers.push(
          yield* Effect.scoped(
            Effect.gen(function*() {
              yield* queue.acquire(p, "acme")
              concurrent++
              maxConcurrent = Math.max(maxConcurrent, concurrent)
              yield* Ref.update(order, (o) => [...o, p])
              const gate = gates.get(p)
              if (gate !== undefined) yield* Deferred.await(gate)
              concurrent--
            })
          ).pipe(Effect.fork)
        )
        yield* Effect.yieldNow()
      }
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* queue.stats, { running: 5, waiting: 3, capacity: 5 })
      assert.deepStrictEqual(yield* Ref.get(order), ["p0", "p1", "p2", "p3", "p4"])
      // finishing p2 then p0 lets p5 then p6 in, in arrival order
      for (const p of ["p2", "p0", "p4", "p1", "p3", "p5", "p6", "p7"]) {
        const gate = gates.get(p)
        if (gate !== undefined) yield* Deferred.succeed(gate, undefined)
        yield* Effect.yieldNow()
      }
      yield* Fiber.joinAll(fibers)
      assert.deepStrictEqual(yield* Ref.get(order), ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"])
      assert.strictEqual(maxConcurrent, 5)
      assert.deepStrictEqual(yield* queue.stats, { running: 0, waiting: 0, capacity: 5 })
    }))

  it.scoped("an execution interrupted while waiting leaves the line; a running one is never evicted", () =>
    Effect.gen(function*() {
      const queue = yield* ExecutionQueue.make(1)
      const hold = yield* Deferred.make<void>()
      const running = yield* Effect.scoped(Effect.zipRight(queue.acquire("a", "acme"), Deferred.await(hold))).pipe(
        Effect.fork
      )
      yield* Effect.yieldNow()
      const waiting = yield* Effect.scoped(queue.acquire("b", "acme")).pipe(Effect.fork)
      const third = yield* Effect.scoped(Effect.zipRight(queue.acquire("c", "acme"), Effect.succeed("c ran"))).pipe(
        Effect.fork
      )
      yield* Effect.yieldNow()
      assert.deepStrictEqual(yield* queue.stats, { running: 1, waiting: 2, capacity: 1 })
      yield* Fiber.interrupt(waiting)
      assert.deepStrictEqual(yield* queue.stats, { running: 1, waiting: 1, capacity: 1 })
      assert.deepStrictEqual(yield* queue.running, ["a"])
      yield* Deferred.succeed(hold, undefined)
      yield* Fiber.join(running)
      assert.strictEqual(yield* Fiber.join(third), "c ran")
    }))

  /** Starts `projectId` of `customerId` on the queue: it records its start, then holds its slot until released. */
  const start = (
    queue: ExecutionQueue.ExecutionQueue["Type"],
    started: Array<string>,
    gates: Map<string, Deferred.Deferred<void>>,
    projectId: string,
    customerId: string
  ) =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      gates.set(projectId, gate)
      const fiber = yield* Effect.scoped(
        Effect.gen(function*() {
          yield* queue.acquire(projectId, customerId)
          started.push(projectId)
          yield* Deferred.await(gate)
        })
      ).pipe(Effect.fork)
      yield* Effect.yieldNow()
      return fiber
    })

  it.scoped("fair across customers: one customer's 20 queued executions delay another's single one by at most one slot", () =>
    Effect.gen(function*() {
      const queue = yield* ExecutionQueue.make(1)
      const started: Array<string> = []
      const gates = new Map<string, Deferred.Deferred<void>>()
      const fibers = []
      for (let i = 1; i <= 20; i++) fibers.push(yield* start(queue, started, gates, `a/${i}`, "a"))
      const startedBeforeB = started.length
      fibers.push(yield* start(queue, started, gates, "b/1", "b"))
      assert.deepStrictEqual(yield* queue.stats, { running: 1, waiting: 20, capacity: 1 })
      // finish whatever runs, one slot at a time, until b/1 has run
      while (!started.includes("b/1")) {
        const current = started[started.length - 1]
        const gate = current === undefined ? undefined : gates.get(current)
        if (gate !== undefined) yield* Deferred.succeed(gate, undefined)
        yield* Effect.yieldNow()
      }
      const aStartsWhileBWaited = started.slice(startedBeforeB, started.indexOf("b/1")).length
      assert.isAtMost(aStartsWhileBWaited, 1, started.join(", "))
      // and customer a's own executions still run in arrival order
      for (const gate of gates.values()) yield* Deferred.succeed(gate, undefined)
      yield* Fiber.joinAll(fibers)
      const aOrder = started.filter((p) => p.startsWith("a/"))
      assert.deepStrictEqual(aOrder, Array.from({ length: 20 }, (_, i) => `a/${i + 1}`))
      // without fairness (arrival order) b/1 would have waited for all 20
      assert.isBelow(started.indexOf("b/1"), 3)
    }))

  it.scoped("MAX_CONCURRENT_PER_CUSTOMER: a customer at its cap waits even with a slot free; others take it", () =>
    Effect.gen(function*() {
      const queue = yield* ExecutionQueue.make(3, { perCustomer: 1 })
      const started: Array<string> = []
      const gates = new Map<string, Deferred.Deferred<void>>()
      const fibers = []
      for (const p of ["a/1", "a/2", "a/3"]) fibers.push(yield* start(queue, started, gates, p, "a"))
      fibers.push(yield* start(queue, started, gates, "b/1", "b"))
      assert.deepStrictEqual(started, ["a/1", "b/1"])
      assert.deepStrictEqual(yield* queue.stats, { running: 2, waiting: 2, capacity: 3 })
      const first = gates.get("a/1")
      if (first !== undefined) yield* Deferred.succeed(first, undefined)
      // wait on the condition: the released fiber closes its scope, which hands the slot on
      for (let i = 0; i < 1000 && started.length < 3; i++) yield* Effect.yieldNow()
      assert.deepStrictEqual(started, ["a/1", "b/1", "a/2"])
      for (const gate of gates.values()) yield* Deferred.succeed(gate, undefined)
      yield* Effect.yieldNow()
      for (const gate of gates.values()) yield* Deferred.succeed(gate, undefined)
      yield* Fiber.joinAll(fibers)
      assert.deepStrictEqual(started, ["a/1", "b/1", "a/2", "a/3"])
    }))

  it("MAX_CONCURRENT_PER_CUSTOMER is optional and validated", () => {
    const read = (env: Record<string, string>) =>
      Effect.runSyncExit(
        ExecutionQueue.PerCustomerConfig.pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
        )
      )
    assert.deepStrictEqual(read({}), Exit.succeed(Option.none()))
    assert.deepStrictEqual(read({ MAX_CONCURRENT_PER_CUSTOMER: "2" }), Exit.succeed(Option.some(2)))
    assert.isTrue(Exit.isFailure(read({ MAX_CONCURRENT_PER_CUSTOMER: "0" })))
  })
})
