/**
 * Group commit for journal appends: the appends waiting while the database is busy go out together,
 * as one statement (one round trip, one transaction, one WAL flush) instead of one each.
 *
 * Each append is a list of data-modifying statements on distinct rows (its journal rows first,
 * then its projection writes). A batch joins every statement of its appends into one
 * `WITH w0 AS (…), w1 AS (…), … SELECT 1` statement, which Postgres runs atomically. A few
 * committers (`concurrency`) take from one queue: while the database is idle an append runs alone
 * at once; under load the appends that queued behind a running batch form the next one, so no
 * timer adds latency and the batch size follows the load.
 *
 * Guarantees kept:
 * - an append and its projections commit together or not at all (they are in the same statement);
 * - per-project order: a batch holds at most one append per project (a second one waits for the
 *   next batch of the same committer), and a writer only appends after its previous append
 *   answered;
 * - fencing: when a batch fails (a stale writer's journal row hits the primary key, or anything
 *   else), nothing of it was written, and its appends run again one by one, each getting its own
 *   outcome — the stale writer its unique violation, the others their commit.
 */
import type { SqlClient } from "@effect/sql/SqlClient"
import type { Row } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import { Deferred, Effect, Exit, Queue, type Scope } from "effect"

export interface PendingAppend {
  readonly projectId: string
  /** Data-modifying statements on distinct rows, the journal rows first. */
  readonly writes: ReadonlyArray<Statement.Statement<Row>>
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

/** The committers live in the scope; appends still queued when it closes are interrupted. */
export const make = (
  sql: SqlClient,
  options: GroupCommitOptions
): Effect.Effect<GroupCommit, never, Scope.Scope> =>
  Effect.gen(function*() {
    // on close: whatever no committer took is refused (its writers are being interrupted as well)
    const queue = yield* Effect.acquireRelease(Queue.unbounded<Item>(), (queue) =>
      Queue.takeAll(queue).pipe(
        Effect.flatMap((left) => Effect.forEach(left, (item) => Deferred.interrupt(item.done), { discard: true })),
        Effect.zipRight(Queue.shutdown(queue))
      ))

    const statementOf = (items: ReadonlyArray<Item>) => {
      const writes = items.flatMap((item) => item.append.writes)
      const named = writes.map((write, i) => sql`${sql.literal(`w${i}`)} AS (${write})`)
      return sql`WITH ${sql.join(", ", false)(named)} SELECT 1 AS ok`
    }

    const complete = (item: Item, exit: Exit.Exit<unknown, SqlError>) => Deferred.done(item.done, Exit.asVoid(exit))

    const runBatch = (batch: ReadonlyArray<Item>) =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(statementOf(batch))
        if (Exit.isSuccess(exit) || batch.length === 1) {
          yield* Effect.forEach(batch, (item) => complete(item, exit), { discard: true })
          return
        }
        // nothing of the batch was written: each append on its own, in order, gets its own outcome
        for (const item of batch) {
          yield* complete(item, yield* Effect.exit(statementOf([item])))
        }
      })

    // one committer: a batch is what is queued when it gets free, one append per project
    const committer = Effect.gen(function*() {
      let carried: Array<Item> = []
      while (true) {
        const taken = carried.length > 0
          ? [...carried, ...(yield* Queue.takeUpTo(queue, options.maxBatch))]
          : [yield* Queue.take(queue), ...(yield* Queue.takeUpTo(queue, options.maxBatch - 1))]
        carried = []
        const batch: Array<Item> = []
        const projects = new Set<string>()
        for (const item of taken) {
          if (projects.has(item.append.projectId) || batch.length >= options.maxBatch) carried.push(item)
          else {
            projects.add(item.append.projectId)
            batch.push(item)
          }
        }
        // a batch runs to its end even when the layer closes: its appends' writers wait for it
        yield* Effect.uninterruptible(runBatch(batch))
      }
    })
    for (let i = 0; i < options.concurrency; i++) yield* Effect.forkScoped(committer)

    return {
      commit: (append) =>
        Effect.flatMap(Deferred.make<void, SqlError>(), (done) =>
          Effect.zipRight(Queue.offer(queue, { append, done }), Deferred.await(done)))
    }
  })
