import * as IdempotencyStore from "@devteam/runtime/IdempotencyStore"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it, layer } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import * as Crypto from "node:crypto"
import { backends } from "./fixtures/Databases.js"

const key = () => Crypto.randomUUID()

const shortLived = IdempotencyStore.layerWith({
  ttl: Duration.millis(300),
  pendingTimeout: Duration.millis(150),
  sweepInterval: Duration.millis(100)
})

describe("hashRequest", () => {
  it("is independent of key order and sensitive to values", () => {
    const a = IdempotencyStore.hashRequest({ method: "POST", body: { b: 1, a: [1, { y: 2, x: 1 }] } })
    const b = IdempotencyStore.hashRequest({ body: { a: [1, { x: 1, y: 2 }], b: 1 }, method: "POST" })
    const c = IdempotencyStore.hashRequest({ body: { a: [1, { x: 1, y: 3 }], b: 1 }, method: "POST" })
    assert.strictEqual(a, b)
    assert.notStrictEqual(a, c)
    assert.match(a, /^[0-9a-f]{64}$/)
  })
})

for (const backend of backends) {
  const stack = Layer.provideMerge(IdempotencyStore.layer, backend.layer)
  layer(stack, { timeout: 120_000, excludeTestServices: true })(`IdempotencyStore (${backend.name})`, (it) => {
    it.effect("first use starts, a repeat replays the stored response, another body is a mismatch", () =>
      Effect.gen(function*() {
        const store = yield* IdempotencyStore.IdempotencyStore
        const k = { scope: "POST /prep", key: key() }
        assert.strictEqual((yield* store.begin({ ...k, requestHash: "h1" }))._tag, "Started")
        assert.strictEqual((yield* store.begin({ ...k, requestHash: "h1" }))._tag, "InProgress")
        assert.strictEqual((yield* store.begin({ ...k, requestHash: "h2" }))._tag, "Mismatch")
        yield* store.complete({ ...k, status: 202, body: { executionId: "e-1", nested: [1, "two"] } })
        const replay = yield* store.begin({ ...k, requestHash: "h1" })
        assert.deepStrictEqual(
          replay,
          IdempotencyStore.BeginResult.Replay({ status: 202, body: { executionId: "e-1", nested: [1, "two"] } })
        )
        assert.strictEqual((yield* store.begin({ ...k, requestHash: "h2" }))._tag, "Mismatch")
        // the same key in another scope is another key
        assert.strictEqual(
          (yield* store.begin({ scope: "POST /verify", key: k.key, requestHash: "h2" }))._tag,
          "Started"
        )
      }))

    it.effect("release gives the key up after a failure", () =>
      Effect.gen(function*() {
        const store = yield* IdempotencyStore.IdempotencyStore
        const k = { scope: "s", key: key() }
        assert.strictEqual((yield* store.begin({ ...k, requestHash: "h" }))._tag, "Started")
        yield* store.release(k)
        assert.strictEqual((yield* store.begin({ ...k, requestHash: "other" }))._tag, "Started")
        yield* store.complete({ ...k, status: 200, body: null })
        // a completed key is not released
        yield* store.release(k)
        assert.deepStrictEqual(
          yield* store.begin({ ...k, requestHash: "other" }),
          IdempotencyStore.BeginResult.Replay({ status: 200, body: null })
        )
      }))

    it.effect("concurrent first use of one key yields exactly one winner", () =>
      Effect.gen(function*() {
        const store = yield* IdempotencyStore.IdempotencyStore
        for (let round = 0; round < 5; round++) {
          const k = { scope: "race", key: key() }
          const results = yield* Effect.all(
            Array.from({ length: 12 }, () => store.begin({ ...k, requestHash: "same" })),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(results.filter((r) => r._tag === "Started").length, 1)
          assert.strictEqual(results.filter((r) => r._tag === "InProgress").length, 11)
        }
      }))

    it.effect("keys expire after the TTL, the sweeper deletes them, and an abandoned claim can be taken over", () =>
      Effect.gen(function*() {
        const store = yield* IdempotencyStore.IdempotencyStore
        const sql = yield* SqlClient.SqlClient
        const done = { scope: "ttl", key: key() }
        const abandoned = { scope: "ttl", key: key() }
        assert.strictEqual((yield* store.begin({ ...done, requestHash: "h" }))._tag, "Started")
        yield* store.complete({ ...done, status: 201, body: { ok: true } })
        assert.strictEqual((yield* store.begin({ ...abandoned, requestHash: "h" }))._tag, "Started")
        assert.strictEqual((yield* store.begin({ ...abandoned, requestHash: "h" }))._tag, "InProgress")
        yield* Effect.sleep("200 millis")
        // pending for longer than the pending timeout: a retry takes it over
        assert.strictEqual((yield* store.begin({ ...abandoned, requestHash: "h" }))._tag, "Started")
        yield* Effect.sleep("500 millis")
        const rows = yield* sql`SELECT key FROM idempotency_keys WHERE scope = 'ttl' AND key IN ${
          sql.in([done.key, abandoned.key])
        }`
        assert.strictEqual(rows.length, 0, "the sweeper did not delete the expired keys")
        assert.strictEqual((yield* store.begin({ ...done, requestHash: "new" }))._tag, "Started")
      }).pipe(Effect.provide(shortLived)))

    it.effect("the default TTL keeps a key at least 24 hours", () =>
      Effect.gen(function*() {
        const store = yield* IdempotencyStore.IdempotencyStore
        const sql = yield* SqlClient.SqlClient
        const k = { scope: "ttl-default", key: key() }
        yield* store.begin({ ...k, requestHash: "h" })
        const rows = yield* sql`SELECT EXTRACT(EPOCH FROM (expires_at - created_at))::float8 AS seconds
          FROM idempotency_keys WHERE scope = ${k.scope} AND key = ${k.key}`
        assert.isAtLeast(Number(rows[0]?.["seconds"]), 24 * 3600)
      }))
  })
}
