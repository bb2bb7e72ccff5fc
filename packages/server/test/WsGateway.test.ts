import { EventBus } from "@devteam/runtime/EventBus"
import * as Journal from "@devteam/runtime/Journal"
import { assert, describe } from "@effect/vitest"
import { Array as Arr, Effect, Fiber, TestClock, TestContext } from "effect"
import * as H from "./fixtures/WsHarness.js"

const q = (params: Record<string, string | number>) =>
  "?" + Object.entries(params).map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`).join("&")

const strictlyIncreasing = (seqs: ReadonlyArray<number>) => seqs.every((seq, i) => i === 0 || seq > (seqs[i - 1] ?? 0))

const local = H.config(undefined)

describe("WsGateway (PGlite, in-process bus)", () => {
  H.onPglite(EventBus.layerMemory)(
    (it) => {
      it.scoped("authenticates at the upgrade (401), closes 1008 for a forbidden project, error frame on a forbidden subscribe", () =>
        Effect.gen(function*() {
          const gw = yield* H.startGateway(H.config(H.SECRET))
          const mine = H.projectId("auth")
          const theirs = H.projectId("other")
          const anonymous = yield* H.client(gw.url + q({ projectId: mine }))
          assert.strictEqual(yield* H.promise(() => anonymous.opened), 401)
          const forged = yield* H.client(gw.url + q({ token: yield* H.token({ projects: ["*"] }, "x".repeat(40)) }))
          assert.strictEqual(yield* H.promise(() => forged.opened), 401)

          const token = yield* H.token({ projects: [mine] })
          const forbidden = yield* H.client(gw.url + q({ projectId: theirs, token }))
          assert.strictEqual(yield* H.promise(() => forbidden.opened), "open")
          assert.strictEqual((yield* H.promise(() => forbidden.closed)).code, 1008)

          // token in the Authorization header; a forbidden subscribe is answered, the connection stays usable
          const c = yield* H.client(gw.url, { authorization: `Bearer ${token}` })
          assert.strictEqual(yield* H.promise(() => c.opened), "open")
          c.send({ type: "subscribe", projectId: theirs })
          yield* H.promise(() => c.waitFor((fs) => fs.some(H.isType("error"))))
          const error = c.frames.find(H.isType("error"))
          assert.strictEqual(error?.payload.projectId, theirs)
          c.send({ type: "subscribe", projectId: mine })
          c.send({ type: "ping" })
          yield* H.promise(() => c.waitFor((fs) => fs.some(H.isType("replay-complete")) && fs.some(H.isType("pong"))))
          assert.strictEqual(c.frames.find(H.isType("subscribed"))?.payload.projectId, mine)
          // plain HTTP on the WebSocket path
          const http = yield* H.promise(() => fetch(gw.url.replace("ws://", "http://")))
          assert.strictEqual(http.status, 426)
        }))

      it.scoped("a connection ends with 1008 when its token expires, on the service's clock (TestClock); an expired token is refused at the upgrade", () =>
        Effect.gen(function*() {
          // the gateway's timers run on the Effect clock: this test drives it
          yield* TestClock.setTime(Date.now())
          const gw = yield* H.startGateway(H.config(H.SECRET))
          const mine = H.projectId("expiry")
          // (not far off: moving the clock runs every timer due meanwhile, the feeds' 1 s journal poll too)
          const expiresAt = Math.floor(Date.now() / 1000) + 30
          const token = yield* H.token({ projects: [mine] }, H.SECRET, expiresAt)
          const c = yield* H.client(gw.url + q({ projectId: mine, token }))
          assert.strictEqual(yield* H.promise(() => c.opened), "open")
          yield* H.promise(() => c.waitFor((fs) => fs.some(H.isType("replay-complete"))))
          let closed: { code: number; reason: string } | undefined
          void c.closed.then((close) => (closed = close))
          // a second before the token's end: still open, and answering
          yield* TestClock.setTime(expiresAt * 1000 - 1000)
          c.send({ type: "ping" })
          yield* H.promise(() => c.waitFor((fs) => fs.some(H.isType("pong"))))
          assert.isUndefined(closed)
          // at its end: closed by the service
          yield* TestClock.setTime(expiresAt * 1000)
          assert.deepStrictEqual(yield* H.promise(() => c.closed), { code: 1008, reason: "token expired" })
          // a token already expired cannot open a connection
          const stale = yield* H.token({ projects: [mine] }, H.SECRET, Math.floor(Date.now() / 1000) - 10)
          const again = yield* H.client(gw.url + q({ projectId: mine, token: stale }))
          assert.strictEqual(yield* H.promise(() => again.opened), 401)
        }).pipe(Effect.provide(TestContext.TestContext)))

      it.scoped("replays after `since`, sends replay-complete, then live frames; several projects; unsubscribe", () =>
        Effect.gen(function*() {
          const journal = yield* Journal.Journal
          const gw = yield* H.startGateway(local)
          const p = H.projectId("replay")
          const w = H.writer(journal, p)
          yield* w.initialize
          for (let i = 0; i < 4; i++) yield* w.taskUpdate(i)
          const c = yield* H.client(gw.url + q({ projectId: p, since: 2 }))
          yield* H.promise(() => c.waitFor((fs) => fs.some(H.isType("replay-complete"))))
          assert.deepStrictEqual(c.frames.map((f) => f.type), [
            "subscribed",
            "task-updated",
            "task-updated",
            "task-updated",
            "replay-complete"
          ])
          assert.deepStrictEqual(c.frames[0]?.type === "subscribed" ? c.frames[0].payload.lastSeq : -1, 5)
          const complete = c.frames.find(H.isType("replay-complete"))
          assert.strictEqual(complete?.payload.lastSeq, 5)
          yield* w.taskUpdate(10)
          yield* w.log("hello")
          yield* H.promise(() => c.waitFor(() => c.journalSeqs(p).includes(7)))
          assert.deepStrictEqual(c.journalSeqs(p), [3, 4, 5, 6, 7])
          const log = c.frames.find(H.isType("execution-log"))
          assert.strictEqual(log?.payload.message, "hello")
          assert.strictEqual(log?.customerId, p.split("/")[0])

          // a second project on the same connection, from the start of its journal
          const p2 = H.projectId("second")
          const w2 = H.writer(journal, p2)
          yield* w2.initialize
          c.send({ type: "subscribe", projectId: p2, since: 0 })
          yield* H.promise(() => c.waitFor(() => c.journalSeqs(p2).includes(1)))
          yield* w2.update
          yield* H.promise(() => c.waitFor(() => c.journalSeqs(p2).includes(2)))
          assert.deepStrictEqual(c.journalSeqs(p2), [1, 2])
          assert.strictEqual(c.frames.filter(H.isType("execution-update")).at(-1)?.payload.status, "PAUSED")

          // unsubscribe: no more frames of that project
          c.send({ type: "unsubscribe", projectId: p })
          c.send({ type: "ping" })
          yield* H.promise(() => c.waitFor((fs) => fs.some(H.isType("pong"))))
          yield* w.taskUpdate(11)
          yield* w2.update
          yield* H.promise(() => c.waitFor(() => c.journalSeqs(p2).includes(3)))
          assert.deepStrictEqual(c.journalSeqs(p), [3, 4, 5, 6, 7])
        }))

      it.scoped("replay → live race: frames committed while clients subscribe arrive exactly once, in order", () =>
        Effect.gen(function*() {
          const journal = yield* Journal.Journal
          const gw = yield* H.startGateway(local)
          const p = H.projectId("race")
          const w = H.writer(journal, p)
          yield* w.initialize
          const total = 400
          // paced a little so that production spans the subscriptions (PGlite serialises every query)
          const producer = yield* Effect.fork(
            Effect.forEach(Arr.range(1, total), (i) => Effect.zipLeft(w.taskUpdate(i), Effect.sleep("1 millis")), {
              discard: true
            })
          )
          const clients: Array<{ readonly since: number | undefined; readonly client: H.Client }> = []
          for (let i = 0; i < 12; i++) {
            yield* Effect.sleep(`${5 + i * 2} millis`)
            const since = i % 3 === 2 ? undefined : i % 3 === 0 ? 0 : Math.max(0, w.seq() - 5)
            clients.push({
              since,
              client: yield* H.client(gw.url + q(since === undefined ? { projectId: p } : { projectId: p, since }))
            })
          }
          yield* Fiber.join(producer)
          const last = w.seq()
          assert.strictEqual(last, total + 1)
          let duringProduction = 0
          for (const { client, since } of clients) {
            yield* H.promise(() => client.waitFor((fs) => fs.some(H.isType("replay-complete"))))
            const subscribed = client.frames.find(H.isType("subscribed"))
            const from = since ?? subscribed?.payload.lastSeq ?? -1
            if ((subscribed?.payload.lastSeq ?? last) < last) duringProduction++
            if (from < last) yield* H.promise(() => client.waitFor(() => client.journalSeqs(p).at(-1) === last))
            assert.deepStrictEqual(
              client.journalSeqs(p),
              from < last ? Arr.range(from + 1, last) : [],
              `since ${since}`
            )
            const complete = client.frames.findIndex((f) => f.type === "replay-complete")
            assert.isTrue(complete > 0)
          }
          // the race was real: clients subscribed while frames were being committed
          assert.isAtLeast(duringProduction, 3)
        }))

      it.scoped(
        "coalesces execution-updates for a client that is behind (latest wins), never drops other frames",
        () =>
          Effect.gen(function*() {
            const journal = yield* Journal.Journal
            const gw = yield* H.startGateway(local, { highWaterBytes: 4096, maxBufferedBytes: 256 * 1024 * 1024 })
            const p = H.projectId("coalesce")
            const w = H.writer(journal, p)
            yield* w.initialize
            const c = yield* H.client(gw.url + q({ projectId: p }))
            yield* H.promise(() => c.waitFor((fs) => fs.some(H.isType("replay-complete"))))
            c.ws.pause()
            // fill the socket buffers until the gateway has to queue
            const filler = "x".repeat(60_000)
            let fills = 0
            while ((gw.connectionStats()[0]?.queuedFrames ?? 0) === 0 && fills < 1000) {
              yield* w.log(`${fills} ${filler}`)
              fills++
            }
            assert.isAbove(gw.connectionStats()[0]?.queuedFrames ?? 0, 0)
            for (let i = 0; i < 60; i++) yield* w.update
            const logSeq = yield* w.log("in between")
            for (let i = 0; i < 61; i++) yield* w.update
            const last = w.seq()
            assert.isAbove(gw.connectionStats()[0]?.coalesced ?? 0, 100)
            c.ws.resume()
            yield* H.promise(() => c.waitFor(() => c.journalSeqs(p).at(-1) === last, 30_000))
            const seqs = c.journalSeqs(p)
            assert.isTrue(strictlyIncreasing(seqs))
            const updates = c.frames.filter(H.isType("execution-update")).filter((f) => f.seq > 1)
            assert.isBelow(updates.length, 20)
            assert.include(seqs, logSeq)
            assert.strictEqual(updates.at(-1)?.payload.status, w.state().status)
            // every log line arrived (possibly merged into fewer frames)
            const lines = c.frames.filter(H.isType("execution-log")).flatMap((f) => f.payload.lines ?? [])
            assert.strictEqual(lines.length, fills + 1)
          }),
        { timeout: 60_000 }
      )

      it.scoped("closes a slow consumer with 1013 while other clients get every frame", () =>
        Effect.gen(function*() {
          const journal = yield* Journal.Journal
          const gw = yield* H.startGateway(local, {
            highWaterBytes: 64 * 1024,
            maxBufferedBytes: 2 * 1024 * 1024,
            closeGraceMillis: 30_000
          })
          const p = H.projectId("slow")
          const w = H.writer(journal, p)
          yield* w.initialize
          const slow = yield* H.client(gw.url + q({ projectId: p }))
          const fast = yield* H.client(gw.url + q({ projectId: p }))
          yield* H.promise(() => slow.waitFor((fs) => fs.some(H.isType("replay-complete"))))
          yield* H.promise(() => fast.waitFor((fs) => fs.some(H.isType("replay-complete"))))
          slow.ws.pause()
          const filler = "y".repeat(30_000)
          let logs = 0
          while (gw.stats().slowConsumerClosures === 0 && logs < 2000) {
            yield* w.log(`${logs} ${filler}`)
            logs++
            // paced on the fast client's reads: it stays within 20 frames (600 KB) of the writer, so
            // only the paused client can pass the 2 MiB limit however loaded the machine is
            if (logs % 20 === 0) {
              const written = w.seq()
              yield* H.promise(() => fast.waitFor(() => (fast.journalSeqs(p).at(-1) ?? 0) >= written, 30_000))
            }
          }
          assert.strictEqual(gw.stats().slowConsumerClosures, 1)
          for (let i = 0; i < 5; i++) yield* w.log(`after ${i}`)
          const last = w.seq()
          yield* H.promise(() => fast.waitFor(() => fast.journalSeqs(p).at(-1) === last, 30_000))
          assert.isTrue(strictlyIncreasing(fast.journalSeqs(p)))
          const lines = fast.frames.filter(H.isType("execution-log")).flatMap((f) => f.payload.lines ?? [])
          assert.strictEqual(lines.length, logs + 5)
          slow.ws.resume()
          const closed = yield* H.promise(() => slow.closed)
          assert.strictEqual(closed.code, 1013)
          assert.strictEqual(fast.ws.readyState, fast.ws.OPEN)
        }), { timeout: 60_000 })

      it.scoped("oversized (1009), malformed, binary and flooding clients; the others are unaffected", () =>
        Effect.gen(function*() {
          const gw = yield* H.startGateway(local, { messagesPerSecond: 50, floodCloseAfter: 1000 })
          const bystander = yield* H.client(gw.url)
          assert.strictEqual(yield* H.promise(() => bystander.opened), "open")

          const big = yield* H.client(gw.url)
          yield* H.promise(() => big.opened)
          big.send(JSON.stringify({ type: "ping", pad: "z".repeat(70 * 1024) }))
          assert.strictEqual((yield* H.promise(() => big.closed)).code, 1009)

          const c = yield* H.client(gw.url)
          yield* H.promise(() => c.opened)
          c.send("not json")
          c.send({ type: "subscribe" })
          c.send({ type: "launch-missiles" })
          c.ws.send(Buffer.from([1, 2, 3]))
          yield* H.promise(() => c.waitFor((fs) => fs.filter(H.isType("error")).length === 4))
          const messages = c.frames.filter(H.isType("error")).map((f) => f.payload.message)
          assert.match(messages[0] ?? "", /malformed/)
          assert.match(messages[3] ?? "", /binary/)
          const p = H.projectId("usable")
          c.send({ type: "subscribe", projectId: p })
          c.send({ type: "ping" })
          yield* H.promise(() => c.waitFor((fs) => fs.some(H.isType("pong")) && fs.some(H.isType("replay-complete"))))

          const flood = yield* H.client(gw.url)
          yield* H.promise(() => flood.opened)
          for (let i = 0; i < 3000; i++) flood.send({ type: "ping" })
          const closed = yield* H.promise(() => flood.closed)
          assert.strictEqual(closed.code, 1008)
          assert.isTrue(flood.frames.some((f) => f.type === "error" && /too many messages/.test(f.payload.message)))
          assert.isBelow(flood.frames.filter(H.isType("pong")).length, 200)

          bystander.send({ type: "ping" })
          yield* H.promise(() => bystander.waitFor((fs) => fs.some(H.isType("pong"))))
          c.send({ type: "ping" })
          yield* H.promise(() => c.waitFor((fs) => fs.filter(H.isType("pong")).length === 2))
        }))
    }
  )
})

describe("WsGateway keep-alive", () => {
  H.onPglite(EventBus.layerMemory)(
    (it) => {
      it.scoped("server pings, on the service's clock (TestClock), terminate a peer that does not answer; live peers stay", () =>
        Effect.gen(function*() {
          const gw = yield* H.startGateway(local, { heartbeatInterval: "30 seconds" })
          const dead = yield* H.client(gw.url, {}, false)
          const alive = yield* H.client(gw.url)
          assert.strictEqual(yield* H.promise(() => dead.opened), "open")
          assert.strictEqual(yield* H.promise(() => alive.opened), "open")
          let deadClosed: { code: number; reason: string } | undefined
          void dead.closed.then((close) => (deadClosed = close))
          /** A `ping` message answered: the server has read everything the peer sent before it (its pongs too). */
          const roundTrip = (n: number) =>
            Effect.suspend(() => {
              alive.send({ type: "ping" })
              return H.promise(() => alive.waitFor((fs) => fs.filter(H.isType("pong")).length === n))
            })
          // first round: both pinged; the live peer answers, the other does not — nobody is cut yet
          yield* TestClock.adjust("30 seconds")
          yield* roundTrip(1)
          assert.isUndefined(deadClosed)
          assert.strictEqual(gw.stats().connections, 2)
          // second round: the peer that did not answer the first is terminated
          yield* TestClock.adjust("30 seconds")
          assert.strictEqual((yield* H.promise(() => dead.closed)).code, 1006)
          yield* roundTrip(2)
          // and the live one outlasts more rounds
          yield* TestClock.adjust("30 seconds")
          yield* roundTrip(3)
          yield* TestClock.adjust("30 seconds")
          yield* roundTrip(4)
          assert.strictEqual(gw.stats().connections, 1)
        }).pipe(Effect.provide(TestContext.TestContext)))
    }
  )
})

describe("WsGateway with a silent event bus (Redis down)", () => {
  H.onPglite(EventBus.layerNoop)(
    (it) => {
      it.scoped("still delivers every frame, by polling the journal", () =>
        Effect.gen(function*() {
          const journal = yield* Journal.Journal
          const gw = yield* H.startGateway(local, { pollInterval: "100 millis" })
          const p = H.projectId("silent")
          const w = H.writer(journal, p)
          yield* w.initialize
          const c = yield* H.client(gw.url + q({ projectId: p, since: 0 }))
          yield* H.promise(() => c.waitFor((fs) => fs.some(H.isType("replay-complete"))))
          for (let i = 0; i < 5; i++) yield* w.taskUpdate(i)
          yield* H.promise(() => c.waitFor(() => c.journalSeqs(p).at(-1) === 6, 5_000))
          assert.deepStrictEqual(c.journalSeqs(p), [1, 2, 3, 4, 5, 6])
        }))
    }
  )
})
