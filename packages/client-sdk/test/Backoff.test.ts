import { ceilingFor, defaultBackoff, delayFor, schedule, stepper } from "@devteam/client-sdk/Backoff"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, FastCheck, Random, Schedule } from "effect"

const policyArb = FastCheck.record({
  initialDelayMs: FastCheck.integer({ min: 0, max: 10_000 }),
  maxDelayMs: FastCheck.integer({ min: 0, max: 120_000 }),
  factor: FastCheck.double({ min: 1, max: 10, noNaN: true })
})
const attemptArb = FastCheck.integer({ min: 1, max: 10_000 })
const randomArb = FastCheck.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })

describe("Backoff.delayFor", () => {
  it("default policy: 500 ms ceiling doubling up to 30 s", () => {
    const ceilings = [1, 2, 3, 4, 5, 6, 7, 8, 100].map((n) => ceilingFor(n, defaultBackoff))
    expect(ceilings).toEqual([500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000])
    expect(delayFor(1, defaultBackoff, () => 0)).toBe(250)
    expect(delayFor(1, defaultBackoff, () => 0.5)).toBe(375)
    expect(delayFor(10, defaultBackoff, () => 0.999_999)).toBeLessThanOrEqual(30_000)
    expect(delayFor(10, defaultBackoff, () => 0.999_999)).toBeGreaterThan(29_999)
  })

  it.prop("within [d/2, d] and never above maxDelayMs", [attemptArb, policyArb, randomArb], ([attempt, policy, r]) => {
    // (initialDelayMs 0 stays 0 however large factor^(attempt-1) gets)
    const d = policy.initialDelayMs === 0
      ? 0
      : Math.min(policy.maxDelayMs, policy.initialDelayMs * Math.pow(policy.factor, attempt - 1))
    const delay = delayFor(attempt, policy, () => r)
    expect(Number.isFinite(delay)).toBe(true)
    expect(delay).toBeGreaterThanOrEqual(d / 2 - 1e-6)
    expect(delay).toBeLessThanOrEqual(d + 1e-6)
    expect(delay).toBeLessThanOrEqual(policy.maxDelayMs)
  })

  it.prop("never NaN or Infinity, even for huge attempts and odd inputs", [
    FastCheck.oneof(attemptArb, FastCheck.integer(), FastCheck.constantFrom(Infinity, -Infinity, NaN, 1e308)),
    FastCheck.record({
      initialDelayMs: FastCheck.double(),
      maxDelayMs: FastCheck.double(),
      factor: FastCheck.double()
    }, { requiredKeys: [] }),
    FastCheck.double()
  ], ([attempt, policy, r]) => {
    const delay = delayFor(attempt, policy, () => r)
    expect(Number.isFinite(delay)).toBe(true)
    expect(delay).toBeGreaterThanOrEqual(0)
    expect(delay).toBeLessThanOrEqual(
      Number.isFinite(policy.maxDelayMs ?? 0) ? Math.max(0, policy.maxDelayMs ?? 30_000) : 30_000
    )
  })

  it.prop("default policy: capped at 30 s for every attempt up to 10 000", [attemptArb, randomArb], ([attempt, r]) => {
    const delay = delayFor(attempt, defaultBackoff, () => r)
    expect(Number.isFinite(delay)).toBe(true)
    expect(delay).toBeLessThanOrEqual(30_000)
    expect(delay).toBeGreaterThanOrEqual(Math.min(30_000, 500 * 2 ** (attempt - 1)) / 2)
  })

  it.prop("deterministic with a fixed random", [attemptArb, policyArb, randomArb], ([attempt, policy, r]) => {
    expect(delayFor(attempt, policy, () => r)).toBe(delayFor(attempt, policy, () => r))
  })

  it("attempt below 1 counts as the first attempt", () => {
    expect(delayFor(0, defaultBackoff, () => 1)).toBe(500)
    expect(delayFor(-5, defaultBackoff, () => 0)).toBe(250)
  })
})

describe("Backoff.schedule", () => {
  it("is an Effect Schedule: its delays are the ceilings, jittered into [d/2, d]", () => {
    const delays = Effect.runSync(
      Schedule.run(Schedule.delays(schedule(defaultBackoff)), 0, Array.from({ length: 8 }, () => undefined)).pipe(
        Effect.withRandom(Random.fixed([1]))
      )
    )
    expect(Chunk.toReadonlyArray(delays).map(Duration.toMillis)).toEqual(
      [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]
    )
  })

  it("stepper: one step per reconnect, reset after a healthy connection starts over", () => {
    const backoff = stepper(defaultBackoff, () => 0)
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([250, 500, 1000])
    backoff.reset()
    expect(backoff.next()).toBe(250)
  })
})
