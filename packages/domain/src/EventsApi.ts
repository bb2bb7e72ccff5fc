/**
 * Event ingestion, the seeds' primary path: `POST /events` persists the event and routes it to the
 * project's entity (same effect as `initialize`); `GET /events/{eventId}` returns the Event record.
 */
import { HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { Schema } from "effect"
import { described, documented, eventIdParam, idempotent, requestBody } from "./ApiCommon.js"
import { Authentication } from "./Auth.js"
import { BadRequest, EventNotFound, IllegalTransition, InvalidRepoUrl, ProjectNotFound } from "./Errors.js"
import { EventData, EventRecord } from "./EventRecord.js"
import { EventId, ExecutionId } from "./Ids.js"

export class IngestEventRequest extends Schema.Class<IngestEventRequest>("IngestEventRequest")({
  /** Only `DEVTEAM_AUTOMATION` is known; anything else is 400. */
  workflow_type: Schema.String.pipe(Schema.maxLength(100)),
  data: EventData
}) {}

export class IngestEventResponse extends Schema.Class<IngestEventResponse>("IngestEventResponse")({
  task_id: ExecutionId,
  event_id: EventId
}) {}

export class EventsApi extends HttpApiGroup.make("events")
  .annotateContext(
    described(
      "Event ingestion, the event format's primary path: an automation event starts an execution; its record shows each node's progress."
    )
  )
  .add(
    HttpApiEndpoint.post("ingest", "/events")
      .annotateContext(
        documented(
          "Ingest an automation event (starts an execution)",
          "The event format's primary path: `workflow_type` must be `DEVTEAM_AUTOMATION` (else 400). The event is stored, then routed to the project's actor with the same effect as initialize: 202 with the execution id (`task_id`) and the event id. 409 when an execution is already active for the project."
        )
      )
      .setPayload(requestBody(IngestEventRequest))
      .pipe(idempotent)
      .addSuccess(IngestEventResponse, { status: 202 })
      .addError(InvalidRepoUrl)
      .addError(ProjectNotFound)
      .addError(IllegalTransition)
  )
  .add(
    HttpApiEndpoint.get("get")`/events/${eventIdParam}`
      .annotateContext(
        documented(
          "An ingested event with its task context",
          "The event record with `task_context`: the status, times and output of each pipeline node (SelectNode … UpdateTaskListNode), a projection of the journal current within a second of a step finishing."
        )
      )
      .addSuccess(EventRecord)
      .addError(EventNotFound)
  )
  .addError(BadRequest)
  .middleware(Authentication)
{}
