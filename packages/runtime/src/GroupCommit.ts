/**
 * Group commit for journal appends: the appends waiting while the database is busy go out together,
 * as one statement (one round trip, one transaction, one WAL flush) instead of one each.
 *
 * Each append is a list of data-modifying statements on distinct rows (its journal rows first,
 * then its projection writes). A batch joins every statement of its appends into one
 * `WITH w0 AS (…), w1 AS (…), … SELECT 1` statement, which Postgres runs atomically. At most
 * `concurrency` batches run at once: while one of those slots is free an append runs alone at once,
 * on its caller's fiber; under load the appends that queued behind the running batches form the
 * next one, so no timer adds latency and the batch size follows the load.
 *
 * Guarantees kept:
 * - an append and its projections commit together or not at all (they are in the same statement);
 * - per-project order: a batch holds at most one append per project (a second one waits for a
 *   later batch), an append never overtakes one that waits, and a writer only appends after its
 *   previous append answered;
 * - fencing: when a batch fails (a stale writer's journal row hits the primary key, or anything
 *   else), nothing of it was written, and its appends run again one by one, each getting its own
 *   outcome — the stale writer its unique violation, the others their commit.
 */
import type { SqlClient } from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Deferred, Effect, Exit, type Scope } from "effect"
import * as RowWrites from "./RowWrites.js"

export interface PendingAppend {
  readonly projectId: string
  /** Data-modifying writes on distinct rows, the journal rows first. */
  readonly writes: ReadonlyArray<RowWrites.Write>
}

export interface GroupCommit {
  /** Commits the append's statements atomically, possibly together with other projects' appends. */
  readonly commit: (append: PendingAppend) => Effect.Effect<void, SqlError>
}

export interface GroupCommitOptions {
  /** Batches in flight at once (each holds one connection while it runs). */
  readonly concurrency: number
  /** Most appends in one batch (bounds the statement's size and parameters). */
  readonly maxBatch: number
}

interface Item {
  readonly append: PendingAppend
  readonly done: Deferred.Deferred<void, SqlError>
}

/**
 * While fewer than `concurrency` batches run, an append runs at once on its caller's fiber, as a
 * batch of its own (no queue, no hand-over to another fiber: the idle database's common case).
 * Otherwise it waits; when a batch ends and appends wait, that slot keeps going on a fiber of the
 * scope, each batch what waits then (one append per project). On close, the waiting appends are
 * interrupted.
 */
export const make = (
  sql: SqlClient,
  options: GroupCommitOptions
): Effect.Effect<GroupCommit, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const pending: Array<Item> = []
    // batches running (inline or on a drainer), at most `concurrency`; appends wait only when all run
    let running = 0
    let closed = false
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        // whatever no batch took is refused (its writers are being interrupted as well)
        closed = true
        const left = pending.splice(0)
        return Effect.forEach(left, (item) => Deferred.interrupt(item.done), { discard: true })
      })
    )

    const statementOf = (appends: ReadonlyArray<PendingAppend>) => {
      // the batch's rows of one table go out as one multi-row INSERT (see RowWrites)
      const writes = RowWrites.statements(sql, appends.flatMap((append) => append.writes))
      const named = writes.map((write, i) => sql`${sql.literal(`w${i}`)} AS (${write})`)
      return sql`WITH ${sql.join(", ", false)(named)} SELECT 1 AS ok`
    }

    const complete = (item: Item, exit: Exit.Exit<unknown, SqlError>) => Deferred.done(item.done, Exit.asVoid(exit))

    const runBatch = (batch: ReadonlyArray<Item>) =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(statementOf(batch.map((item) => item.append)))
        if (Exit.isSuccess(exit) || batch.length === 1) {
          yield* Effect.forEach(batch, (item) => complete(item, exit), { discard: true })
          return
        }
        // nothing of the batch was written: each append on its own, in order, gets its own outcome
        for (const item of batch) {
          yield* complete(item, yield* Effect.exit(statementOf([item.append])))
        }
      })

    /** The next batch: the waiting appends in order, one per project, at most `maxBatch`; the rest wait on. */
    const takeBatch = (): Array<Item> => {
      const batch: Array<Item> = []
      const rest: Array<Item> = []
      const projects = new Set<string>()
      for (const item of pending) {
        if (projects.has(item.append.projectId) || batch.length >= options.maxBatch) rest.push(item)
        else {
          projects.add(item.append.projectId)
          batch.push(item)
        }
      }
      pending.splice(0, pending.length, ...rest)
      return batch
    }

    // a slot whose batch ended while appends waited: batches of what waits until nothing does
    const drain: Effect.Effect<void> = Effect.suspend(() => {
      const batch = takeBatch()
      if (batch.length === 0) {
        running--
        return Effect.void
      }
      // a batch runs to its end even when the layer closes: its appends' writers wait for it
      return Effect.zipRight(Effect.uninterruptible(runBatch(batch)), drain)
    })

    /** The slot of a batch that ended: kept for the waiting appends, else given back. */
    const release = Effect.suspend(() => {
      if (pending.length === 0 || closed) {
        running--
        return Effect.void
      }
      // forked from a finalizer (uninterruptible, which a fork inherits): interruptible between batches
      return Effect.asVoid(Effect.forkIn(Effect.interruptible(drain), scope))
    })

    return {
      commit: (append) =>
        Effect.suspend(() => {
          if (closed) return Effect.interrupt
          if (running < options.concurrency && pending.length === 0) {
            running++
            // the caller's own batch: interrupting the caller abandons only its own append
            return Effect.ensuring(statementOf([append]), release)
          }
          return Effect.flatMap(Deferred.make<void, SqlError>(), (done) => {
            pending.push({ append, done })
            return Deferred.await(done)
          })
        })
    }
  })
