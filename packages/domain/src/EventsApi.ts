/**
 * Event ingestion, the seeds' primary path: `POST /events` persists the event and routes it to the
 * project's entity (same effect as `initialize`); `GET /events/{eventId}` returns the Event record.
 */
import { HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { Schema } from "effect"
import { eventIdParam, IdempotencyHeaders, requestBody } from "./ApiCommon.js"
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
  .add(
    HttpApiEndpoint.post("ingest", "/events")
      .setPayload(requestBody(IngestEventRequest))
      .setHeaders(IdempotencyHeaders)
      .addSuccess(IngestEventResponse, { status: 202 })
      .addError(InvalidRepoUrl)
      .addError(ProjectNotFound)
      .addError(IllegalTransition)
  )
  .add(
    HttpApiEndpoint.get("get")`/events/${eventIdParam}`
      .addSuccess(EventRecord)
      .addError(EventNotFound)
  )
  .addError(BadRequest)
  .middleware(Authentication)
{}
