/**
 * The core runner API: `/prep`, `/implement`, `/verify` (one step through the project's entity,
 * serialised with automation) and `GET /tasks/next`.
 */
import { DevTeamApi } from "@devteam/domain/Api"
import { BadRequest, ProjectNotFound } from "@devteam/domain/Errors"
import { ProjectId } from "@devteam/domain/Ids"
import { ImplementResponse, PrepRequest, PrepResponse, VerifyResponse } from "@devteam/domain/RunnerApi"
import { Project } from "@devteam/runner/ProjectEntity"
import { Projections } from "@devteam/runtime/Projections"
import { RepositoryProbe } from "@devteam/runtime/RepositoryProbe"
import * as RepoUrl from "@devteam/runtime/RepoUrl"
import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import * as Access from "./Access.js"
import { deliver, STEP_TIMEOUT } from "./Delivery.js"
import { respond } from "./ErrorMiddleware.js"
import { idempotent, keyOf } from "./Idempotency.js"
import * as Projects from "./Projects.js"

/** `adhoc/<first 16 hex of sha256(normalised repoUrl)>`: the project of a `/prep` without projectId. */
export const adhocProjectId = (repo: RepoUrl.RepoUrl): ProjectId =>
  ProjectId.make(`adhoc/${createHash("sha256").update(repo.identity, "utf8").digest("hex").slice(0, 16)}`)

export const layer = HttpApiBuilder.group(DevTeamApi, "runner", (handlers) =>
  Effect.gen(function*() {
    const client = yield* Project.client
    const probe = yield* RepositoryProbe
    const allowFile = probe.allowFile

    return handlers
      .handle("prep", ({ headers, payload }) =>
        Effect.gen(function*() {
          const repo = yield* RepoUrl.validate(payload.repoUrl, { allowFile })
          const projectId = payload.projectId ?? adhocProjectId(repo)
          yield* Access.requireProject(projectId)
          yield* Projects.requireSameRepository(
            projectId,
            yield* Projects.record(projectId),
            payload.repoUrl,
            allowFile
          )
          // the host: allowed by the outbound policy (400 before the entity is asked)
          yield* probe.checkRepoUrl(payload.repoUrl)
          const request = new PrepRequest({ ...payload, projectId, repoUrl: payload.repoUrl.trim() })
          return yield* deliver(
            (meta) => client(projectId).Prep({ ...meta, request }),
            STEP_TIMEOUT
          ).pipe(Effect.catchTag("TaskNotFound", (error) => Effect.succeed(respond(error))))
        }).pipe(
          idempotent({
            route: "POST /prep",
            authorize: RepoUrl.validate(payload.repoUrl, { allowFile }).pipe(
              Effect.map((repo) => payload.projectId ?? adhocProjectId(repo)),
              Effect.tap(Access.requireProject)
            ),
            key: keyOf(headers["idempotency-key"], payload.idempotencyKey),
            request: payload,
            success: PrepResponse,
            status: 200
          })
        ))
      .handle("implement", ({ headers, payload }) =>
        Effect.gen(function*() {
          // authorised is enough: a project that only ever had /prep (e.g. an ad-hoc one) has no
          // journal, and the entity itself answers BranchNotFound when nothing was prepared
          yield* Access.requireProject(payload.projectId)
          return yield* deliver(
            (meta) => client(payload.projectId).Implement({ ...meta, request: payload }),
            STEP_TIMEOUT
          )
        }).pipe(
          idempotent({
            route: "POST /implement",
            authorize: Effect.as(Access.requireProject(payload.projectId), payload.projectId),
            key: keyOf(headers["idempotency-key"], payload.idempotencyKey),
            request: payload,
            success: ImplementResponse,
            status: 200
          })
        ))
      .handle("verify", ({ headers, payload }) =>
        Effect.gen(function*() {
          yield* Access.requireProject(payload.projectId)
          return yield* deliver(
            (meta) => client(payload.projectId).Verify({ ...meta, request: payload }),
            STEP_TIMEOUT
          ).pipe(Effect.catchTag("GitOperationFailed", (error) => Effect.succeed(respond(error))))
        }).pipe(
          idempotent({
            route: "POST /verify",
            authorize: Effect.as(Access.requireProject(payload.projectId), payload.projectId),
            key: keyOf(headers["idempotency-key"], payload.idempotencyKey),
            request: payload,
            success: VerifyResponse,
            status: 200
          })
        ))
      .handle("nextTask", ({ urlParams }) =>
        Effect.gen(function*() {
          const projections = yield* Projections
          let projectId: ProjectId
          if (urlParams.projectId !== undefined) {
            projectId = urlParams.projectId
          } else if (urlParams.customerId !== undefined) {
            const customerId = urlParams.customerId
            // before any lookup: a caller of another customer learns nothing about its projects
            yield* Access.requireCustomer(customerId)
            const projects = (yield* projections.projects).filter((p) => p.customerId === customerId)
            const [only] = projects
            if (only === undefined) {
              return yield* new ProjectNotFound({
                projectId: "",
                message: `customer ${customerId} has no project`
              })
            }
            if (projects.length > 1) {
              return yield* new BadRequest({
                message: `customerId: customer ${customerId} has ${projects.length} projects; pass projectId`
              })
            }
            projectId = only.projectId
          } else {
            return yield* new BadRequest({ message: "projectId: required (or customerId with exactly one project)" })
          }
          yield* Access.accessKnownProject(projectId)
          return yield* deliver((meta) =>
            client(projectId).NextTask({
              ...meta,
              excludeCompleted: urlParams.excludeCompleted ?? true,
              refresh: urlParams.refresh
            })
          ).pipe(
            Effect.catchTags({
              InvalidRepoUrl: (error) => Effect.succeed(respond(error)),
              RepositoryAccessDenied: (error) => Effect.succeed(respond(error)),
              BranchNotFound: (error) => Effect.succeed(respond(error)),
              IllegalTransition: (error) => Effect.succeed(respond(error))
            })
          )
        }))
  }))
