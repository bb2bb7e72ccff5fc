import { CustomerId, ProjectId } from "@devteam/domain/Ids"
import { type EncodedFrame, encodeFrame } from "@devteam/domain/WsFrame"
import { EventBus, type EventBusService } from "@devteam/runtime/EventBus"
import * as EventBusRedis from "@devteam/runtime/EventBusRedis"
import { assert, describe, it } from "@effect/vitest"
import { Context, type Duration, Effect, Exit, Layer, Option, Redacted, Scope } from "effect"
import { Redis } from "ioredis"
import * as ChildProcess from "node:child_process"

const REDIS_URL = process.env["TEST_REDIS_URL"] ?? "redis://127.0.0.1:6379"

const projectId = (label: string) => ProjectId.make(`cust/${label}-${Math.random().toString(36).slice(2, 10)}`)

const frame = (project: ProjectId, seq: number): EncodedFrame =>
  encodeFrame({
    type: "execution-update",
    seq,
    ts: new Date(Date.UTC(2025, 0, 1, 0, 0, seq)).toISOString(),
    projectId: project,
    customerId: CustomerId.make("cust"),
    executionId: null,
    payload: { taskId: null, status: "QUEUED", progress: 0, event: "TaskUpdated" }
  })

/** Subscribes for the lifetime of `scope`, collecting frames into the returned array as they arrive. */
const collect = (bus: EventBusService, project: ProjectId, scope: Scope.Scope) =>
  Effect.gen(function*() {
    const received: Array<EncodedFrame> = []
    yield* Scope.extend(bus.subscribe(project, (frames) => received.push(...frames)), scope)
    return received
  })

const waitUntil = (condition: Effect.Effect<boolean>, timeout: Duration.DurationInput, message: string) =>
  condition.pipe(
    Effect.flatMap((ok) => ok ? Effect.succeed(true) : Effect.as(Effect.sleep("20 millis"), false)),
    Effect.repeat({ until: (ok) => ok }),
    Effect.timeoutOption(timeout),
    Effect.flatMap(Option.match({ onNone: () => Effect.dieMessage(message), onSome: () => Effect.void }))
  )

/** A bus of its own (as another process would have): its own publisher and subscriber connections. */
const redisBus = Effect.map(Layer.build(EventBusRedis.layer(Redacted.make(REDIS_URL))), Context.get(EventBus))

const rawRedis = Effect.acquireRelease(
  Effect.sync(() => new Redis(REDIS_URL, { maxRetriesPerRequest: 1, retryStrategy: () => 200 })),
  (client) => Effect.sync(() => client.disconnect())
)

const numsub = (client: Redis, channel: string) =>
  Effect.promise(() => client.pubsub("NUMSUB", channel)).pipe(Effect.map((reply) => Number(reply[1])))

const exec = (file: string, args: ReadonlyArray<string>) =>
  Effect.async<string, Error>((resume) => {
    ChildProcess.execFile(file, args, { timeout: 5000 }, (error, stdout) =>
      resume(error === null ? Effect.succeed(stdout.trim()) : Effect.fail(error)))
  })

const ping = exec("redis-cli", ["-h", "127.0.0.1", "-p", "6379", "ping"]).pipe(
  Effect.map((out) => out === "PONG"),
  Effect.orElseSucceed(() => false)
)

const stopRedis = exec("redis-cli", ["-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave"]).pipe(
  Effect.ignore,
  Effect.zipRight(waitUntil(Effect.map(ping, (up) => !up), "10 seconds", "redis did not stop"))
)

// the way the machine's Redis was started (see `ps aux | grep redis`): no persistence, loopback only
const startRedis = exec("redis-server", [
  "--daemonize",
  "yes",
  "--bind",
  "127.0.0.1",
  "-::1",
  "--port",
  "6379",
  "--save",
  "",
  "--appendonly",
  "no",
  "--dir",
  "/var/lib/redis",
  "--logfile",
  "/var/log/redis/ci.log"
]).pipe(Effect.ignore, Effect.zipRight(waitUntil(ping, "10 seconds", "redis did not start")))

const ensureRedisRunning = Effect.flatMap(ping, (up) => up ? Effect.void : startRedis).pipe(Effect.orDie)

describe("EventBus (in-process)", () => {
  it.live("delivers a project's frames to its subscribers only, in order, until they unsubscribe", () =>
    Effect.gen(function*() {
      const bus = yield* EventBus
      const a = projectId("a")
      const b = projectId("b")
      const scope1 = yield* Scope.make()
      const scope2 = yield* Scope.make()
      const first = yield* collect(bus, a, scope1)
      const second = yield* collect(bus, a, scope2)
      const other = yield* collect(bus, b, scope2)
      yield* bus.publish(a, [frame(a, 1), frame(a, 2)])
      yield* bus.publish(a, [frame(a, 3)])
      yield* waitUntil(Effect.sync(() => first.length === 3 && second.length === 3), "2 seconds", "not delivered")
      assert.deepStrictEqual(first.map((f) => f.frame.seq), [1, 2, 3])
      assert.deepStrictEqual(second.map((f) => f.frame.seq), [1, 2, 3])
      yield* Scope.close(scope1, Exit.void)
      yield* bus.publish(a, [frame(a, 4)])
      yield* waitUntil(Effect.sync(() => second.length === 4), "2 seconds", "not delivered after unsubscribe")
      assert.deepStrictEqual(first.map((f) => f.frame.seq), [1, 2, 3])
      assert.deepStrictEqual(other, [])
      yield* Scope.close(scope2, Exit.void)
    }).pipe(Effect.provide(EventBus.layerMemory)))

  it.live("hands frames over within publish; a subscriber that throws keeps neither the others nor publish from going on", () =>
    Effect.gen(function*() {
      const bus = yield* EventBus
      const a = projectId("a")
      const scope = yield* Scope.make()
      yield* Scope.extend(
        bus.subscribe(a, () => {
          throw new Error("a broken subscriber")
        }),
        scope
      )
      const received = yield* collect(bus, a, scope)
      yield* bus.publish(a, [frame(a, 1)])
      // synchronous: no fiber or queue in between
      assert.deepStrictEqual(received.map((f) => f.frame.seq), [1])
      yield* bus.publish(a, [frame(a, 2)])
      assert.deepStrictEqual(received.map((f) => f.frame.seq), [1, 2])
      yield* Scope.close(scope, Exit.void)
    }).pipe(Effect.provide(EventBus.layerMemory)))
})

