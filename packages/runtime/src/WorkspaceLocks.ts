/**
 * One lock per work tree directory: every Workspace operation on a work tree runs under its lock,
 * so two operations never touch one work tree at once, and cleanup never removes a work tree an
 * operation holds.
 *
 * The lock map lives as long as the layer that built it (one per WORKSPACE_DIR in a process: build
 * the Workspace layer once). A lock is kept for the layer's life (one small semaphore per work
 * tree): dropping one while a fiber waits on it would let two operations in at once.
 */
import { Context, Effect, Layer, type Option } from "effect"
import * as Path from "node:path"

export class WorkspaceLocks extends Context.Tag("@devteam/runtime/WorkspaceLocks")<WorkspaceLocks, {
  /** Runs `self` holding the lock of the work tree at `dir` (waits for it). */
  readonly withLock: (dir: string) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Runs `self` holding the lock when it is free right now; None (without running it) when it is held. */
  readonly ifFree: (dir: string) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<Option.Option<A>, E, R>
}>() {}

export const make: Effect.Effect<WorkspaceLocks["Type"]> = Effect.sync(() => {
  const locks = new Map<string, Effect.Semaphore>()
  const lockFor = (dir: string): Effect.Semaphore => {
    const key = Path.resolve(dir)
    const existing = locks.get(key)
    if (existing !== undefined) return existing
    const created = Effect.unsafeMakeSemaphore(1)
    locks.set(key, created)
    return created
  }
  return WorkspaceLocks.of({
    withLock: (dir) => (self) =>
      lockFor(dir).withPermits(1)(
        Effect.logDebug("Workspace lock acquired").pipe(
          Effect.zipRight(self),
          Effect.ensuring(Effect.logDebug("Workspace lock released"))
        )
      ).pipe(Effect.annotateLogs({ repoKey: Path.basename(dir) })),
    ifFree: (dir) => (self) => lockFor(dir).withPermitsIfAvailable(1)(self)
  })
})

/** A fresh lock map, shared by everything built on this layer. */
export const layer: Layer.Layer<WorkspaceLocks> = Layer.effect(WorkspaceLocks, make)
