/**
 * The per-runner execution queue: at most MAX_CONCURRENT_EXECUTIONS executions run steps at once
 * on a runner; the rest wait (status QUEUED) in arrival order. A running execution is never
 * evicted: a slot is released only when its holder lets go (or is interrupted).
 */
import { Config, Context, Deferred, Effect, Layer, type Scope } from "effect"
import type { ConfigError } from "effect/ConfigError"

export const ExecutionQueueConfig = Config.integer("MAX_CONCURRENT_EXECUTIONS").pipe(
  Config.withDefault(5),
  Config.validate({
    message: "MAX_CONCURRENT_EXECUTIONS must be between 1 and 1000",
    validation: (n) => n >= 1 && n <= 1000
  }),
  Config.withDescription("executions running steps at once on one runner")
)

export interface QueueStats {
  readonly running: number
  readonly waiting: number
  readonly capacity: number
}

export class ExecutionQueue extends Context.Tag("@devteam/runner/ExecutionQueue")<ExecutionQueue, {
  /** Waits for a slot in arrival order; the slot is held until the scope closes. */
  readonly acquire: (projectId: string) => Effect.Effect<void, never, Scope.Scope>
  readonly stats: Effect.Effect<QueueStats>
  /** Projects holding a slot, in the order they got it. */
  readonly running: Effect.Effect<ReadonlyArray<string>>
}>() {}

export const make = (capacity: number) =>
  Effect.sync(() => {
    const holders: Array<string> = []
    const waiters: Array<{ readonly projectId: string; readonly ready: Deferred.Deferred<void> }> = []

    // Hands free slots to the oldest waiters.
    const dispatch = Effect.suspend(() => {
      const granted: Array<Deferred.Deferred<void>> = []
      while (holders.length < capacity && waiters.length > 0) {
        const next = waiters.shift()
        if (next === undefined) break
        holders.push(next.projectId)
        granted.push(next.ready)
      }
      return Effect.forEach(granted, (ready) => Deferred.succeed(ready, undefined), { discard: true })
    })

    const release = (projectId: string) =>
      Effect.suspend(() => {
        const i = holders.indexOf(projectId)
        if (i >= 0) holders.splice(i, 1)
        return dispatch
      })

    const acquire = (projectId: string) =>
      Effect.gen(function*() {
        const ready = yield* Deferred.make<void>()
        const waiter = { projectId, ready }
        yield* Effect.acquireRelease(
          Effect.sync(() => waiters.push(waiter)).pipe(Effect.zipRight(dispatch)),
          () =>
            Effect.suspend(() => {
              const i = waiters.indexOf(waiter)
              // Interrupted while waiting: leave the line. Otherwise give the slot back.
              if (i >= 0) {
                waiters.splice(i, 1)
                return Effect.void
              }
              return release(projectId)
            })
        )
        yield* Deferred.await(ready)
      })

    return ExecutionQueue.of({
      acquire,
      stats: Effect.sync(() => ({ running: holders.length, waiting: waiters.length, capacity })),
      running: Effect.sync(() => [...holders])
    })
  })

export const layer = (capacity: number): Layer.Layer<ExecutionQueue> => Layer.effect(ExecutionQueue, make(capacity))

export const layerConfig: Layer.Layer<ExecutionQueue, ConfigError> = Layer.effect(
  ExecutionQueue,
  Effect.flatMap(ExecutionQueueConfig, make)
)
