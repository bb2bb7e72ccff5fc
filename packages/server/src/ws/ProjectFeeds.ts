/**
 * The project feeds of one gateway process: for each (project, since) a subscriber asks for, one
 * gap-free, duplicate-free stream of the project's frames — the journal's first (replay), then
 * live — handed to it synchronously, in seq order, with the text the journal encoded.
 *
 * One live feed per project, shared by its subscribers: the event bus, a gap in its seqs filled
 * from the journal. One poller for every feed of the process: each `pollInterval` a single query
 * reads every followed project's last seq, and only a feed that is behind reads the journal (the
 * bus lost frames: Redis down…). A feed starts with its first subscriber (from the journal's last
 * seq) and stops with its last one; one whose start or catch-up dies (database down) tries again
 * after a backoff (capped), from its cursor, so nothing is skipped.
 *
 * Replay → live, per subscriber: it joins the feed first (frames are held back while it replays),
 * then pages through the journal from `since`, waiting for `room` between pages. After each page it
 * checks, synchronously, whether it has reached the feed's cursor; when it has, it turns live in
 * that same tick. From then on the feed hands it every frame after its cursor. Nothing can slip
 * between the last journal page and the first live frame, and nothing is delivered twice.
 */
import type { ProjectId } from "@devteam/domain/Ids"
import type { EncodedFrame } from "@devteam/domain/WsFrame"
import type { EventBusService } from "@devteam/runtime/EventBus"
import type { JournalService } from "@devteam/runtime/Journal"
import { Cause, Deferred, Duration, Effect, Fiber, Queue, Schedule, type Scope } from "effect"

/** What a subscriber receives, in this order: its starting point, the replay's frames, then live frames. */
export interface FeedSink {
  /** The journal's last seq when the subscription started (before any frame). */
  readonly subscribed: (lastSeq: number) => void
  readonly frame: (frame: EncodedFrame) => void
  /** The replay is over: every frame up to `lastSeq` was handed over; live frames follow. */
  readonly live: (lastSeq: number) => void
  /** Completes when the subscriber can take the next replay page (its outbox drained). */
  readonly room: Effect.Effect<void>
}

export interface ProjectFeeds {
  /**
   * Streams the project's frames with seq > `since` (undefined: from the journal's last seq) to
   * `sink` for the lifetime of the scope. Completes once the subscriber is live.
   */
  readonly follow: (
    projectId: ProjectId,
    since: number | undefined,
    sink: FeedSink
  ) => Effect.Effect<void, never, Scope.Scope>
  /** Projects with a running feed. */
  readonly size: () => number
}

const REPLAY_PAGE = 500
const CATCH_UP_PAGE = 500
/** Most projects in one poll query. */
const POLL_CHUNK = 1000

interface Subscriber {
  readonly sink: FeedSink
  /** The seq of the last frame handed to it (or of its starting point). */
  cursor: number
  live: boolean
}

interface Feed {
  /** Every frame with seq ≤ cursor was dispatched. */
  cursor: number
  readonly ready: Deferred.Deferred<void>
  readonly subscribers: Set<Subscriber>
  /**
   * Woken by the poller when the journal is ahead of the cursor (the last seq it saw), or with 0
   * by a live frame after a gap.
   */
  readonly behind: Queue.Queue<number>
  fiber: Fiber.RuntimeFiber<void> | undefined
}

