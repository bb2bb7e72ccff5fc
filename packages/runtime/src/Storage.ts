/**
 * Everything durable, on the configured database: the journal with its projections (the writer
 * the append uses, the query service over the read models), the
 * idempotency store, and the event bus (Redis when REDIS_URL is set, in-process otherwise).
 * Building the layer runs each module's migrations.
 */
import type { SqlClient } from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Layer } from "effect"
import type { ConfigError } from "effect/ConfigError"
import * as Database from "./Database.js"
import type { EventBus } from "./EventBus.js"
import * as EventBusRedis from "./EventBusRedis.js"
import * as IdempotencyStore from "./IdempotencyStore.js"
import * as Journal from "./Journal.js"
import * as Projections from "./Projections.js"
import type * as ProjectionWriter from "./ProjectionWriter.js"

export type Storage =
  | Journal.Journal
  | IdempotencyStore.IdempotencyStore
  | Projections.Projections
  | ProjectionWriter.ProjectionWriter
  | EventBus
  | SqlClient
  | Database.Database

/** Storage over an explicit database layer (tests: PGlite in memory, a per-test Postgres database). */
export const layerWith = <E, R>(
  database: Layer.Layer<SqlClient | Database.Database, E, R>,
  eventBus: Layer.Layer<EventBus, ConfigError> = EventBusRedis.layerConfig
): Layer.Layer<Storage, E | SqlError | ConfigError, R> =>
  Layer.mergeAll(Journal.layer, IdempotencyStore.layer).pipe(
    Layer.provideMerge(Projections.Projections.layer),
    Layer.provideMerge(eventBus),
    Layer.provideMerge(database)
  )

/** DATABASE_URL → Postgres, else embedded PGlite under DATA_DIR; REDIS_URL → Redis, else in-process. */
export const layer: Layer.Layer<Storage, SqlError | ConfigError> = layerWith(Database.layer)
