/**
 * WorkspaceLocks: exclusive holders one at a time; sharers (clones reading a repository cache)
 * side by side, excluded only by an exclusive holder; clean-up (`ifFree`) never takes a held dir.
 */
import * as WorkspaceLocks from "@devteam/runtime/WorkspaceLocks"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Option } from "effect"

/** Holds `dir` (shared or not) until `release` completes; `entered` completes once inside. */
const holder = (
  locks: WorkspaceLocks.WorkspaceLocks["Type"],
  dir: string,
  shared: boolean
) =>
  Effect.gen(function*() {
    const entered = yield* Deferred.make<void>()
    const release = yield* Deferred.make<void>()
    const hold = shared ? locks.withShared(dir) : locks.withLock(dir)
    const fiber = yield* Effect.fork(
      hold(Effect.zipRight(Deferred.succeed(entered, undefined), Deferred.await(release)))
    )
    return { entered, release: Deferred.succeed(release, undefined), fiber }
  })

/** Whether `d` completes within a few turns of the scheduler (it must not, when the lock excludes it). */
const completesSoon = (d: Deferred.Deferred<void>) =>
  Deferred.await(d).pipe(Effect.timeoutOption("50 millis"), Effect.map(Option.isSome))

describe("WorkspaceLocks", () => {
  it.live("sharers hold a directory together; an exclusive holder waits for all of them, and they for it", () =>
    Effect.gen(function*() {
      const locks = yield* WorkspaceLocks.make
      const a = yield* holder(locks, "/ws/cache", true)
      const b = yield* holder(locks, "/ws/cache", true)
      // both inside at once
      yield* Deferred.await(a.entered)
      yield* Deferred.await(b.entered)
      const writer = yield* holder(locks, "/ws/cache", false)
      assert.isFalse(yield* completesSoon(writer.entered))
      // clean-up does not take a directory a sharer holds
      assert.isTrue(Option.isNone(yield* locks.ifFree("/ws/cache")(Effect.succeed("removed"))))
      yield* a.release
      assert.isFalse(yield* completesSoon(writer.entered))
      yield* b.release
      yield* Deferred.await(writer.entered)
      // and a new sharer waits for the exclusive holder
      const c = yield* holder(locks, "/ws/cache", true)
      assert.isFalse(yield* completesSoon(c.entered))
      yield* writer.release
      yield* Deferred.await(c.entered)
      yield* c.release
      yield* Effect.all([a.fiber, b.fiber, writer.fiber, c.fiber].map(Fiber.join))
      assert.deepStrictEqual(yield* locks.ifFree("/ws/cache")(Effect.succeed("removed")), Option.some("removed"))
    }))

  it.live("exclusive holders of one directory run one at a time; other directories are not held up", () =>
    Effect.gen(function*() {
      const locks = yield* WorkspaceLocks.make
      const first = yield* holder(locks, "/ws/p1", false)
      yield* Deferred.await(first.entered)
      const second = yield* holder(locks, "/ws/p1", false)
      const other = yield* holder(locks, "/ws/p2", false)
      yield* Deferred.await(other.entered)
      assert.isFalse(yield* completesSoon(second.entered))
      yield* first.release
      yield* Deferred.await(second.entered)
      yield* Effect.all([second.release, other.release])
    }))
})
