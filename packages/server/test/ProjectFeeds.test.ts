import { ExecutionCommand } from "@devteam/domain/ExecutionCommand"
import { decide, evolveEach } from "@devteam/domain/ExecutionMachine"
import { TaskId } from "@devteam/domain/Ids"
import { TaskPatch } from "@devteam/domain/Injection"
import { initial } from "@devteam/domain/ProjectState"
import type { EncodedFrame } from "@devteam/domain/WsFrame"
import * as Database from "@devteam/runtime/Database"
import { EventBus } from "@devteam/runtime/EventBus"
import * as EventBusRedis from "@devteam/runtime/EventBusRedis"
import * as Journal from "@devteam/runtime/Journal"
import * as ProjectFeeds from "@devteam/server/ws/ProjectFeeds"
import { assert, describe, layer } from "@effect/vitest"
import { Array as Arr, Context, Deferred, Effect, Either, Layer, Redacted } from "effect"
import * as H from "./fixtures/WsHarness.js"

const REDIS_URL = Redacted.make(process.env["TEST_REDIS_URL"] ?? "redis://127.0.0.1:6379")

/** One writer of `project` appending task-title updates through whichever journal it is given. */
const updater = (project: ReturnType<typeof H.projectId>) => {
  let state = initial(project)
  let seq = 0
  return (journal: Journal.JournalService, i: number) =>
    Effect.gen(function*() {
      const decision = decide(
        state,
        ExecutionCommand.UpdateTask({
          taskId: TaskId.make("T1"),
          patch: new TaskPatch({ title: `u${i}` }),
          at: new Date().toISOString()
        })
      )
      if (Either.isLeft(decision) || !Arr.isNonEmptyReadonlyArray(decision.right)) {
        return yield* Effect.dieMessage("update refused")
      }
      const steps = evolveEach(state, decision.right)
      const result = yield* Effect.orDie(
        journal.append({ projectId: project, expectedSeq: seq, steps, correlationId: "t" })
      )
      state = Arr.lastNonEmpty(steps).after
      seq = result.lastSeq
    })
}

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
  layer(H.storage(Database.layerPglite(undefined), EventBus.layerMemory), {
    timeout: 60_000,
    excludeTestServices: true
  })(
    (it) => {
      it.scoped("replay then live: no gap and no duplicate while frames are committed during the replay; frames the bus never carried come from the journal", () =>
        Effect.gen(function*() {
          const journal = yield* Journal.Journal
          const bus = yield* EventBus
          // a second writer whose appends are never published: their frames reach followers only from the journal
          const silent = yield* Effect.provide(Journal.make, EventBus.layerNoop)
          const project = H.projectId("feeds")
          const update = updater(project)
          for (let i = 1; i <= 30; i++) yield* update(journal, i)
          const feeds = yield* ProjectFeeds.make(journal, bus, { pollInterval: "100 millis" })
          const total = 120
          const followed = yield* follow(feeds, project, 10, total)
          for (let i = 31; i <= total; i++) {
            // the last one is silent too: only the poll can find it
            yield* update(i % 4 === 0 || i === total ? silent : journal, i)
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
          const update = updater(project)
          yield* update(journal, 1)
          const feeds = yield* ProjectFeeds.make(journal, bus, { pollInterval: "1 hour" })
          const a = yield* follow(feeds, project, undefined, 15)
          const b = yield* follow(feeds, project, 0, 15)
          yield* Effect.sleep("50 millis")
          assert.deepStrictEqual(a.events, ["subscribed 1", "live 1"])
          for (let i = 2; i <= 15; i++) yield* update(journal, i)
          yield* Effect.all([a.done, b.done])
          assert.deepStrictEqual(a.frames.map((f) => f.frame.seq), Arr.range(2, 15))
          assert.deepStrictEqual(b.frames.map((f) => f.frame.seq), Arr.range(1, 15))
          assert.strictEqual(feeds.size(), 1)
        }))
    }
  )

  layer(H.storage(Database.layerPglite(undefined), EventBus.layerNoop), { timeout: 60_000, excludeTestServices: true })(
    (it) => {
      it.scoped("frames appended by another process reach a follower live through Redis", () =>
        Effect.gen(function*() {
          // each "process" has its own journal and Redis connections, over one database
          const processJournal = Effect.gen(function*() {
            const context = yield* Layer.build(EventBusRedis.layer(REDIS_URL))
            const bus = Context.get(context, EventBus)
            return { bus, journal: yield* Effect.provideService(Journal.make, EventBus, bus) }
          })
          const writerSide = yield* processJournal
          const readerSide = yield* processJournal
          const project = H.projectId("feeds-redis")
          const update = updater(project)
          yield* update(writerSide.journal, 1)
          // no polling: after the replay, frames can only come from the bus
          const feeds = yield* ProjectFeeds.make(readerSide.journal, readerSide.bus, { pollInterval: "1 hour" })
          const followed = yield* follow(feeds, project, 0, 15)
          yield* Effect.sleep("100 millis")
          for (let i = 2; i <= 15; i++) yield* update(writerSide.journal, i)
          yield* followed.done
          assert.deepStrictEqual(followed.frames.map((f) => f.frame.seq), Arr.range(1, 15))
        }))
    }
  )
})
