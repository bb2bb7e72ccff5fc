/**
 * A project's registered settings, as the edge uses them: the operator's resource caps, the
 * settings an initialize / `POST /events` / `POST /prep` starts from, and the rule that a project
 * stays on the repository it was registered with (a different one → 409).
 */
import { BadRequest, IllegalTransition } from "@devteam/domain/Errors"
import type { EgressConfig, ExecutionConfig, ResourceConfig } from "@devteam/domain/ExecutionConfig"
import type { ProjectId } from "@devteam/domain/Ids"
import { ProjectSettings, ProjectView } from "@devteam/domain/ProjectsApi"
import * as EgressPolicy from "@devteam/runtime/EgressPolicy"
import { Projections } from "@devteam/runtime/Projections"
import type { ProjectRecord } from "@devteam/runtime/Projections"
import * as RepoUrl from "@devteam/runtime/RepoUrl"
import { Config, Effect, Option } from "effect"

/** Upper bounds on what a project may ask of a sandbox (its `resources`). */
export const ResourceCaps = Config.all({
  cpus: Config.number("SANDBOX_MAX_CPUS").pipe(
    Config.withDefault(16),
    Config.validate({ message: "SANDBOX_MAX_CPUS must be a number above 0", validation: (n) => n > 0 })
  ),
  memoryMiB: Config.integer("SANDBOX_MAX_MEMORY_MIB").pipe(
    Config.withDefault(65_536),
    Config.validate({ message: "SANDBOX_MAX_MEMORY_MIB must be at least 128", validation: (n) => n >= 128 })
  )
})
export type ResourceCaps = Config.Config.Success<typeof ResourceCaps>

/** 400 when `resources` asks for more than the operator allows. */
export const checkResources = (
  resources: ResourceConfig | undefined,
  caps: ResourceCaps
): Effect.Effect<void, BadRequest> => {
  if (resources?.cpus !== undefined && resources.cpus > caps.cpus) {
    return Effect.fail(
      new BadRequest({ message: `resources.cpus: at most ${caps.cpus} (SANDBOX_MAX_CPUS), got ${resources.cpus}` })
    )
  }
  if (resources?.memoryMiB !== undefined && resources.memoryMiB > caps.memoryMiB) {
    return Effect.fail(
      new BadRequest({
        message: `resources.memoryMiB: at most ${caps.memoryMiB} (SANDBOX_MAX_MEMORY_MIB), got ${resources.memoryMiB}`
      })
    )
  }
  return Effect.void
}

/** 400 when `egress` names a host the operator does not let projects add (EGRESS_PROJECT_ALLOW). */
export const checkEgress = (
  egress: EgressConfig | undefined,
  policy: Pick<EgressPolicy.EgressPolicySettings, "projectAllow">
): Effect.Effect<void, BadRequest> => {
  for (const step of ["implement", "verify"] as const) {
    const { refused } = EgressPolicy.projectAdditions(egress?.[step], policy)
    if (refused.length > 0) {
      return Effect.fail(
        new BadRequest({
          message: `egress.${step}: ${refused.join(", ")} not allowed for projects (EGRESS_PROJECT_ALLOW: ${
            policy.projectAllow.length === 0
              ? "empty"
              : policy.projectAllow.map((h) => `${h.host}:${h.port}`).join(", ")
          })`
        })
      )
    }
  }
  return Effect.void
}

/** The project's row, when it is known. */
export const record = (projectId: ProjectId) =>
  Effect.flatMap(Projections, (projections) => projections.project(projectId))

/** The settings a new execution starts from (the last registered or used ones), when the project is known. */
export const settingsOf = (known: Option.Option<ProjectRecord>): ExecutionConfig | undefined =>
  Option.getOrUndefined(Option.flatMap(known, (r) => Option.fromNullable(r.state.config)))

/**
 * 409 when `repoUrl` is not the repository the project is registered with (compared by identity:
 * `https://host/a/b.git` and `https://host/a/b` are one repository).
 */
export const requireSameRepository = (
  projectId: ProjectId,
  known: Option.Option<ProjectRecord>,
  repoUrl: string,
  allowFile: boolean
): Effect.Effect<void, IllegalTransition> => {
  const registered = settingsOf(known)
  if (registered === undefined || Option.isNone(known)) return Effect.void
  const identity = (url: string) =>
    Option.getOrUndefined(Option.map(
      Option.getRight(RepoUrl.parse(url.trim(), { allowFile })),
      (repo) => repo.identity
    ))
  const same = identity(repoUrl) === identity(registered.repoUrl) || repoUrl.trim() === registered.repoUrl
  return same ? Effect.void : Effect.fail(
    new IllegalTransition({
      command: "register",
      status: known.value.view.status,
      message: `project ${projectId} is registered with repository ${registered.repoUrl}; ` +
        "use that repoUrl (or omit it), or change the project's settings with PUT /api/devteam/projects/{projectId}"
    })
  )
}

export const projectView = (row: ProjectRecord): ProjectView => {
  const config = row.state.config
  return new ProjectView({
    projectId: row.view.projectId,
    customerId: row.view.customerId,
    settings: config === null ? null : new ProjectSettings({
      repoUrl: config.repoUrl,
      baseBranch: config.baseBranch,
      taskListPath: config.taskListPath,
      customerId: config.customerId,
      tool: config.tool,
      ...(config.model === undefined ? {} : { model: config.model }),
      ...(config.script === undefined ? {} : { script: config.script }),
      ...(config.verify === undefined ? {} : { verify: config.verify }),
      ...(config.onNoChange === undefined ? {} : { onNoChange: config.onNoChange }),
      ...(config.resources === undefined ? {} : { resources: config.resources }),
      ...(config.egress === undefined ? {} : { egress: config.egress })
    }),
    status: row.view
  })
}
