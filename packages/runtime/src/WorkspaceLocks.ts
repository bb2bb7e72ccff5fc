/**
 * One lock per work tree directory: every Workspace operation on a work tree runs under its lock,
 * so two operations never touch one work tree at once, and cleanup never removes a work tree an
 * operation holds. Clones that copy objects from a repository only read it: they share its lock
 * with each other (`withShared`) and exclude only its own operations (fetch, clean-up, removal) —
 * projects on one repository clone from its cache at once instead of one after another.
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
  /**
   * Runs `self` while no `withLock` holds `dir`, alongside other sharers (readers of the work
   * tree's repository). A waiting `withLock` waits for every sharer to finish.
   */
  readonly withShared: (dir: string) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Runs `self` holding the lock when it is free right now; None (without running it) when it is held. */
  readonly ifFree: (dir: string) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<Option.Option<A>, E, R>
}>() {}

/** A lock's permits: a sharer takes one, the exclusive holder all (more sharers than this wait). */
const PERMITS = 1024

export const make: Effect.Effect<WorkspaceLocks["Type"]> = Effect.sync(() => {
  const locks = new Map<string, Effect.Semaphore>()
  const lockFor = (dir: string): Effect.Semaphore => {
    const key = Path.resolve(dir)
    const existing = locks.get(key)
    if (existing !== undefined) return existing
    const created = Effect.unsafeMakeSemaphore(PERMITS)
    locks.set(key, created)
    return created
  }
  return WorkspaceLocks.of({
    withLock: (dir) => (self) =>
      lockFor(dir).withPermits(PERMITS)(
        Effect.logDebug("Workspace lock acquired").pipe(
          Effect.zipRight(self),
          Effect.ensuring(Effect.logDebug("Workspace lock released"))
        )
      ).pipe(Effect.annotateLogs({ repoKey: Path.basename(dir) })),
    withShared: (dir) => (self) => lockFor(dir).withPermits(1)(self),
    ifFree: (dir) => (self) => lockFor(dir).withPermitsIfAvailable(PERMITS)(self)
  })
})

/** A fresh lock map, shared by everything built on this layer. */
export const layer: Layer.Layer<WorkspaceLocks> = Layer.effect(WorkspaceLocks, make)
