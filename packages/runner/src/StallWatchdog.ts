/**
 * The stall watchdog: a step that writes no output and makes no progress for STEP_STALL_TIMEOUT
 * (default 10 minutes) is ended — interrupted, which kills its tool process and releases its
 * sandbox — and reported as `stalled`. The actor journals that as the step's failure, so the lines
 * it did write stay in the journal and the execution stays resumable: resume re-runs the step.
 *
 * "Activity" is whatever the caller counts (the actor: every batch of output lines).
 */
import { Clock, Config, Context, Data, Duration, Effect, Layer } from "effect"

export const StallTimeoutConfig = Config.duration("STEP_STALL_TIMEOUT").pipe(
  Config.withDefault(Duration.minutes(10)),
  Config.validate({
    message: "STEP_STALL_TIMEOUT must be longer than 0 (e.g. \"10 minutes\")",
    validation: (d) => Duration.toMillis(d) > 0
  }),
  Config.withDescription("a step with no output and no progress for this long is ended as stalled")
)

export class StepStalled extends Data.TaggedError("StepStalled")<{
  readonly idleMillis: number
  readonly message: string
}> {}

export class StallWatchdog extends Context.Tag("@devteam/runner/StallWatchdog")<StallWatchdog, {
  readonly timeout: Duration.Duration
}>() {}

/**
 * Runs `effect`; once `lastActivity()` (epoch ms) is `timeout` old, interrupts it and fails with
 * `StepStalled`. Checks every quarter of the timeout (between 50 ms and 30 s).
 */
export const guard = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  timeout: Duration.Duration,
  lastActivity: () => number
): Effect.Effect<A, E | StepStalled, R> => {
  const limit = Duration.toMillis(timeout)
  const every = Duration.millis(Math.max(50, Math.min(limit / 4, 30_000)))
  const watch = Effect.gen(function*() {
    while (true) {
      yield* Effect.sleep(every)
      const idle = (yield* Clock.currentTimeMillis) - lastActivity()
      if (idle >= limit) {
        return yield* new StepStalled({
          idleMillis: idle,
          message: `no output and no progress for ${Duration.format(Duration.millis(idle))} (STEP_STALL_TIMEOUT ${
            Duration.format(timeout)
          })`
        })
      }
    }
  })
  return Effect.raceFirst(effect, watch)
}

export const layer = (timeout: Duration.DurationInput): Layer.Layer<StallWatchdog> =>
  Layer.succeed(StallWatchdog, { timeout: Duration.decode(timeout) })

export const layerConfig = Layer.effect(StallWatchdog, Effect.map(StallTimeoutConfig, (timeout) => ({ timeout })))
