/**
 * Reconnect delays: exponential backoff with "equal jitter", an Effect `Schedule`.
 *
 * For attempt `n` (1-based) the ceiling is `d = min(maxDelayMs, initialDelayMs * factor^(n-1))` and
 * the delay is drawn uniformly from `[d/2, d]`: never less than half the ceiling (so retries do
 * slow down), never more than `maxDelayMs` (30 s by default), and spread out so that many clients
 * dropped at once do not reconnect in lock-step.
 */
import { Duration, Effect, Random, Schedule, ScheduleDecision, ScheduleIntervals } from "effect"

export interface BackoffPolicy {
  /** Ceiling of the first attempt's delay (ms). */
  readonly initialDelayMs: number
  /** Upper bound of every delay (ms). */
  readonly maxDelayMs: number
  /** Growth of the ceiling per attempt. */
  readonly factor: number
}

export const defaultBackoff: BackoffPolicy = { initialDelayMs: 500, maxDelayMs: 30_000, factor: 2 }

const finiteOr = (value: number, fallback: number, min: number): number =>
  Number.isFinite(value) ? Math.max(min, value) : fallback

/** The policy with every field made finite and sensible (negative / NaN / Infinity replaced). */
export const normalize = (policy: Partial<BackoffPolicy> = {}): BackoffPolicy => {
  const maxDelayMs = finiteOr(policy.maxDelayMs ?? defaultBackoff.maxDelayMs, defaultBackoff.maxDelayMs, 0)
  const initialDelayMs = Math.min(
    maxDelayMs,
    finiteOr(policy.initialDelayMs ?? defaultBackoff.initialDelayMs, defaultBackoff.initialDelayMs, 0)
  )
  const factor = finiteOr(policy.factor ?? defaultBackoff.factor, defaultBackoff.factor, 1)
  return { initialDelayMs, maxDelayMs, factor }
}

/**
 * The reconnect schedule: exponential from `initialDelayMs` by `factor`, capped at `maxDelayMs`
 * (the union with a fixed spacing takes the smaller delay), with equal jitter: each delay is drawn
 * from `[d/2, d]` (`Random.next`, replaceable with `Effect.withRandom`).
 */
export const schedule = (policy: Partial<BackoffPolicy> = defaultBackoff): Schedule.Schedule<unknown> => {
  const { factor, initialDelayMs, maxDelayMs } = normalize(policy)
  return Schedule.exponential(Duration.millis(initialDelayMs), factor).pipe(
    Schedule.union(Schedule.spaced(Duration.millis(maxDelayMs))),
    Schedule.jitteredWith({ min: 0.5, max: 1 }),
    Schedule.asVoid
  )
}

/** Beyond this many steps `delayFor` answers the last one (the cap is reached long before for any factor ≥ 1.002). */
const MAX_STEPS = 10_000

/**
 * The schedule of a reconnecting client as plain calls: `next()` is the delay (ms) before the next
 * attempt, `reset()` starts over (after a healthy connection). `random` returns a number in `[0, 1)`.
 */
export interface Stepper {
  readonly next: () => number
  readonly reset: () => void
}

export const stepper = (
  policy: Partial<BackoffPolicy> = defaultBackoff,
  random: () => number = Math.random
): Stepper => {
  const reconnect = schedule(policy)
  let state: unknown = reconnect.initial
  return {
    next: () => {
      const r = random()
      const jitter = Number.isFinite(r) ? Math.min(1, Math.max(0, r)) : 0
      const [next, , decision] = Effect.runSync(
        reconnect.step(0, undefined, state).pipe(Effect.withRandom(Random.fixed([jitter])))
      )
      state = next
      return ScheduleDecision.isDone(decision) ? 0 : Math.max(0, ScheduleIntervals.start(decision.intervals))
    },
    reset: () => {
      state = reconnect.initial
    }
  }
}

/**
 * The delay before reconnect attempt `attempt` (1-based): the schedule's `attempt`-th delay,
 * uniformly in `[d/2, d]` where `d = min(maxDelayMs, initialDelayMs * factor^(attempt-1))`;
 * `random` returns a number in `[0, 1)` (values outside are clamped).
 */
export const delayFor = (
  attempt: number,
  policy: Partial<BackoffPolicy> = defaultBackoff,
  random: () => number = Math.random
): number => {
  const p = normalize(policy)
  const steps = Math.min(stepsUntilCap(p), Number.isFinite(attempt) ? Math.max(1, Math.floor(attempt)) : 1)
  // only the last step's jitter counts
  const draws = steps
  let drawn = 0
  const backoff = stepper(p, () => (++drawn === draws ? random() : 0))
  let delay = 0
  for (let i = 0; i < steps; i++) delay = backoff.next()
  return Math.min(delay, p.maxDelayMs)
}

/** The ceiling `d` of an attempt's delay: `min(maxDelayMs, initialDelayMs * factor^(attempt-1))`. */
export const ceilingFor = (attempt: number, policy: Partial<BackoffPolicy> = defaultBackoff): number =>
  delayFor(attempt, policy, () => 1)

/** After this many steps every delay is the same (the ceiling has reached `maxDelayMs`). */
const stepsUntilCap = ({ factor, initialDelayMs, maxDelayMs }: BackoffPolicy): number => {
  if (initialDelayMs === 0 || factor <= 1 || maxDelayMs <= initialDelayMs) return 1
  const steps = Math.ceil(Math.log(maxDelayMs / initialDelayMs) / Math.log(factor)) + 1
  return Number.isFinite(steps) ? Math.min(MAX_STEPS, Math.max(1, steps)) : MAX_STEPS
}
