/**
 * `POST /events` (the seeds' primary path) and `GET /events/{eventId}`.
 *
 * Ingest: only `DEVTEAM_AUTOMATION` (else 400); the ExecutionConfig is built from `data`
 * (repoUrl required for a project's first execution, then the previous one's is reused; defaults
 * base branch `main`, task list `docs/DevTeam/tasks_list.md`, tool `aider`, stopPoint from
 * options); the Event record is persisted first, then the persisted `IngestEvent` command is stored
 * for the entity (deduplicated by event id, redelivered after a crash) → 202 `{ task_id, event_id }`
 * without waiting for the entity. A project with an active execution → 409 (checked on the
 * projection first; a race that slips through is refused by the entity, and the event's
 * task_context then stays empty).
 */
import { DevTeamApi } from "@devteam/domain/Api"
import * as Auth from "@devteam/domain/Auth"
import { BadRequest, EventNotFound, IllegalTransition } from "@devteam/domain/Errors"
import { EventData } from "@devteam/domain/EventRecord"
import { IngestEventResponse } from "@devteam/domain/EventsApi"
import { DEFAULT_TASK_LIST_PATH, DEFAULT_TOOL, ExecutionConfig } from "@devteam/domain/ExecutionConfig"
import { isActive } from "@devteam/domain/ExecutionStatus"
import { customerIdOf, TaskId, UserId } from "@devteam/domain/Ids"
import { Project } from "@devteam/runner/ProjectEntity"
import * as Correlation from "@devteam/runtime/Correlation"
import { Projections } from "@devteam/runtime/Projections"
import { RepositoryProbe } from "@devteam/runtime/RepositoryProbe"
import { HttpApiBuilder } from "@effect/platform"
import { Effect, Option, Schema } from "effect"
import * as Access from "./Access.js"
import * as BaseBranch from "./BaseBranch.js"
import * as CustomerLimits from "./CustomerLimits.js"
import { deliver } from "./Delivery.js"
import { callerCustomerId, executionUserId, newEventId, newExecutionId, recordEvent } from "./Executions.js"
import { idempotent, keyOf } from "./Idempotency.js"
import * as Projects from "./Projects.js"

const decodeOption = <A, I>(schema: Schema.Schema<A, I>, value: unknown) =>
  Option.getOrUndefined(Schema.decodeUnknownOption(schema)(value))

export const layer = HttpApiBuilder.group(DevTeamApi, "events", (handlers) =>
  Effect.gen(function*() {
    const client = yield* Project.client
    const probe = yield* RepositoryProbe
    const allowFile = probe.allowFile
    const limits = yield* CustomerLimits.CustomerLimitsConfig

    return handlers
      .handle("ingest", ({ headers, payload }) =>
        Effect.gen(function*() {
          if (payload.workflow_type !== "DEVTEAM_AUTOMATION") {
            return yield* new BadRequest({
              message: `workflow_type: unknown workflow ${
                JSON.stringify(payload.workflow_type.slice(0, 100))
              } (only DEVTEAM_AUTOMATION is supported)`
            })
          }
          const data = payload.data
          const projectId = data.projectId
          yield* Access.requireProject(projectId)
          const caller = yield* Auth.CurrentPrincipal
          const known = yield* Projects.record(projectId)
          // the entity refuses a second active execution; the command is sent without waiting for
          // its answer, so the usual case is answered here (409) before anything is persisted
          if (Option.isSome(known) && isActive(known.value.view.status)) {
            const status = known.value.view.status
            return yield* new IllegalTransition({
              command: "initialize",
              status,
              message: `an execution is already ${status} for this project; stop it first`
            })
          }
          const previous = Projects.settingsOf(known)
          const repoUrl = data.repoUrl ?? previous?.repoUrl
          if (repoUrl === undefined) {
            return yield* new BadRequest({
              message: `data.repoUrl: required for the first execution of project ${projectId}`
            })
          }
          yield* probe.checkRepoUrl(repoUrl)
          yield* Projects.requireSameRepository(projectId, known, repoUrl, allowFile)
          const stopPointInput = data.options?.stopPoint
          const stopPoint = stopPointInput === undefined || stopPointInput === null
            ? undefined
            : decodeOption(TaskId, stopPointInput)
          if (stopPointInput !== undefined && stopPointInput !== null && stopPoint === undefined) {
            return yield* new BadRequest({ message: "data.options.stopPoint: must be a task id such as 1.2.3" })
          }
          const requested = data.userId === undefined ? undefined : decodeOption(UserId, data.userId)
          const userId = executionUserId(caller, requested)
          if (data.userId !== undefined && requested === undefined) {
            return yield* new BadRequest({ message: "data.userId: must not contain control characters or '/'" })
          }
          const customerId = callerCustomerId(caller) ?? previous?.customerId ?? customerIdOf(projectId)
          // the remote's default branch (a git round trip) is asked while the database counts
          const [baseBranch] = yield* Effect.all([
            BaseBranch.resolve(probe, repoUrl.trim(), previous?.baseBranch),
            CustomerLimits.requireStartRoom(limits, customerId, projectId, known)
          ], { concurrency: 2 })
          const config = new ExecutionConfig({
            repoUrl: repoUrl.trim(),
            baseBranch,
            taskListPath: previous?.taskListPath ?? DEFAULT_TASK_LIST_PATH,
            tool: previous?.tool ?? DEFAULT_TOOL,
            ...(previous?.model === undefined ? {} : { model: previous.model }),
            ...(previous?.script === undefined ? {} : { script: previous.script }),
            ...(previous?.verify === undefined ? {} : { verify: previous.verify }),
            ...(previous?.onNoChange === undefined ? {} : { onNoChange: previous.onNoChange }),
            ...(previous?.resources === undefined ? {} : { resources: previous.resources }),
            ...(previous?.egress === undefined ? {} : { egress: previous.egress }),
            ...(stopPoint === undefined ? {} : { stopPoint }),
            ...(userId === undefined ? {} : { userId }),
            customerId
          })
          const executionId = newExecutionId()
          const eventId = newEventId()
          const correlationId = yield* Correlation.CurrentCorrelationId
          yield* recordEvent({
            eventId,
            executionId,
            projectId,
            correlationId,
            data: new EventData({ ...data, repoUrl: config.repoUrl })
          })
          // 202-then-route: answered once the persisted command is stored; the entity runs it
          // at least once (deduplicated by event id), also after a crash
          yield* deliver<void, never, never>((meta) =>
            client(projectId).IngestEvent({ ...meta, executionId, eventId, config }, { discard: true })
          )
          return new IngestEventResponse({ task_id: executionId, event_id: eventId })
        }).pipe(
          idempotent({
            route: "POST /events",
            authorize: Effect.as(Access.requireProject(payload.data.projectId), payload.data.projectId),
            key: keyOf(headers["idempotency-key"], payload.data.options?.idempotencyKey),
            request: payload,
            success: IngestEventResponse,
            status: 202
          })
        ))
      .handle("get", ({ path }) =>
        Effect.gen(function*() {
          const projections = yield* Projections
          const record = yield* projections.eventRecord(path.eventId)
          if (Option.isNone(record)) {
            return yield* new EventNotFound({ eventId: path.eventId, message: `no event ${path.eventId}` })
          }
          yield* Access.requireProject(record.value.data.projectId)
          return record.value
        }))
  }))
