/**
 * Where the actor reads a project's task list from: the repository's base branch (fetched into
 * the workspace cache), parsed by the domain's lenient parser.
 */
import type { BadRequest, BranchNotFound, InvalidRepoUrl, RepositoryAccessDenied } from "@devteam/domain/Errors"
import { GitOperationFailed, TaskListNotFound } from "@devteam/domain/Errors"
import type { ExecutionConfig } from "@devteam/domain/ExecutionConfig"
import type { TaskList } from "@devteam/domain/TaskList"
import { parse } from "@devteam/domain/TaskListParser"
import { Workspace } from "@devteam/runtime/Workspace"
import { Context, Effect, Layer, Option } from "effect"

export type TaskListError =
  | InvalidRepoUrl
  | RepositoryAccessDenied
  | GitOperationFailed
  | BranchNotFound
  | TaskListNotFound

export class TaskListSource extends Context.Tag("@devteam/runner/TaskListSource")<TaskListSource, {
  readonly read: (config: ExecutionConfig) => Effect.Effect<TaskList, TaskListError>
}>() {}

/** A path or branch git refused (they are validated at the edge, so this is unexpected) is a git failure. */
const asGitFailure = (error: BadRequest) =>
  new GitOperationFailed({ operation: "read task list", message: error.message })

export const make = Effect.gen(function*() {
  const workspace = yield* Workspace
  return TaskListSource.of({
    read: (config) =>
      Effect.gen(function*() {
        const repo = yield* workspace.sync({ repoUrl: config.repoUrl, baseBranch: config.baseBranch })
        const text = yield* workspace.readTaskList({
          repoPath: repo.repoPath,
          baseBranch: repo.baseBranch,
          path: config.taskListPath
        })
        if (Option.isNone(text)) {
          return yield* new TaskListNotFound({
            path: config.taskListPath,
            message: `no task list at ${config.taskListPath} on branch ${repo.baseBranch}`
          })
        }
        return parse(text.value)
      }).pipe(
        Effect.catchTag("BadRequest", (error) => Effect.fail(asGitFailure(error))),
        Effect.withSpan("TaskListSource.read")
      )
  })
})

export const layer = Layer.effect(TaskListSource, make)
