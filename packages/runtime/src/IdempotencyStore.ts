/**
 * Durable idempotency keys (`Idempotency-Key` header / `idempotencyKey` body field).
 *
 * `begin` claims a key for one request: the first caller wins (`Started`: do the work, then
 * `complete` with the response, or `release` on failure); a repeat with the same request hash gets
 * the stored response (`Replay`), or `InProgress` while the winner still works; a different hash
 * is `Mismatch` (HTTP 422). Keys live `IDEMPOTENCY_TTL` (default 24 hours) and a scoped sweeper
 * deletes expired ones. A claim left pending longer than `IDEMPOTENCY_PENDING_TIMEOUT` (a crashed
 * winner) may be taken over. Concurrent first use of one key: the primary key `(scope, key)` and
 * `INSERT … ON CONFLICT DO NOTHING` make exactly one caller the winner, on Postgres and PGlite.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Clock, Config, type ConfigError, Context, Data, Duration, Effect, Layer, Schedule, Schema } from "effect"
import * as Crypto from "node:crypto"
import * as Migrations from "./internal/migrations.js"
import { DbNumber, DbTimestamp, jsonParam } from "./internal/sqlValues.js"

export type BeginResult = Data.TaggedEnum<{
  /** This caller holds the key: do the work, then `complete` (or `release`). */
  Started: {}
  /** The key was completed with the same request: answer with the stored response. */
  Replay: { readonly status: number; readonly body: unknown }
  /** Another request with this key is still being processed. */
  InProgress: {}
  /** The key was used with a different request (HTTP 422). */
  Mismatch: {}
}>
export const BeginResult = Data.taggedEnum<BeginResult>()

export interface IdempotencyKey {
  /** What the key is unique within, e.g. `POST /prep` plus the caller. */
  readonly scope: string
  readonly key: string
}

export interface IdempotencyStoreService {
  readonly begin: (input: IdempotencyKey & { readonly requestHash: string }) => Effect.Effect<BeginResult>
  readonly complete: (
    input: IdempotencyKey & { readonly status: number; readonly body: unknown }
  ) => Effect.Effect<void>
  /** Gives up a claim (the work failed): the next request with the key starts afresh. */
  readonly release: (input: IdempotencyKey) => Effect.Effect<void>
  /** Deletes expired keys now; returns how many. */
  readonly sweep: Effect.Effect<number>
}

export class IdempotencyStore extends Context.Tag("@devteam/runtime/IdempotencyStore")<
  IdempotencyStore,
  IdempotencyStoreService
>() {}

export const IdempotencyConfig = Config.all({
  ttl: Config.duration("IDEMPOTENCY_TTL").pipe(
    Config.validate({
      message: "IDEMPOTENCY_TTL must be at least 24 hours",
      validation: (d) => Duration.greaterThanOrEqualTo(d, Duration.hours(24))
    }),
    Config.withDefault(Duration.hours(24))
  ),
  pendingTimeout: Config.duration("IDEMPOTENCY_PENDING_TIMEOUT").pipe(Config.withDefault(Duration.minutes(15))),
  sweepInterval: Config.duration("IDEMPOTENCY_SWEEP_INTERVAL").pipe(Config.withDefault(Duration.minutes(10)))
})
export type IdempotencyConfig = Config.Config.Success<typeof IdempotencyConfig>

export const migrations: ReadonlyArray<Migrations.Migration> = [
  {
    id: 1,
    name: "idempotency_keys",
    statements: [
      `CREATE TABLE IF NOT EXISTS idempotency_keys (
        scope text NOT NULL,
        key text NOT NULL,
        request_hash text NOT NULL,
        state text NOT NULL CHECK (state IN ('pending', 'done')),
        status integer,
        body jsonb,
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (scope, key)
      )`,
      `CREATE INDEX IF NOT EXISTS idempotency_keys_expires_at_idx ON idempotency_keys (expires_at)`
    ]
  }
]

/** A stable hash of a request (method, path and canonical JSON of the body). */
export const hashRequest = (value: unknown): string =>
  Crypto.createHash("sha256").update(canonicalJson(value)).digest("hex")