export const make = (
  journal: JournalService,
  bus: EventBusService,
  options: { readonly pollInterval: Duration.DurationInput; readonly restartDelay?: Duration.DurationInput }
): Effect.Effect<ProjectFeeds, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const feeds = new Map<ProjectId, Feed>()
    const restartDelay = options.restartDelay ?? Duration.seconds(1)

    const dispatch = (feed: Feed, encoded: EncodedFrame) => {
      const seq = encoded.frame.seq
      if (seq <= feed.cursor) return
      feed.cursor = seq
      for (const subscriber of feed.subscribers) {
        if (subscriber.live && seq > subscriber.cursor) {
          subscriber.cursor = seq
          subscriber.sink.frame(encoded)
        }
      }
    }

    /** Every committed frame after the cursor, from the journal; then the cursor covers `upTo` too. */
    const catchUp = (projectId: ProjectId, feed: Feed, upTo: number) =>
      Effect.gen(function*() {
        while (true) {
          const page = yield* journal.readFrames(projectId, feed.cursor, CATCH_UP_PAGE)
          for (const frame of page) dispatch(feed, frame)
          if (page.length < CATCH_UP_PAGE) break
        }
        // entries without a frame (settings changes) up to `upTo` were committed before the read
        if (upTo > feed.cursor) feed.cursor = upTo
      })

    // A feed whose start or catch-up dies (database down) tries again after a backoff: exponential
    // from `restartDelay`, capped at 30 s, back to the start after a minute without trouble.
    const restartSchedule = Schedule.union(Schedule.exponential(restartDelay), Schedule.spaced("30 seconds")).pipe(
      Schedule.resetAfter("1 minute")
    )

    const run = (projectId: ProjectId, feed: Feed) => {
      let started = false
      const follow = Effect.scoped(Effect.gen(function*() {
        // Live frames are handled where the bus delivers them (synchronously, no queue): the next
        // one is dispatched at once; a gap (frames the bus lost or delivered out of order) wakes
        // this fiber to catch up from the journal. Until the cursor is known they are held.
        let held: Array<EncodedFrame> | undefined = []
        const onFrame = (frame: EncodedFrame) => {
          if (frame.frame.seq <= feed.cursor + 1) dispatch(feed, frame)
          else Queue.unsafeOffer(feed.behind, 0)
        }
        // subscribe first, so that nothing committed from now on can be missed
        yield* bus.subscribe(projectId, (frames) => {
          if (held !== undefined) held.push(...frames)
          else for (const frame of frames) onFrame(frame)
        })
        if (!started) {
          feed.cursor = yield* journal.lastSeq(projectId)
          started = true
          yield* Deferred.succeed(feed.ready, undefined)
        } else {
          yield* catchUp(projectId, feed, 0)
        }
        const early = held
        held = undefined
        for (const frame of early) onFrame(frame)
        while (true) {
          const upTo = yield* Queue.take(feed.behind)
          if (upTo === 0 || upTo > feed.cursor) yield* catchUp(projectId, feed, upTo)
        }
      }))
      // only ends by defect (database trouble): resume from the cursor after the backoff
      return follow.pipe(
        Effect.sandbox,
        Effect.tapError((cause) =>
          Effect.logWarning(
            started ? "WebSocket feed failed; restarting from its cursor" : "WebSocket feed could not start; retrying",
            cause
          )
        ),
        Effect.retry({ schedule: restartSchedule, while: (cause) => !Cause.isInterruptedOnly(cause) }),
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause) ? Effect.interrupt : Effect.logError("WebSocket feed ended", cause)
        ),
        Effect.annotateLogs({ projectId })
      )
    }

    // one poll for every feed: which projects' journals are ahead of their feeds
    const poll = Effect.gen(function*() {
      const projects = [...feeds.keys()]
      for (let i = 0; i < projects.length; i += POLL_CHUNK) {
        const last = yield* journal.lastSeqs(projects.slice(i, i + POLL_CHUNK))
        for (const [projectId, seq] of last) {
          const feed = feeds.get(projectId)
          if (feed !== undefined && seq > feed.cursor) yield* Queue.offer(feed.behind, seq)
        }
      }
    }).pipe(
      Effect.catchAllCause((cause) => Effect.logWarning("WebSocket feeds: journal poll failed", cause))
    )
    yield* Effect.forkIn(
      Effect.repeat(poll, Schedule.spaced(options.pollInterval)),
      scope
    )

    const join = (projectId: ProjectId, subscriber: Subscriber) =>
      Effect.acquireRelease(
        Effect.gen(function*() {
          let feed = feeds.get(projectId)
          if (feed === undefined) {
            const created: Feed = {
              cursor: 0,
              ready: yield* Deferred.make<void>(),
              subscribers: new Set(),
              behind: yield* Queue.sliding<number>(1),
              fiber: undefined
            }
            feeds.set(projectId, created)
            // acquire is uninterruptible and a fork inherits that: the feed itself must be interruptible
            created.fiber = yield* Effect.forkIn(Effect.interruptible(run(projectId, created)), scope)
            feed = created
          }
          feed.subscribers.add(subscriber)
          return feed
        }),
        (feed) =>
          Effect.suspend(() => {
            feed.subscribers.delete(subscriber)
            if (feed.subscribers.size > 0 || feeds.get(projectId) !== feed) return Effect.void
            feeds.delete(projectId)
            return feed.fiber === undefined ? Effect.void : Fiber.interruptFork(feed.fiber)
          })
      )

    const follow = (projectId: ProjectId, since: number | undefined, sink: FeedSink) =>
      Effect.gen(function*() {
        const subscriber: Subscriber = { sink, cursor: 0, live: false }
        const feed = yield* join(projectId, subscriber)
        yield* Deferred.await(feed.ready)
        const lastSeq = yield* journal.lastSeq(projectId)
        subscriber.cursor = since === undefined ? lastSeq : Math.min(since, lastSeq)
        sink.subscribed(lastSeq)
        while (true) {
          // the switch: checked and made in one synchronous step, so no feed frame can interleave
          const target = feed.cursor
          if (subscriber.cursor >= target) {
            subscriber.live = true
            sink.live(subscriber.cursor)
            return
          }
          const page = yield* journal.readFrames(projectId, subscriber.cursor, REPLAY_PAGE)
          for (const frame of page) {
            if (frame.frame.seq > subscriber.cursor) {
              subscriber.cursor = frame.frame.seq
              sink.frame(frame)
            }
          }
          // the journal's end at the time of the read: every entry up to `target` was committed
          // before it, frameless ones (settings changes) included
          if (page.length < REPLAY_PAGE && subscriber.cursor < target) subscriber.cursor = target
          yield* sink.room
        }
      })

    return { follow, size: () => feeds.size }
  })
