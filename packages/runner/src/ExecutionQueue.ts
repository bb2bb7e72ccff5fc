/**
 * The per-runner execution queue: at most MAX_CONCURRENT_EXECUTIONS executions run steps at once
 * on a runner; the rest wait (status QUEUED). A running execution is never evicted: a slot is
 * released only when its holder lets go (or is interrupted).
 *
 * Fair across customers: a free slot goes to the customer with queued work that was served least
 * recently (so one customer's twenty queued executions let another's single one in at the next
 * free slot), oldest first within a customer. MAX_CONCURRENT_PER_CUSTOMER (optional) caps the
 * slots one customer holds at once.
 */
import { Config, Context, Deferred, Effect, Layer, Option, type Scope } from "effect"
import type { ConfigError } from "effect/ConfigError"

export const ExecutionQueueConfig = Config.integer("MAX_CONCURRENT_EXECUTIONS").pipe(
  Config.withDefault(5),
  Config.validate({
    message: "MAX_CONCURRENT_EXECUTIONS must be between 1 and 1000",
    validation: (n) => n >= 1 && n <= 1000
  }),
  Config.withDescription("executions running steps at once on one runner")
)

export const PerCustomerConfig = Config.option(
  Config.integer("MAX_CONCURRENT_PER_CUSTOMER").pipe(
    Config.validate({
      message: "MAX_CONCURRENT_PER_CUSTOMER must be between 1 and 1000",
      validation: (n) => n >= 1 && n <= 1000
    }),
    Config.withDescription("executions of one customer running steps at once on one runner (unset: no cap)")
  )
)

export interface QueueStats {
  readonly running: number
  readonly waiting: number
  readonly capacity: number
}

export interface QueueOptions {
  /** Slots one customer may hold at once (default: no cap beyond the capacity). */
  readonly perCustomer?: number | undefined
}

export class ExecutionQueue extends Context.Tag("@devteam/runner/ExecutionQueue")<ExecutionQueue, {
  /** Waits for a slot (fair across customers, oldest first within one); held until the scope closes. */
  readonly acquire: (projectId: string, customerId: string) => Effect.Effect<void, never, Scope.Scope>
  readonly stats: Effect.Effect<QueueStats>
  /** Projects holding a slot, in the order they got it. */
  readonly running: Effect.Effect<ReadonlyArray<string>>
}>() {}

interface Waiter {
  readonly projectId: string
  readonly customerId: string
  readonly ready: Deferred.Deferred<void>
}

export const make = (capacity: number, options: QueueOptions = {}) =>
  Effect.sync(() => {
    const perCustomer = options.perCustomer ?? capacity
    const holders: Array<{ readonly projectId: string; readonly customerId: string }> = []
    /** Each customer's waiters, oldest first; a customer is present only while it has some. */
    const waiting = new Map<string, Array<Waiter>>()
    /** When each customer last got a slot (a counter, not a clock: ties cannot happen). */
    const lastServed = new Map<string, number>()
    let served = 0

    const holding = (customerId: string) => holders.filter((h) => h.customerId === customerId).length

    /** The customer next in line: served least recently among those with waiters and under their cap. */
    const nextCustomer = (): string | undefined => {
      let best: string | undefined
      let bestServed = Infinity
      for (const customerId of waiting.keys()) {
        if (holding(customerId) >= perCustomer) continue
        const at = lastServed.get(customerId) ?? -1
        if (best === undefined || at < bestServed) {
          best = customerId
          bestServed = at
        }
      }
      return best
    }

    // Hands free slots out, one customer at a time.
    const dispatch = Effect.suspend(() => {
      const granted: Array<Deferred.Deferred<void>> = []
      while (holders.length < capacity) {
        const customerId = nextCustomer()
        if (customerId === undefined) break
        const line = waiting.get(customerId) ?? []
        const next = line.shift()
        if (line.length === 0) waiting.delete(customerId)
        if (next === undefined) continue
        holders.push({ projectId: next.projectId, customerId })
        lastServed.set(customerId, served++)
        granted.push(next.ready)
      }
      return Effect.forEach(granted, (ready) => Deferred.succeed(ready, undefined), { discard: true })
    })

    const release = (projectId: string) =>
      Effect.suspend(() => {
        const i = holders.findIndex((h) => h.projectId === projectId)
        if (i >= 0) holders.splice(i, 1)
        return dispatch
      })

    const leaveLine = (waiter: Waiter): boolean => {
      const line = waiting.get(waiter.customerId)
      const i = line?.indexOf(waiter) ?? -1
      if (line === undefined || i < 0) return false
      line.splice(i, 1)
      if (line.length === 0) waiting.delete(waiter.customerId)
      return true
    }

    const acquire = (projectId: string, customerId: string) =>
      Effect.gen(function*() {
        const ready = yield* Deferred.make<void>()
        const waiter: Waiter = { projectId, customerId, ready }
        yield* Effect.acquireRelease(
          Effect.sync(() => {
            const line = waiting.get(customerId)
            if (line === undefined) waiting.set(customerId, [waiter])
            else line.push(waiter)
          }).pipe(Effect.zipRight(dispatch)),
          // Interrupted while waiting: leave the line. Otherwise give the slot back.
          () => Effect.suspend(() => (leaveLine(waiter) ? Effect.void : release(projectId)))
        )
        yield* Deferred.await(ready)
      })

    return ExecutionQueue.of({
      acquire,
      stats: Effect.sync(() => ({
        running: holders.length,
        waiting: [...waiting.values()].reduce((n, line) => n + line.length, 0),
        capacity
      })),
      running: Effect.sync(() => holders.map((h) => h.projectId))
    })
  })

export const layer = (capacity: number, options: QueueOptions = {}): Layer.Layer<ExecutionQueue> =>
  Layer.effect(ExecutionQueue, make(capacity, options))

export const layerConfig: Layer.Layer<ExecutionQueue, ConfigError> = Layer.effect(
  ExecutionQueue,
  Effect.gen(function*() {
    const capacity = yield* ExecutionQueueConfig
    const perCustomer = yield* PerCustomerConfig
    return yield* make(capacity, { perCustomer: Option.getOrUndefined(perCustomer) })
  })
)
