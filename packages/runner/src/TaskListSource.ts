/**
 * Where the runner reads a project's task list from: the repository's base branch, through the
 * runtime's `TaskListCache`. SELECT reads it fresh (a fetch, shared with any in flight); the
 * actor's reads and task edits answer from the cache (no git once warm).
 */
import type { ExecutionConfig } from "@devteam/domain/ExecutionConfig"
import type { TaskList } from "@devteam/domain/TaskList"
import * as TaskListCache from "@devteam/runtime/TaskListCache"
import { Context, Effect, Layer } from "effect"

export type TaskListError = TaskListCache.TaskListError

export class TaskListSource extends Context.Tag("@devteam/runner/TaskListSource")<TaskListSource, {
  /** The list as the remote has it now (waits for a fetch): what SELECT decides on. */
  readonly read: (config: ExecutionConfig) => Effect.Effect<TaskList, TaskListError>
  /** The cached list and its commit (waits for git only when cold, or with `refresh`). */
  readonly cached: (
    config: ExecutionConfig,
    options?: { readonly refresh?: boolean | undefined }
  ) => Effect.Effect<TaskListCache.CachedTaskList, TaskListError>
  /** The list as this runner just pushed it (UPDATE_TASKLIST's tick): cached without a fetch. */
  readonly remember: (config: ExecutionConfig, commit: string, source: string) => Effect.Effect<void>
}>() {}

export const make = Effect.gen(function*() {
  const cache = yield* TaskListCache.TaskListCache
  return TaskListSource.of({
    read: (config) => Effect.map(cache.read(config, { fresh: true }), (cached) => cached.list),
    cached: (config, options) => cache.read(config, { fresh: options?.refresh === true }),
    remember: cache.remember
  })
})

export const layer = Layer.effect(TaskListSource, make).pipe(Layer.provide(TaskListCache.layer))
