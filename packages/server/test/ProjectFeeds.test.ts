import type { EncodedFrame } from "@devteam/domain/WsFrame"
import { EventBus } from "@devteam/runtime/EventBus"
import * as EventBusRedis from "@devteam/runtime/EventBusRedis"
import * as Journal from "@devteam/runtime/Journal"
import * as ProjectFeeds from "@devteam/server/ws/ProjectFeeds"
import { assert, describe } from "@effect/vitest"
import { Array as Arr, Context, Deferred, Effect, Layer } from "effect"
import * as H from "./fixtures/WsHarness.js"

/** Follows `project` from `since` for the scope; `done` completes once a frame with seq ≥ `until` arrived. */
const follow = (
  feeds: ProjectFeeds.ProjectFeeds,
  project: ReturnType<typeof H.projectId>,
  since: number | undefined,
  until: number
) =>
  Effect.gen(function*() {
    const events: Array<string> = []
    const frames: Array<EncodedFrame> = []
    const done = yield* Deferred.make<void>()
    yield* Effect.forkScoped(feeds.follow(project, since, {
      subscribed: (lastSeq) => events.push(`subscribed ${lastSeq}`),
      frame: (frame) => {
        frames.push(frame)
        if (frame.frame.seq >= until) Deferred.unsafeDone(done, Effect.void)
      },
      live: (lastSeq) => events.push(`live ${lastSeq}`),
      room: Effect.void
    }))
    return { events, frames, done: Deferred.await(done).pipe(Effect.timeout("20 seconds")) }
  })

describe("ProjectFeeds (PGlite)", () => {
  H.onPglite(EventBus.layerMemory)(
    (it) => {
      it.scoped("replay then live: no gap and no duplicate while frames are committed during the replay; frames the bus never carried come from the journal", () =>
        Effect.gen(function*() {
          const journal = yield* Journal.Journal
          const bus = yield* EventBus
          // a second writer whose appends are never published: their frames reach followers only from the journal
          const silent = yield* Effect.provide(Journal.make, EventBus.layerNoop)
          const project = H.projectId("feeds")
          const writer = H.writer(journal, project)
          for (let i = 1; i <= 30; i++) yield* writer.taskUpdate(i)
          const feeds = yield* ProjectFeeds.make(journal, bus, { pollInterval: "100 millis" })
          const total = 120
          const followed = yield* follow(feeds, project, 10, total)
          for (let i = 31; i <= total; i++) {
            // the last one is silent too: only the poll can find it
            yield* writer.taskUpdate(i, i % 4 === 0 || i === total ? silent : journal)
            if (i % 10 === 0) yield* Effect.sleep("2 millis")
          }
          yield* followed.done
          assert.deepStrictEqual(followed.frames.map((f) => f.frame.seq), Arr.range(11, total))
          assert.match(followed.events[0] ?? "", /^subscribed \d+$/)
          assert.isTrue(followed.events.some((e) => e.startsWith("live ")))
          // each frame's text is its encoding, whichever way it came
          for (const f of followed.frames) {
            assert.deepStrictEqual(JSON.parse(f.json), JSON.parse(JSON.stringify(f.frame)))
          }
          assert.strictEqual(feeds.size(), 1)
        }))

      it.scoped("from the end: only new frames, in order, live at once; two subscribers share one feed", () =>
        Effect.gen(function*() {
          const journal = yield* Journal.Journal
          const bus = yield* EventBus
          const project = H.projectId("feeds-end")
          const writer = H.writer(journal, project)
          yield* writer.taskUpdate(1)
          const feeds = yield* ProjectFeeds.make(journal, bus, { pollInterval: "1 hour" })
          const a = yield* follow(feeds, project, undefined, 15)
          const b = yield* follow(feeds, project, 0, 15)
          yield* Effect.sleep("50 millis")
          assert.deepStrictEqual(a.events, ["subscribed 1", "live 1"])
          for (let i = 2; i <= 15; i++) yield* writer.taskUpdate(i)
          yield* Effect.all([a.done, b.done])
          assert.deepStrictEqual(a.frames.map((f) => f.frame.seq), Arr.range(2, 15))
          assert.deepStrictEqual(b.frames.map((f) => f.frame.seq), Arr.range(1, 15))
          assert.strictEqual(feeds.size(), 1)
        }))
    }
  )

  H.onPglite(EventBus.layerNoop)(
    (it) => {
      it.scoped("frames appended by another process reach a follower live through Redis", () =>
        Effect.gen(function*() {
          // each "process" has its own journal and Redis connections, over one database
          const processJournal = Effect.gen(function*() {
            const context = yield* Layer.build(EventBusRedis.layer(H.redisUrl))
            const bus = Context.get(context, EventBus)
            return { bus, journal: yield* Effect.provideService(Journal.make, EventBus, bus) }
          })
          const writerSide = yield* processJournal
          const readerSide = yield* processJournal
          const project = H.projectId("feeds-redis")
          const writer = H.writer(writerSide.journal, project)
          yield* writer.taskUpdate(1)
          // no polling: after the replay, frames can only come from the bus
          const feeds = yield* ProjectFeeds.make(readerSide.journal, readerSide.bus, { pollInterval: "1 hour" })
          const followed = yield* follow(feeds, project, 0, 15)
          yield* Effect.sleep("100 millis")
          for (let i = 2; i <= 15; i++) yield* writer.taskUpdate(i)
          yield* followed.done
          assert.deepStrictEqual(followed.frames.map((f) => f.frame.seq), Arr.range(1, 15))
        }))
    }
  )
})
