import * as ExecutionQueue from "@devteam/runner/ExecutionQueue"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Ref, TestClock } from "effect"

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
              yield* queue.acquire(p)
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
      const running = yield* Effect.scoped(Effect.zipRight(queue.acquire("a"), Deferred.await(hold))).pipe(Effect.fork)
      yield* Effect.yieldNow()
      const waiting = yield* Effect.scoped(queue.acquire("b")).pipe(Effect.fork)
      const third = yield* Effect.scoped(Effect.zipRight(queue.acquire("c"), Effect.succeed("c ran"))).pipe(Effect.fork)
      yield* Effect.yieldNow()
      assert.deepStrictEqual(yield* queue.stats, { running: 1, waiting: 2, capacity: 1 })
      yield* Fiber.interrupt(waiting)
      assert.deepStrictEqual(yield* queue.stats, { running: 1, waiting: 1, capacity: 1 })
      assert.deepStrictEqual(yield* queue.running, ["a"])
      yield* Deferred.succeed(hold, undefined)
      yield* Fiber.join(running)
      assert.strictEqual(yield* Fiber.join(third), "c ran")
    }))
})
