/**
 * Batches execution-log lines on their way to the journal (`StepContext.log`).
 *
 * - `offer` never blocks and never waits on the sink: it appends to a buffer (bounded: beyond
 *   `maxPending` lines are dropped and counted, and a warning line says how many);
 * - a background fiber flushes at most every `interval` (100 ms) while output flows — counted from
 *   the batcher's start, so a step shorter than that sends its lines at its end — at once when
 *   `maxBatch` (200) lines are waiting, in order, never more than `maxBatch` lines per call;
 * - `takeRest` hands over what is left instead (the step's outcome carries it: one transaction);
 * - when the scope closes (the step ends, fails or is interrupted) whatever is left is flushed;
 * - every line is redacted again (defensively: sandbox output already is) and cut at `maxLineChars`.
 *
 * A sink call runs uninterruptibly: a journal append cut in half would leave the caller unsure
 * whether it was written.
 */
import { type LogLevel, LogLine } from "@devteam/domain/JournalEvent"
import { Duration, Effect, Fiber, Queue, type Scope } from "effect"

export interface LogBatcherOptions {
  readonly sink: (lines: ReadonlyArray<LogLine>) => Effect.Effect<void>
  readonly redact: (text: string) => string
  /** Shortest time between two flushes while output flows; default 100 ms. */
  readonly interval?: Duration.DurationInput
  /** Flush as soon as this many lines wait, and never send more in one call; default 200. */
  readonly maxBatch?: number
  /** Lines kept while the sink is slow; beyond that lines are dropped (and counted). Default 10,000. */
  readonly maxPending?: number
  /** Longest line kept; longer ones are cut. Default 4,000 characters. */
  readonly maxLineChars?: number
}

export interface LogBatcher {
  /** Queues one line (already a LogLine); never blocks. */
  readonly offer: (line: LogLine) => Effect.Effect<void>
  /** Queues a message with the given level, stamped now. */
  readonly log: (level: LogLevel, message: string) => Effect.Effect<void>
  /** Sends everything waiting now (in `maxBatch` chunks). */
  readonly flush: Effect.Effect<void>
  /**
   * Stops the timed flushes and returns the last lines (at most `maxBatch`; earlier full batches
   * are sent first), for the caller to journal with the step's outcome.
   */
  readonly takeRest: Effect.Effect<ReadonlyArray<LogLine>>
}

export const DEFAULT_INTERVAL = Duration.millis(100)
export const DEFAULT_MAX_BATCH = 200
export const DEFAULT_MAX_PENDING = 10_000
export const DEFAULT_MAX_LINE_CHARS = 4_000

/** A batcher living for the enclosing scope; its rest is flushed when the scope closes. */
export const make = (options: LogBatcherOptions): Effect.Effect<LogBatcher, never, Scope.Scope> =>
  Effect.gen(function*() {
    const interval = Duration.toMillis(Duration.decode(options.interval ?? DEFAULT_INTERVAL))
    const maxBatch = Math.max(1, options.maxBatch ?? DEFAULT_MAX_BATCH)
    const maxPending = Math.max(maxBatch, options.maxPending ?? DEFAULT_MAX_PENDING)
    const maxLineChars = Math.max(16, options.maxLineChars ?? DEFAULT_MAX_LINE_CHARS)

    let pending: Array<LogLine> = []
    let dropped = 0
    // the first interval starts with the batcher: a short step's lines wait for its end
    let lastFlush = Date.now()
    // Coalescing wake-up signals from the producer to the flushing fiber.
    const arrived = yield* Queue.sliding<void>(1)
    const full = yield* Queue.sliding<void>(1)
    // One flush at a time (the background fiber and an explicit/final flush).
    const flushLock = yield* Effect.makeSemaphore(1)

    const clean = (message: string): string => {
      const redacted = options.redact(message)
      return redacted.length > maxLineChars ? `${redacted.slice(0, maxLineChars)} …[cut]` : redacted
    }

    const offer = (line: LogLine): Effect.Effect<void> =>
      Effect.sync(() => {
        if (pending.length >= maxPending) {
          dropped++
          return
        }
        pending.push(new LogLine({ level: line.level, message: clean(line.message), at: line.at }, true))
        if (pending.length === 1) arrived.unsafeOffer(undefined)
        if (pending.length >= maxBatch) full.unsafeOffer(undefined)
      })

    const log = (level: LogLevel, message: string): Effect.Effect<void> =>
      offer(new LogLine({ level, message, at: new Date().toISOString() }, true))

    /** Takes the next batch (≤ maxBatch lines, the drop notice first when lines were dropped). */
    const takeBatch = (): Array<LogLine> => {
      const batch: Array<LogLine> = []
      if (dropped > 0) {
        batch.push(
          new LogLine({
            level: "warn",
            message: `${dropped} log line(s) dropped: output came faster than it could be journaled`,
            at: new Date().toISOString()
          }, true)
        )
        dropped = 0
      }
      const n = Math.min(pending.length, maxBatch - batch.length)
      batch.push(...pending.slice(0, n))
      pending = pending.slice(n)
      return batch
    }

    const flushOnce = flushLock.withPermits(1)(Effect.suspend(() => {
      const batch = takeBatch()
      lastFlush = Date.now()
      return batch.length === 0
        ? Effect.void
        : options.sink(batch).pipe(Effect.catchAllCause((cause) => Effect.logWarning("log flush failed", cause)))
    })).pipe(Effect.uninterruptible)

    /** Flushes batch after batch while `more()` says lines are left to send. */
    const flushWhile = (more: () => boolean): Effect.Effect<void> =>
      Effect.suspend(() => more() ? Effect.zipRight(flushOnce, flushWhile(more)) : Effect.void)

    const flush = flushWhile(() => pending.length > 0 || dropped > 0)

    const loop = Effect.gen(function*() {
      while (true) {
        yield* Queue.take(arrived)
        while (pending.length > 0 || dropped > 0) {
          const wait = lastFlush + interval - Date.now()
          if (wait > 0 && pending.length < maxBatch) {
            yield* Queue.takeAll(full)
            if (pending.length < maxBatch) yield* Effect.race(Effect.sleep(Duration.millis(wait)), Queue.take(full))
          }
          yield* flushOnce
        }
      }
    })

    const fiber = yield* Effect.forkDaemon(loop)
    // Step ended (or was interrupted): stop the timer fiber (an in-flight sink call completes), send the rest.
    yield* Effect.addFinalizer(() => Fiber.interrupt(fiber).pipe(Effect.zipRight(flush)))

    const takeRest = Fiber.interrupt(fiber).pipe(
      // the full batches first: what is handed over fits in one
      Effect.zipRight(flushWhile(() => pending.length + (dropped > 0 ? 1 : 0) > maxBatch)),
      Effect.zipRight(flushLock.withPermits(1)(Effect.sync(takeBatch)))
    )
    return { offer, log, flush, takeRest }
  })
