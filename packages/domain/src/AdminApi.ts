/**
 * Maintainers' view (role `admin`): every project with its status, a project's journal, the
 * cluster, and Prometheus metrics.
 */
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { described, documented, projectIdParam } from "./ApiCommon.js"
import { Authentication } from "./Auth.js"
import { BadRequest, ProjectNotFound } from "./Errors.js"
import { ExecutionStatus } from "./ExecutionStatus.js"
import { CustomerId, ExecutionId, ProjectId, Timestamp } from "./Ids.js"

export class AdminProject extends Schema.Class<AdminProject>("AdminProject")({
  projectId: ProjectId,
  customerId: CustomerId,
  status: ExecutionStatus,
  executionId: Schema.NullOr(ExecutionId),
  currentTask: Schema.NullOr(Schema.String),
  progress: Schema.Number,
  lastSeq: Schema.Int,
  lastUpdate: Timestamp
}) {}

export class JournalParams extends Schema.Class<JournalParams>("JournalParams")({
  after: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative())),
  limit: Schema.optional(
    Schema.NumberFromString.pipe(Schema.int(), Schema.greaterThanOrEqualTo(1), Schema.lessThanOrEqualTo(1000))
  )
}) {}

export class JournalRecord extends Schema.Class<JournalRecord>("JournalRecord")({
  seq: Schema.Int,
  type: Schema.String,
  ts: Timestamp,
  executionId: Schema.NullOr(ExecutionId),
  correlationId: Schema.String,
  /** Who caused the entry (a token's `sub`, `local`); absent for the runner's own work. */
  principal: Schema.optional(Schema.String),
  data: Schema.Unknown
}) {}

export class JournalPage extends Schema.Class<JournalPage>("JournalPage")({
  events: Schema.Array(JournalRecord),
  /** Pass as `after` for the next page; null when this page reached the end. */
  nextAfter: Schema.NullOr(Schema.Int)
}) {}

export class ClusterRunner extends Schema.Class<ClusterRunner>("ClusterRunner")({
  address: Schema.String,
  healthy: Schema.Boolean,
  lastHeartbeat: Schema.NullOr(Timestamp)
}) {}

export class ClusterView extends Schema.Class<ClusterView>("ClusterView")({
  mode: Schema.String,
  runners: Schema.Array(ClusterRunner),
  shards: Schema.Array(
    Schema.Struct({ group: Schema.String, shard: Schema.Int, runner: Schema.NullOr(Schema.String) })
  ),
  activeEntities: Schema.Array(Schema.Struct({ projectId: Schema.String, runner: Schema.NullOr(Schema.String) }))
}) {}

export class AdminApi extends HttpApiGroup.make("admin")
  .annotateContext(
    described(
      "Operators (role `admin`): every project, a project's journal, the cluster's runners and shards, Prometheus metrics."
    )
  )
  .add(
    HttpApiEndpoint.get("projects", "/admin/projects")
      .annotateContext(
        documented(
          "Every project with its status (admin)",
          "All registered projects, any customer, with their execution status. Role `admin`."
        )
      ).addSuccess(Schema.Array(AdminProject))
  )
  .add(
    HttpApiEndpoint.get("journal")`/admin/projects/${projectIdParam}/journal`
      .annotateContext(
        documented(
          "A project's journal, oldest first (admin)",
          "The actor's journal entries after `after` (a seq), at most `limit`, with who caused each; `nextAfter` pages on. Role `admin`."
        )
      )
      .setUrlParams(JournalParams)
      .addSuccess(JournalPage)
      .addError(ProjectNotFound)
  )
  .add(
    HttpApiEndpoint.get("cluster", "/admin/cluster")
      .annotateContext(
        documented(
          "The cluster: runners, shards, active projects (admin)",
          "Runners with their addresses and health, the shard assignment and where each active project's actor runs. Role `admin`."
        )
      ).addSuccess(ClusterView)
  )
  .add(
    HttpApiEndpoint.get("metrics", "/metrics")
      .annotateContext(
        documented(
          "Prometheus metrics (admin)",
          "HTTP requests and latencies by route template, method and status; open WebSocket connections, frames sent and slow consumers closed. Prometheus text exposition format. Role `admin`."
        )
      ).addSuccess(HttpApiSchema.Text({ contentType: "text/plain" }))
  )
  .addError(BadRequest)
  .middleware(Authentication)
{}
