/**
 * Reconnect delays: exponential backoff with "equal jitter".
 *
 * For attempt `n` (1-based) the ceiling is `d = min(maxDelayMs, initialDelayMs * factor^(n-1))` and
 * the delay is drawn uniformly from `[d/2, d]`: never less than half the ceiling (so retries do
 * slow down), never more than `maxDelayMs` (30 s by default), and spread out so that many clients
 * dropped at once do not reconnect in lock-step.
 */

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

/** The ceiling `d` of an attempt's delay: `min(maxDelayMs, initialDelayMs * factor^(attempt-1))`. */
export const ceilingFor = (attempt: number, policy: Partial<BackoffPolicy> = defaultBackoff): number => {
  const { factor, initialDelayMs, maxDelayMs } = normalize(policy)
  const n = Number.isFinite(attempt) ? Math.max(1, Math.floor(attempt)) : 1
  // factor^(n-1) overflows to Infinity for large n; compare in log space first so that
  // 0 * Infinity (NaN) can never happen
  if (initialDelayMs === 0) return 0
  if (factor > 1 && (n - 1) * Math.log(factor) >= Math.log(maxDelayMs / initialDelayMs)) return maxDelayMs
  const d = initialDelayMs * Math.pow(factor, n - 1)
  return Number.isFinite(d) ? Math.min(maxDelayMs, d) : maxDelayMs
}

/**
 * The delay before reconnect attempt `attempt` (1-based): uniformly in `[d/2, d]` where `d` is
 * {@link ceilingFor}; `random` returns a number in `[0, 1)` (values outside are clamped).
 */
export const delayFor = (
  attempt: number,
  policy: Partial<BackoffPolicy> = defaultBackoff,
  random: () => number = Math.random
): number => {
  const d = ceilingFor(attempt, policy)
  const r = random()
  const jitter = Number.isFinite(r) ? Math.min(1, Math.max(0, r)) : 0
  return Math.min(d, d / 2 + (jitter * d) / 2)
}