const canonicalJson = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort((
      [a],
      [b]
    ) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`
  }
  return JSON.stringify(value) ?? "null"
}

const KeyRow = Schema.Struct({
  request_hash: Schema.String,
  state: Schema.Literal("pending", "done"),
  status: Schema.NullOr(DbNumber),
  body: Schema.Unknown,
  created_at: DbTimestamp,
  expires_at: DbTimestamp
})
const decodeKeyRow = Schema.decodeUnknown(KeyRow)

export const make = (
  config: IdempotencyConfig
): Effect.Effect<IdempotencyStoreService, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* Migrations.run("idempotency", migrations)
    const iso = (millis: number) => new Date(millis).toISOString()
    const ttl = Duration.toMillis(config.ttl)
    const pendingTimeout = Duration.toMillis(config.pendingTimeout)

    const begin = Effect.fn("IdempotencyStore.begin")(function*(
      input: IdempotencyKey & { readonly requestHash: string }
    ) {
      const { key, requestHash, scope } = input
      // a few rounds: a row we saw may expire or be released between our statements
      for (let round = 0; round < 5; round++) {
        const now = yield* Clock.currentTimeMillis
        const inserted = yield* sql`INSERT INTO idempotency_keys ${
          sql.insert({
            scope,
            key,
            request_hash: requestHash,
            state: "pending",
            status: null,
            body: null,
            created_at: iso(now),
            expires_at: iso(now + ttl)
          })
        } ON CONFLICT (scope, key) DO NOTHING RETURNING key`
        if (inserted.length > 0) return BeginResult.Started()
        const rows = yield* sql`SELECT request_hash, state, status, body, created_at, expires_at FROM idempotency_keys
          WHERE scope = ${scope} AND key = ${key}`
        if (rows[0] === undefined) continue // released meanwhile: try again
        const row = yield* Effect.orDie(decodeKeyRow(rows[0]))
        const expired = Date.parse(row.expires_at) <= now
        const abandoned = row.state === "pending" && Date.parse(row.created_at) + pendingTimeout <= now
        if (expired || abandoned) {
          // take the key over, unless someone else did first
          const taken = yield* sql`UPDATE idempotency_keys SET request_hash = ${requestHash}, state = 'pending',
            status = NULL, body = NULL, created_at = ${iso(now)}, expires_at = ${iso(now + ttl)}
            WHERE scope = ${scope} AND key = ${key} AND created_at = ${row.created_at} AND state = ${row.state}
            RETURNING key`
          if (taken.length > 0) return BeginResult.Started()
          continue
        }
        if (row.request_hash !== requestHash) return BeginResult.Mismatch()
        if (row.state === "pending") return BeginResult.InProgress()
        return BeginResult.Replay({ status: row.status ?? 200, body: row.body })
      }
      return BeginResult.InProgress()
    }, (effect, input) => effect.pipe(Effect.orDie, Effect.annotateLogs({ idempotencyScope: input.scope })))

    const complete = Effect.fn("IdempotencyStore.complete")(function*(
      input: IdempotencyKey & { readonly status: number; readonly body: unknown }
    ) {
      yield* sql`UPDATE idempotency_keys SET state = 'done', status = ${input.status},
        body = ${jsonParam(input.body === undefined ? null : input.body)}
        WHERE scope = ${input.scope} AND key = ${input.key}`
    }, Effect.orDie)

    const release = Effect.fn("IdempotencyStore.release")(function*(input: IdempotencyKey) {
      yield* sql`DELETE FROM idempotency_keys WHERE scope = ${input.scope} AND key = ${input.key} AND state = 'pending'`
    }, Effect.orDie)

    const sweep = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const deleted = yield* sql`DELETE FROM idempotency_keys WHERE expires_at <= ${iso(now)} RETURNING key`
      return deleted.length
    }).pipe(Effect.orDie, Effect.withSpan("IdempotencyStore.sweep"))

    return { begin, complete, release, sweep } satisfies IdempotencyStoreService
  })

/** The store plus its sweeper fiber (every `sweepInterval`, for the layer's lifetime). */
export const layerWith = (
  config: IdempotencyConfig
): Layer.Layer<IdempotencyStore, SqlError, SqlClient.SqlClient> =>
  Layer.scoped(
    IdempotencyStore,
    Effect.gen(function*() {
      const store = yield* make(config)
      yield* store.sweep.pipe(
        Effect.tap((deleted) =>
          deleted > 0 ? Effect.logDebug("expired idempotency keys deleted", { deleted }) : Effect.void
        ),
        Effect.catchAllCause((cause) => Effect.logWarning("idempotency sweep failed", cause)),
        Effect.schedule(Schedule.spaced(config.sweepInterval)),
        Effect.forkScoped
      )
      return store
    })
  )

/** `IDEMPOTENCY_TTL` (≥ 24 h, default 24 hours), `IDEMPOTENCY_PENDING_TIMEOUT` (15 minutes), `IDEMPOTENCY_SWEEP_INTERVAL` (10 minutes). */
export const layer: Layer.Layer<IdempotencyStore, SqlError | ConfigError.ConfigError, SqlClient.SqlClient> = Layer
  .unwrapEffect(Effect.map(IdempotencyConfig, layerWith))
