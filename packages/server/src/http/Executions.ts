/**
 * Starting an execution, shared by `POST /events` and `POST /api/devteam/automation/initialize`:
 * ids, the caller's user and customer, and (`POST /events` only) the Event record persisted before
 * the event goes to the project's entity. An `initialize` has its Event record written with the
 * execution's first journal entry instead.
 */
import * as Auth from "@devteam/domain/Auth"
import type { Principal } from "@devteam/domain/Auth"
import { EventData, EventRecord, TaskContext, TaskContextMetadata } from "@devteam/domain/EventRecord"
import { CustomerId, EventId, ExecutionId, type ProjectId, UserId } from "@devteam/domain/Ids"
import { Projections } from "@devteam/runtime/Projections"
import { DateTime, Effect, Option, Schema } from "effect"
import { randomUUID } from "node:crypto"

export const newExecutionId = () => ExecutionId.make(randomUUID())
export const newEventId = () => EventId.make(randomUUID())

/** The caller's user id when it is a valid `UserId` (executions are listed per user). */
export const callerUserId = (caller: Principal): UserId | undefined =>
  Option.getOrUndefined(Schema.decodeUnknownOption(UserId)(caller.userId))

/**
 * The user an execution is recorded for: the caller's own id, unless the caller is an admin (who
 * may start one on someone's behalf).
 */
export const executionUserId = (caller: Principal, requested: UserId | undefined): UserId | undefined =>
  Auth.isAdmin(caller) ? requested ?? callerUserId(caller) : callerUserId(caller)

/** A non-admin caller's own customer (the token's `customerId` claim), which its executions are recorded under. */
export const callerCustomerId = (caller: Principal): CustomerId | undefined =>
  Auth.isAdmin(caller) || caller.customerId === undefined
    ? undefined
    : Option.getOrUndefined(Schema.decodeUnknownOption(CustomerId)(caller.customerId))

/**
 * Persists the seed's Event record for a new execution (task_context starts empty). Its fields are
 * typed values the request's decoding and the handler produced: not validated again (true).
 */
export const recordEvent = (input: {
  readonly eventId: EventId
  readonly executionId: ExecutionId
  readonly projectId: ProjectId
  readonly correlationId: string
  readonly data: EventData
}) =>
  Effect.gen(function*() {
    const projections = yield* Projections
    const now = DateTime.formatIso(yield* DateTime.now)
    yield* projections.insertEventRecord(
      new EventRecord({
        id: input.eventId,
        workflow_type: "DEVTEAM_AUTOMATION",
        data: input.data,
        task_context: new TaskContext({
          nodes: {},
          metadata: new TaskContextMetadata({
            correlationId: input.correlationId,
            executionId: input.executionId,
            projectId: input.projectId
          }, true)
        }, true),
        created_at: now,
        updated_at: now
      }, true)
    )
  })