describe("EventBus (Redis)", () => {
  it.live(
    "frames published by one process's bus reach another's subscribers; SUBSCRIBE is reference counted",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const publisherSide = yield* redisBus
        const subscriberSide = yield* redisBus
        assert.strictEqual(subscriberSide.kind, "redis")
        const raw = yield* rawRedis
        const project = projectId("redis")
        const channel = EventBusRedis.channelOf(project)
        const scope1 = yield* Scope.make()
        const scope2 = yield* Scope.make()
        const r1 = yield* collect(subscriberSide, project, scope1)
        const r2 = yield* collect(subscriberSide, project, scope2)
        assert.strictEqual(yield* numsub(raw, channel), 1, "one SUBSCRIBE per project and process")
        // both processes hold a separate publisher and subscriber connection
        const clients = yield* Effect.promise(() => raw.client("LIST"))
        assert.isAtLeast(String(clients).split("name=devteam-publisher").length - 1, 2)
        assert.isAtLeast(String(clients).split("name=devteam-subscriber").length - 1, 2)
        // the message on the wire is the JSON array of frames
        const sniffer = yield* rawRedis
        const wire: Array<string> = []
        sniffer.on("message", (_channel: string, message: string) => wire.push(message))
        yield* Effect.promise(() => sniffer.subscribe(channel))

        yield* publisherSide.publish(project, [frame(project, 1), frame(project, 2)])
        yield* publisherSide.publish(project, [frame(project, 3)])
        yield* waitUntil(Effect.sync(() => r1.length === 3 && r2.length === 3), "5 seconds", "frames did not arrive")
        assert.deepStrictEqual(r1.map((f) => f.frame.seq), [1, 2, 3])
        assert.deepStrictEqual(r2, r1)
        yield* waitUntil(Effect.sync(() => wire.length === 2), "5 seconds", "sniffer saw nothing")
        assert.strictEqual(JSON.parse(wire[0] ?? "[]")[1].seq, 2)
        // the texts the publisher encoded, passed through: no encoding on either side
        assert.strictEqual(wire[0], `[${frame(project, 1).json},${frame(project, 2).json}]`)
        assert.deepStrictEqual(r1.map((f) => f.json), [1, 2, 3].map((seq) => frame(project, seq).json))
        // another project's frames are not delivered here
        const elsewhere = projectId("elsewhere")
        yield* publisherSide.publish(elsewhere, [frame(elsewhere, 1)])

        yield* Scope.close(scope1, Exit.void)
        assert.strictEqual(yield* numsub(raw, channel), 2, "still subscribed while one local subscriber remains")
        yield* publisherSide.publish(project, [frame(project, 4)])
        yield* waitUntil(Effect.sync(() => r2.length === 4), "5 seconds", "frame 4 did not arrive")
        assert.strictEqual(r1.length, 3)
        assert.isTrue(r2.every((f) => f.frame.projectId === project))
        yield* Scope.close(scope2, Exit.void)
        yield* waitUntil(
          Effect.map(numsub(raw, channel), (n) => n === 1),
          "5 seconds",
          "the last unsubscribe did not UNSUBSCRIBE"
        )
      })),
    { timeout: 30_000 }
  )

  it.live(
    "survives a Redis restart: publishing while down does not fail, the subscriber reconnects and receives again",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const publisherSide = yield* redisBus
        const subscriberSide = yield* redisBus
        const project = projectId("restart")
        const scope = yield* Scope.make()
        const received = yield* collect(subscriberSide, project, scope)
        yield* publisherSide.publish(project, [frame(project, 1)])
        yield* waitUntil(Effect.sync(() => received.length === 1), "5 seconds", "frame 1 did not arrive")

        // Redis goes away; whatever happens next, it is started again
        yield* Effect.acquireRelease(stopRedis.pipe(Effect.orDie), () => ensureRedisRunning)
        yield* publisherSide.publish(project, [frame(project, 2)])
        // a new subscription while Redis is down completes (degraded) instead of hanging
        const lateScope = yield* Scope.make()
        const late = yield* collect(subscriberSide, projectId("late"), lateScope).pipe(Effect.timeout("5 seconds"))
        assert.deepStrictEqual(late, [])
        yield* startRedis.pipe(Effect.orDie)

        // keep publishing until the subscriber is back (reconnect with backoff + automatic re-SUBSCRIBE)
        let seq = 3
        yield* waitUntil(
          Effect.gen(function*() {
            yield* publisherSide.publish(project, [frame(project, seq++)])
            return received.some((f) => f.frame.seq >= 3)
          }),
          "20 seconds",
          "the subscriber did not recover after the restart"
        )
        const seqs = received.map((f) => f.frame.seq)
        assert.strictEqual(seqs[0], 1)
        assert.deepStrictEqual([...seqs].sort((x, y) => x - y), seqs, "frames out of order")
        yield* Scope.close(lateScope, Exit.void)
        yield* Scope.close(scope, Exit.void)
      })),
    { timeout: 60_000 }
  )
})
