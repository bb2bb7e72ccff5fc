/**
 * Per-customer caps (issue 20: resource exhaustion): how many projects one customer may register
 * (`MAX_PROJECTS_PER_CUSTOMER`) and how many of its executions may wait for a slot at once
 * (`MAX_QUEUED_PER_CUSTOMER`; the running ones are capped per runner by
 * MAX_CONCURRENT_PER_CUSTOMER). Checked at the edge before anything is persisted; reaching one is
 * a 400 naming its variable. A project already registered is never refused by the project cap.
 */
import { BadRequest } from "@devteam/domain/Errors"
import type { CustomerId, ProjectId } from "@devteam/domain/Ids"
import { Projections } from "@devteam/runtime/Projections"
import type { ProjectRecord } from "@devteam/runtime/Projections"
import { Config, Effect, Option } from "effect"

export interface CustomerLimits {
  readonly maxProjects: number
  readonly maxQueued: number
}

export const CustomerLimitsConfig: Config.Config<CustomerLimits> = Config.all({
  maxProjects: Config.integer("MAX_PROJECTS_PER_CUSTOMER").pipe(
    Config.withDefault(1000),
    Config.validate({
      message: "MAX_PROJECTS_PER_CUSTOMER must be between 1 and 1000000",
      validation: (n) => n >= 1 && n <= 1_000_000
    }),
    Config.withDescription("projects one customer may register")
  ),
  maxQueued: Config.integer("MAX_QUEUED_PER_CUSTOMER").pipe(
    Config.withDefault(100),
    Config.validate({
      message: "MAX_QUEUED_PER_CUSTOMER must be between 1 and 1000000",
      validation: (n) => n >= 1 && n <= 1_000_000
    }),
    Config.withDescription("executions of one customer waiting (QUEUED) at once")
  )
})

/**
 * 400 when `projectId` is new and its customer already has `maxProjects` projects; for a start
 * (`queue`), also when the customer already has `maxQueued` executions waiting (this project's own
 * not counted). One count in the database.
 */
const requireRoom = (
  limits: CustomerLimits,
  customerId: CustomerId,
  projectId: ProjectId,
  known: Option.Option<ProjectRecord>,
  queue: boolean
) =>
  Effect.gen(function*() {
    if (Option.isSome(known) && !queue) return
    const counts = yield* (yield* Projections).customerCounts(customerId, projectId)
    if (Option.isNone(known) && counts.projects >= limits.maxProjects) {
      return yield* new BadRequest({
        message: `customer ${customerId} already has ${counts.projects} projects, the most allowed ` +
          `(MAX_PROJECTS_PER_CUSTOMER=${limits.maxProjects}); delete one first`
      })
    }
    if (queue && counts.queued >= limits.maxQueued) {
      return yield* new BadRequest({
        message: `customer ${customerId} already has ${counts.queued} executions waiting to run, the most allowed ` +
          `(MAX_QUEUED_PER_CUSTOMER=${limits.maxQueued}); wait for some to start or stop them`
      })
    }
  })

/** The project cap of a registration (`PUT /api/devteam/projects/{projectId}`). */
export const requireProjectRoom = (
  limits: CustomerLimits,
  customerId: CustomerId,
  projectId: ProjectId,
  known: Option.Option<ProjectRecord>
) => requireRoom(limits, customerId, projectId, known, false)

/** The project and queue caps of a start (`initialize`, `POST /events`). */
export const requireStartRoom = (
  limits: CustomerLimits,
  customerId: CustomerId,
  projectId: ProjectId,
  known: Option.Option<ProjectRecord>
) => requireRoom(limits, customerId, projectId, known, true)
