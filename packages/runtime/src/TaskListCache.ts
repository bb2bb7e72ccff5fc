/**
 * The parsed task list of each repository branch, with the base commit it came from, so that
 * task-list reads and task edits never wait for git once a list is warm.
 *
 * A repository (repoUrl + base branch) is fetched at most once per TASKLIST_REFRESH (10 s) by
 * readers: a read of a list older than that answers from the cache at once and starts one
 * refresh in the background. `fresh` reads (SELECT, `?refresh=true`) wait for a fetch. Every
 * reader of one repository — also from different projects — shares the fetch in flight (one
 * Deferred per repository), and nothing is held while a request is served. A failed background
 * refresh keeps the last good list. A list this runner has just pushed (UPDATE_TASKLIST's tick) is
 * remembered as it was pushed, without a fetch; the next fetch confirms it.
 */
import type { BranchNotFound, InvalidRepoUrl, RepositoryAccessDenied } from "@devteam/domain/Errors"
import { BadRequest, GitOperationFailed, TaskListNotFound } from "@devteam/domain/Errors"
import type { TaskList } from "@devteam/domain/TaskList"
import { parse } from "@devteam/domain/TaskListParser"
import { Clock, Config, Context, Deferred, Duration, Effect, Exit, FiberId, Layer, Option } from "effect"
import { type SyncResult, Workspace } from "./Workspace.js"

export type TaskListError =
  | BadRequest
  | InvalidRepoUrl
  | RepositoryAccessDenied
  | GitOperationFailed
  | BranchNotFound
  | TaskListNotFound

export interface TaskListLocation {
  readonly repoUrl: string
  readonly baseBranch: string
  readonly taskListPath: string
}

export interface CachedTaskList {
  readonly list: TaskList
  /** The base-branch commit the list was read at. */
  readonly commit: string
}

export interface ReadOptions {
  /** Wait for a fetch (shared with any in flight) instead of answering from the cache. */
  readonly fresh?: boolean | undefined
}

export class TaskListCache extends Context.Tag("@devteam/runtime/TaskListCache")<TaskListCache, {
  readonly read: (location: TaskListLocation, options?: ReadOptions) => Effect.Effect<CachedTaskList, TaskListError>
  /**
   * The list as this runner just pushed it (`source` at base commit `commit`): cached at once,
   * without a fetch, so that reads show the change; the next fetch confirms it.
   */
  readonly remember: (location: TaskListLocation, commit: string, source: string) => Effect.Effect<void>
}>() {}

export const TaskListCacheConfig = Config.duration("TASKLIST_REFRESH").pipe(Config.withDefault(Duration.seconds(10)))

/** The most tasks a task list may hold (a larger one is refused with a 400 naming the limit). */
export const TaskListMaxTasksConfig = Config.integer("TASKLIST_MAX_TASKS").pipe(
  Config.withDefault(5000),
  Config.validate({
    message: "TASKLIST_MAX_TASKS must be between 1 and 1000000",
    validation: (n) => n >= 1 && n <= 1_000_000
  }),
  Config.withDescription("The most tasks a task list may hold")
)

type SyncError = Exclude<TaskListError, TaskListNotFound | BadRequest>

interface RepositoryEntry {
  last: SyncResult | undefined
  fetchedAt: number
  inflight: Deferred.Deferred<SyncResult, SyncError> | undefined
  /**
   * `last.baseCommit` was remembered, not fetched: the cache's clone may not hold it, so a list
   * not known at that commit (another path) needs a fetch.
   */
  remembered: boolean
}

/** A path or branch git refused (they are validated at the edge, so this is unexpected) is a git failure. */
const asGitFailure = (error: BadRequest) =>
  new GitOperationFailed({ operation: "read task list", message: error.message })

