/**
 * A mutex that serves waiters strictly in arrival order (Effect's `Semaphore` lets a newcomer take
 * a permit ahead of a woken waiter, which can starve a waiter under load). Ownership is handed
 * directly to the next waiter on release; a waiter interrupted after the hand-off passes it on.
 */
import { Deferred, Effect, FiberId } from "effect"

interface Waiter {
  readonly deferred: Deferred.Deferred<void>
  granted: boolean
}

export interface FifoMutex {
  /** Waits (interruptibly, if the caller is) for the mutex; pair with `release`. */
  readonly acquire: Effect.Effect<void>
  readonly release: Effect.Effect<void>
  readonly withLock: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

export const make = Effect.sync((): FifoMutex => {
  let locked = false
  const waiters: Array<Waiter> = []

  const release = Effect.sync(() => {
    const next = waiters.shift()
    if (next === undefined) {
      locked = false
      return
    }
    // hand the lock over: it stays locked
    next.granted = true
    Deferred.unsafeDone(next.deferred, Effect.void)
  })

  const acquire: Effect.Effect<void> = Effect.uninterruptibleMask((restore) =>
    Effect.suspend(() => {
      if (!locked) {
        locked = true
        return Effect.void
      }
      const waiter: Waiter = { deferred: Deferred.unsafeMake<void>(FiberId.none), granted: false }
      waiters.push(waiter)
      return restore(Deferred.await(waiter.deferred)).pipe(
        Effect.onInterrupt(() =>
          waiter.granted
            ? release
            : Effect.sync(() => {
              const i = waiters.indexOf(waiter)
              if (i >= 0) waiters.splice(i, 1)
            })
        )
      )
    })
  )

  return {
    acquire,
    release,
    withLock: (effect) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.zipRight(restore(acquire), Effect.ensuring(restore(effect), release))
      )
  }
})
