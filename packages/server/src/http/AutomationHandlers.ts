/**
 * `/api/devteam/automation/*`: initialize (a new execution, 202), status (the projection — never
 * wakes the entity), pause / resume / stop (commands to the project's entity).
 */
import { DevTeamApi } from "@devteam/domain/Api"
import * as Auth from "@devteam/domain/Auth"
import { ControlResponse, InitializeResponse } from "@devteam/domain/AutomationApi"
import { BadRequest } from "@devteam/domain/Errors"
import { DEFAULT_TASK_LIST_PATH, DEFAULT_TOOL, ExecutionConfig } from "@devteam/domain/ExecutionConfig"
import { customerIdOf, type ProjectId } from "@devteam/domain/Ids"
import { Project } from "@devteam/runner/ProjectEntity"
import * as EgressPolicy from "@devteam/runtime/EgressPolicy"
import { RepositoryProbe } from "@devteam/runtime/RepositoryProbe"
import * as SandboxPolicy from "@devteam/runtime/SandboxPolicy"
import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import * as Access from "./Access.js"
import * as BaseBranch from "./BaseBranch.js"
import * as CustomerLimits from "./CustomerLimits.js"
import { COMMAND_TIMEOUT, deliver, notAnswered } from "./Delivery.js"
import { callerCustomerId, executionUserId, newEventId, newExecutionId } from "./Executions.js"
import { idempotent, keyOf } from "./Idempotency.js"
import * as Projects from "./Projects.js"

export const layer = HttpApiBuilder.group(DevTeamApi, "automation", (handlers) =>
  Effect.gen(function*() {
    const client = yield* Project.client
    const probe = yield* RepositoryProbe
    const allowFile = probe.allowFile
    const commandsNeedAdmin = SandboxPolicy.callerCommandsNeedAdmin(yield* SandboxPolicy.SandboxPolicyConfig)
    const caps = yield* Projects.ResourceCaps
    const limits = yield* CustomerLimits.CustomerLimitsConfig
    const egressPolicy = yield* EgressPolicy.EgressPolicyConfig
    const known = Access.makeKnownProjects()

    const control = (
      route: string,
      command: "Pause" | "Resume" | "Stop"
    ) =>
    (
      { headers, path }: {
        readonly path: { readonly projectId: ProjectId }
        readonly headers: { readonly "idempotency-key"?: string | undefined }
      }
    ) =>
      Effect.zipRight(
        known.require(path.projectId),
        // the database check and the command's time limit in one watch
        known.watch(
          path.projectId,
          deliver((meta) => client(path.projectId)[command](meta), null).pipe(
            Effect.catchTag(
              "IllegalTransition",
              (refused) => Effect.zipRight(known.recheck(path.projectId), Effect.fail(refused))
            )
          ),
          { timeout: COMMAND_TIMEOUT, onTimeout: notAnswered }
        )
      ).pipe(
        idempotent({
          route,
          authorize: Effect.as(Access.requireProject(path.projectId), path.projectId),
          key: headers["idempotency-key"],
          request: { projectId: path.projectId },
          success: ControlResponse,
          status: 200
        })
      )

    return handlers
      .handle("initialize", ({ headers, payload }) =>
        Effect.gen(function*() {
          yield* Access.requireProject(payload.projectId)
          yield* Access.requireCommandsAllowed(commandsNeedAdmin, payload)
          const caller = yield* Auth.CurrentPrincipal
          // a registered project starts from its settings; the request overrides them field by field
          const known = yield* Projects.record(payload.projectId)
          const settings = Projects.settingsOf(known)
          const repoUrl = payload.repoUrl ?? settings?.repoUrl
          if (repoUrl === undefined) {
            return yield* new BadRequest({
              message: `repoUrl: required (project ${payload.projectId} is not registered: pass repoUrl, or ` +
                "register it with PUT /api/devteam/projects/{projectId})"
            })
          }
          yield* probe.checkRepoUrl(repoUrl)
          yield* Projects.requireSameRepository(payload.projectId, known, repoUrl, allowFile)
          const resources = payload.resources ?? settings?.resources
          yield* Projects.checkResources(resources, caps)
          const egress = payload.egress ?? settings?.egress
          yield* Projects.checkEgress(egress, egressPolicy)
          // the token says who and for which customer, unless an admin says otherwise
          const userId = executionUserId(caller, payload.userId)
          const script = payload.script ?? settings?.script
          const verify = payload.verify ?? settings?.verify
          const onNoChange = payload.onNoChange ?? settings?.onNoChange
          const tool = payload.tool ?? settings?.tool ?? DEFAULT_TOOL
          // the project's model belongs to the project's agent: another tool named here starts from its own default
          const model = payload.model ?? (tool === settings?.tool ? settings.model : undefined)
          const customerId = (Auth.isAdmin(caller) ? payload.customerId : callerCustomerId(caller)) ??
            settings?.customerId ?? customerIdOf(payload.projectId)
          // the remote's default branch (a git round trip when none is named) is asked while the database counts
          const [baseBranch] = yield* Effect.all([
            BaseBranch.resolve(probe, repoUrl.trim(), payload.baseBranch ?? settings?.baseBranch),
            CustomerLimits.requireStartRoom(limits, customerId, payload.projectId, known)
          ], { concurrency: 2 })
          const config = new ExecutionConfig({
            repoUrl: repoUrl.trim(),
            baseBranch,
            taskListPath: payload.taskListPath ?? settings?.taskListPath ?? DEFAULT_TASK_LIST_PATH,
            tool,
            ...(model === undefined ? {} : { model }),
            ...(script === undefined ? {} : { script }),
            ...(payload.stopPoint === undefined ? {} : { stopPoint: payload.stopPoint }),
            ...(verify === undefined ? {} : { verify }),
            ...(onNoChange === undefined ? {} : { onNoChange }),
            ...(resources === undefined ? {} : { resources }),
            ...(egress === undefined ? {} : { egress }),
            ...(userId === undefined ? {} : { userId }),
            customerId
          })
          const executionId = newExecutionId()
          const eventId = newEventId()
          // the Event record (GET /events/{eventId}) is written with the execution's first journal
          // entry, in its transaction: a refused start leaves none behind
          const response = yield* deliver((meta) =>
            client(payload.projectId).Initialize({ ...meta, executionId, eventId, config })
          )
          return new InitializeResponse({ ...response })
        }).pipe(
          idempotent({
            route: "POST /api/devteam/automation/initialize",
            authorize: Access.requireProject(payload.projectId).pipe(
              Effect.zipRight(Access.requireCommandsAllowed(commandsNeedAdmin, payload)),
              Effect.as(payload.projectId)
            ),
            key: keyOf(headers["idempotency-key"], payload.idempotencyKey),
            request: payload,
            success: InitializeResponse,
            status: 202
          })
        ))
      .handle(
        "status",
        ({ path }) => Effect.zipRight(Access.requireProject(path.projectId), Access.knownProject(path.projectId))
      )
      .handle("pause", control("POST /api/devteam/automation/pause/{projectId}", "Pause"))
      .handle("resume", control("POST /api/devteam/automation/resume/{projectId}", "Resume"))
      .handle("stop", control("POST /api/devteam/automation/stop/{projectId}", "Stop"))
  }))