export const make = (refresh: Duration.DurationInput, maxTasks = 5000) =>
  Effect.gen(function*() {
    const workspace = yield* Workspace
    const ttl = Duration.toMillis(Duration.decode(refresh))
    const repositories = new Map<string, RepositoryEntry>()
    const lists = new Map<string, { readonly commit: string; readonly list: Option.Option<TaskList> }>()

    const repositoryKey = (location: TaskListLocation) => `${location.repoUrl}\u0000${location.baseBranch}`
    const listKey = (sync: SyncResult, path: string) => `${sync.repoKey}\u0000${sync.baseBranch}\u0000${path}`

    /** One fetch per repository at a time: a reader that finds one in flight waits for it. */
    const fetch = (location: TaskListLocation): Effect.Effect<SyncResult, SyncError> =>
      Effect.suspend(() => {
        const key = repositoryKey(location)
        const entry = repositories.get(key) ?? { last: undefined, fetchedAt: 0, inflight: undefined, remembered: false }
        repositories.set(key, entry)
        if (entry.inflight !== undefined) return Deferred.await(entry.inflight)
        // made synchronously, so that checking for and registering the fetch in flight cannot interleave
        const done = Deferred.unsafeMake<SyncResult, SyncError>(FiberId.none)
        entry.inflight = done
        const sync = workspace.sync({ repoUrl: location.repoUrl, baseBranch: location.baseBranch }).pipe(
          Effect.catchTag("BadRequest", (error) => Effect.fail(asGitFailure(error))),
          Effect.exit,
          Effect.flatMap((exit) =>
            Effect.gen(function*() {
              if (Exit.isSuccess(exit)) {
                entry.last = exit.value
                entry.fetchedAt = yield* Clock.currentTimeMillis
                entry.remembered = false
              }
              entry.inflight = undefined
              yield* Deferred.done(done, exit)
            })
          )
        )
        // the fetch belongs to every reader: one reader giving up does not cancel it for the others
        return Effect.zipRight(Effect.forkDaemon(sync), Deferred.await(done))
      })

    /** The list at the synced commit: parsed once per commit and path. */
    const listAt = (sync: SyncResult, path: string): Effect.Effect<CachedTaskList, TaskListError> =>
      Effect.gen(function*() {
        const key = listKey(sync, path)
        const known = lists.get(key)
        const list = known !== undefined && known.commit === sync.baseCommit
          ? known.list
          // BadRequest here is the file's own fault (larger than the byte cap, not a regular file): a 400
          : yield* workspace.readTaskList({ repoPath: sync.repoPath, baseBranch: sync.baseBranch, path }).pipe(
            Effect.map(Option.map(parse)),
            Effect.tap((parsed) => Effect.sync(() => lists.set(key, { commit: sync.baseCommit, list: parsed })))
          )
        if (Option.isNone(list)) {
          return yield* new TaskListNotFound({
            path,
            message: `no task list at ${path} on branch ${sync.baseBranch}`
          })
        }
        if (list.value.tasks.length > maxTasks) {
          return yield* new BadRequest({
            message:
              `The task list ${path} holds ${list.value.tasks.length} tasks, more than the ${maxTasks} allowed ` +
              "(TASKLIST_MAX_TASKS); split it"
          })
        }
        return { list: list.value, commit: sync.baseCommit }
      })

    const read = (location: TaskListLocation, options?: ReadOptions) =>
      Effect.gen(function*() {
        const entry = repositories.get(repositoryKey(location))
        const last = entry?.last
        const unknownAtRemembered = entry?.remembered === true && last !== undefined &&
          lists.get(listKey(last, location.taskListPath))?.commit !== last.baseCommit
        if (options?.fresh === true || entry === undefined || last === undefined || unknownAtRemembered) {
          return yield* listAt(yield* fetch(location), location.taskListPath)
        }
        const now = yield* Clock.currentTimeMillis
        if (now - entry.fetchedAt >= ttl && entry.inflight === undefined) {
          yield* Effect.forkDaemon(
            fetch(location).pipe(
              Effect.flatMap((sync) => listAt(sync, location.taskListPath)),
              Effect.catchAll((error) =>
                Effect.logWarning("task list refresh failed; serving the last good list").pipe(
                  Effect.annotateLogs({ error: error.message })
                )
              )
            )
          )
        }
        return yield* listAt(last, location.taskListPath)
      }).pipe(Effect.withSpan("TaskListCache.read"))

    const remember = (location: TaskListLocation, commit: string, source: string) =>
      Effect.sync(() => {
        const entry = repositories.get(repositoryKey(location))
        // nothing synced yet, or a fetch in flight that may answer with an older commit: leave it to the fetch
        if (entry?.last === undefined || entry.inflight !== undefined) return
        const synced: SyncResult = { ...entry.last, baseCommit: commit }
        lists.set(listKey(synced, location.taskListPath), { commit, list: Option.some(parse(source)) })
        entry.last = synced
        entry.remembered = true
      })

    return TaskListCache.of({ read, remember })
  })

export const layer = Layer.effect(
  TaskListCache,
  Effect.flatMap(
    Config.all([TaskListCacheConfig, TaskListMaxTasksConfig]),
    ([refresh, maxTasks]) => make(refresh, maxTasks)
  )
)
