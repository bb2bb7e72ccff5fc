/**
 * The `Project` entity's handlers: one actor per project.
 *
 * On activation the actor rebuilds its state from the journal (snapshot + later events). Every
 * command is validated by the domain state machine (`decide`); its events are appended to the
 * journal — the commit point — and only then applied in memory and answered. The running
 * execution is a fiber owned by the entity's scope, so stop, passivation, shutdown or failover
 * interrupt it and release everything it holds (queue slot, sandbox, workspace lock). An
 * execution found running on activation resumes by itself: the in-flight step runs again.
 */
import { ControlResponse, InitializeResponse } from "@devteam/domain/AutomationApi"
import { BadRequest, IllegalTransition, TaskNotFound } from "@devteam/domain/Errors"
import { ExecutionCommand } from "@devteam/domain/ExecutionCommand"
import {
  DEFAULT_BASE_BRANCH,
  DEFAULT_TASK_LIST_PATH,
  DEFAULT_TOOL,
  ExecutionConfig
} from "@devteam/domain/ExecutionConfig"
import { ExecutionError } from "@devteam/domain/ExecutionError"
import { canRunSingleStep, decide, evolveEach, expectedStep } from "@devteam/domain/ExecutionMachine"
import { isRunning, type Step } from "@devteam/domain/ExecutionStatus"
import { customerIdOf, ErrorId, type EventId, type ExecutionId, ProjectId } from "@devteam/domain/Ids"
import { InjectedTask } from "@devteam/domain/Injection"
import type { LogLine } from "@devteam/domain/JournalEvent"
import type { ProjectState } from "@devteam/domain/ProjectState"
import { BlockedTask, DiagnosticView, PlanResponse, TasksResponse } from "@devteam/domain/RepositoryApi"
import { NextTaskResponse } from "@devteam/domain/RunnerApi"
import { Task } from "@devteam/domain/Task"
import { summary, type TaskList } from "@devteam/domain/TaskList"
import { InjectTaskResponse } from "@devteam/domain/TasksApi"
import * as TaskSelection from "@devteam/domain/TaskSelection"
import * as Correlation from "@devteam/runtime/Correlation"
import { Journal } from "@devteam/runtime/Journal"
import type { CachedTaskList } from "@devteam/runtime/TaskListCache"
import { Entity } from "@effect/cluster"
import { PersistenceError } from "@effect/cluster/ClusterError"
import type { Sharding } from "@effect/cluster/Sharding"
import {
  Array as Arr,
  Cause,
  DateTime,
  Duration,
  Effect,
  Either,
  Exit,
  FiberHandle,
  Option,
  Predicate,
  Schedule,
  Schema,
  type Scope
} from "effect"
import { randomUUID } from "node:crypto"
import { ExecutionQueue } from "./ExecutionQueue.js"
import { Project } from "./ProjectEntity.js"
import { ProjectLimitsConfig } from "./ProjectLimits.js"
import { ProjectWorkTrees } from "./ProjectWorkTrees.js"
import { SingleSteps } from "./SingleSteps.js"
import * as StallWatchdog from "./StallWatchdog.js"
import { StepResult, StepRunner } from "./StepRunner.js"
import { type TaskListError, TaskListSource } from "./TaskListSource.js"

/**
 * The wait before the execution loop runs again after a run that journaled nothing (its next move
 * was refused, or the database failed): exponential from 200 ms, capped at 30 s.
 */
export const NO_PROGRESS_BACKOFF = Schedule.union(Schedule.exponential("200 millis"), Schedule.spaced("30 seconds"))

/** Output lines kept with a stalled step's error. */
const STALLED_LOG_LINES = 20

/** How long an idle project (no running execution) stays activated. */
export const DEFAULT_MAX_IDLE_TIME = Duration.minutes(1)

const now = Effect.map(DateTime.now, DateTime.formatIso)

const noConfig = (state: ProjectState) =>
  new IllegalTransition({
    command: "readTaskList",
    status: state.status,
    message: "this project has never been initialized: its repository is unknown (call initialize first)"
  })

export const layer = (options: { readonly maxIdleTime?: Duration.DurationInput } = {}) =>
  Project.toLayer(
    Effect.gen(function*() {
      const address = yield* Entity.CurrentAddress
      const projectId = yield* Schema.decodeUnknown(ProjectId)(address.entityId).pipe(Effect.orDie)
      const journal = yield* Journal
      const steps = yield* StepRunner
      const queue = yield* ExecutionQueue
      const taskLists = yield* TaskListSource
      const singleSteps = yield* SingleSteps
      // Absent (unit tests of the actor alone): no watchdog.
      const watchdog = yield* Effect.serviceOption(StallWatchdog.StallWatchdog)
      const workTrees = yield* ProjectWorkTrees
      // validated at start-up (StartupConfig): a value that does not parse never gets this far
      const limits = yield* Effect.orDie(ProjectLimitsConfig)
      // keepAlive needs the entity's address and the sharding service: captured once here.
      const keepAliveContext = yield* Effect.context<Sharding | Entity.CurrentAddress>()
      const keepAlive = (enabled: boolean) => Entity.keepAlive(enabled).pipe(Effect.provide(keepAliveContext))

      const loaded = yield* journal.load(projectId)
      // Which runner holds which project, for operators (LOG_LEVEL=debug) and the failover tests.
      yield* Effect.logDebug("project activated").pipe(Effect.annotateLogs({ projectId, lastSeq: loaded.lastSeq }))
      let state = loaded.state
      let lastSeq = loaded.lastSeq
      // Set when an append ended without a result (the database went away mid-append, the caller
      // was interrupted): it may or may not have been committed, so the in-memory state and lastSeq
      // can no longer be trusted. The next commit reloads them from the journal before deciding.
      let stale = false
      // Successful appends by this activation: how the execution loop tells progress from spinning.
      let commits = 0
      const lock = yield* Effect.makeSemaphore(1)
      const execution = yield* FiberHandle.make<void, never>()

      const reload = Effect.gen(function*() {
        const fresh = yield* journal.load(projectId)
        state = fresh.state
        lastSeq = fresh.lastSeq
        stale = false
      })

      /**
       * decide → evolve → append (the commit point) → take the new state. Serialised with the
       * execution fiber's commits.
       */
      const commit = (command: ExecutionCommand) =>
        lock.withPermits(1)(
          Effect.gen(function*() {
            if (stale) yield* reload
            const decision = decide(state, command)
            if (Either.isLeft(decision)) return yield* Effect.fail(decision.left)
            if (!Arr.isNonEmptyReadonlyArray(decision.right)) return state
            const evolved = evolveEach(state, decision.right)
            const correlationId = yield* Correlation.CurrentCorrelationId
            const principal = yield* Correlation.CurrentPrincipal
            const result = yield* journal.append({
              projectId,
              expectedSeq: lastSeq,
              steps: evolved,
              correlationId,
              principal
            }).pipe(
              Effect.onExit((exit) =>
                Effect.sync(() => {
                  if (Exit.isFailure(exit)) stale = true
                })
              ),
              Effect.catchTag("JournalFenced", (fenced) =>
                // Another activation wrote first: this one is stale. Reload, stop working, refuse.
                Effect.gen(function*() {
                  yield* reload
                  yield* Effect.logWarning("journal fenced: another activation of this project wrote first").pipe(
                    Effect.annotateLogs({ seq: fenced.seq })
                  )
                  return yield* Effect.dieMessage(`project ${projectId}: fenced at seq ${fenced.seq}`)
                }))
            )
            state = Arr.lastNonEmpty(evolved).after
            lastSeq = result.lastSeq
            commits++
            return state
          })
        )

      /** For commands whose decision can only be refused as an illegal transition. */
      const commitControl = (command: ExecutionCommand) =>
        commit(command).pipe(
          Effect.catchTag("BadRequest", (error) => Effect.dieMessage(`unexpected BadRequest: ${error.message}`))
        )

      /**
       * Pause / resume / stop: a journal that cannot be written (database down) answers the caller
       * at once with PersistenceError (503). As a defect it would restart the entity, and the
       * cluster would hold the command until the database is back. The next commit reloads first
       * (stale), so nothing half-known is kept.
       */
      const commitOperatorCommand = (command: ExecutionCommand) =>
        commitControl(command).pipe(
          Effect.catchSomeDefect((defect) =>
            Predicate.isTagged(defect, "SqlError")
              ? Option.some(Effect.fail(new PersistenceError({ cause: defect })))
              : Option.none()
          )
        )

      const appendLogs = (lines: ReadonlyArray<LogLine>) =>
        Effect.flatMap(now, (at) =>
          commit(ExecutionCommand.AppendLogs({
            taskId: state.currentTask?.id ?? null,
            step: state.cursor?.step ?? null,
            lines,
            at
          }))).pipe(
            Effect.asVoid,
            // A log batch that cannot be journaled (database down) must not end the step it describes.
            Effect.catchAllCause((cause) =>
              Cause.isInterruptedOnly(cause) ? Effect.interrupt : Effect.logWarning("log lines not journaled", cause)
            )
          )

      /** The step's failure when the stall watchdog ended it; its last output lines go with it. */
      const stalledError = (step: Step, stalled: StallWatchdog.StepStalled, lines: ReadonlyArray<string>) =>
        Effect.gen(function*() {
          const executionId = state.executionId
          if (executionId === null) return yield* Effect.dieMessage(`${step} outside an execution`)
          return new ExecutionError({
            errorId: ErrorId.make(randomUUID()),
            executionId,
            projectId,
            taskId: step === "SELECT" ? null : (state.currentTask?.id ?? null),
            step,
            category: "stalled",
            message: `${step} stalled: ${stalled.message}`,
            details: { idleMillis: stalled.idleMillis },
            logs: lines,
            attempts: state.cursor?.attempt ?? 1,
            occurredAt: yield* now
          })
        })

      /** One step: start it (journaled), run it, journal its outcome. */
      const runStep = (executionScope: Scope.Scope) =>
        Effect.gen(function*() {
          const step = expectedStep(state)
          yield* commit(ExecutionCommand.StartStep({ step, taskId: state.currentTask?.id ?? null, at: yield* now }))
          const correlationId = yield* Correlation.CurrentCorrelationId
          // Output is the step's sign of life for the stall watchdog.
          let lastActivity = Date.now()
          let lastLines: Array<string> = []
          const log = (lines: ReadonlyArray<LogLine>) =>
            Effect.suspend(() => {
              lastActivity = Date.now()
              lastLines = [...lastLines, ...lines.map((l) => l.message)].slice(-STALLED_LOG_LINES)
              return appendLogs(lines)
            })
          const running = steps.run(step, { state, correlationId, log, executionScope })
          const result = yield* Option.match(watchdog, {
            onNone: () => running,
            onSome: ({ timeout }) =>
              StallWatchdog.guard(running, timeout, () => lastActivity).pipe(
                Effect.catchTag("StepStalled", (stalled) =>
                  Effect.zipRight(
                    Effect.logWarning("step stalled; ended by the watchdog").pipe(Effect.annotateLogs({ step })),
                    Effect.flip(stalledError(step, stalled, lastLines))
                  ))
              )
          }).pipe(Effect.either)
          const at = yield* now
          if (Either.isLeft(result)) {
            return yield* commit(ExecutionCommand.FailStep({ error: result.left, at }))
          }
          return yield* StepResult.$match(result.right, {
            Completed: ({ outcome }) => commit(ExecutionCommand.CompleteStep({ outcome })),
            Finished: (figures) => commit(ExecutionCommand.Finish({ ...figures, at }))
          })
        })

      /** One run of the execution: waits for a queue slot, then runs steps until it pauses or ends. */
      const runOnce = Effect.gen(function*() {
        yield* queue.acquire(projectId, state.customerId)
        const executionScope = yield* Effect.scope
        while (isRunning(state.status)) {
          // At the top of this loop no step of this run is in flight: either the last one ended, or
          // the one the journal shows running was interrupted (crash, failover, database outage)
          // and re-runs on resume. Either way this is a boundary where a pending pause applies.
          if (state.pauseRequested) {
            yield* commit(ExecutionCommand.PauseAtBoundary({ at: yield* now }))
            break
          }
          yield* runStep(executionScope)
        }
      }).pipe(
        // The slot, the sandbox and every per-execution resource are released here.
        Effect.scoped,
        // A command that raced us (stop, pause) made our next move illegal: this run just ends.
        Effect.catchTag("IllegalTransition", "BadRequest", () => Effect.void)
      )

      // Whether an execution fiber owns the loop. Read and written under the commit lock only, so
      // that "the loop ends" and "a command made the execution run again" cannot miss each other.
      let loopActive = false

      /** Ends the loop's ownership; under the lock so a new loop's keepAlive(true) always comes after. */
      const release = Effect.gen(function*() {
        loopActive = false
        yield* keepAlive(false)
      })

      /** Decides, atomically with commits, whether the loop must run again or may end. */
      const continueOrEnd = lock.withPermits(1)(Effect.gen(function*() {
        if (isRunning(state.status)) return true
        yield* release
        return false
      }))

      // The execution this fiber runs, read when it starts (not when the actor was built: that
      // stamped every line with "none", or with the previous execution's id).
      const loop = Effect.suspend(() => {
        const executionId = state.executionId ?? "none"
        return loopBody.pipe(
          // Interrupted (stop, pause while queued, passivation) or died: give up ownership too.
          Effect.onError(() => lock.withPermits(1)(release)),
          Correlation.withCorrelationId(`execution-${executionId}`),
          // the pipeline's own steps are nobody's command (the fiber may be started inside one)
          Effect.provideService(Correlation.CurrentPrincipal, undefined),
          Effect.annotateLogs({ projectId, executionId })
        )
      })

      const loopBody = Effect.gen(function*() {
        const backoff = yield* Schedule.driver(NO_PROGRESS_BACKOFF)
        do {
          const before = commits
          // each pass under the execution it works for (a loop never outlives its execution, but
          // the annotation must not depend on that)
          yield* Effect.annotateLogs(runOnce, { executionId: state.executionId ?? "none" })
          if (commits === before) {
            // A run that journaled nothing would fail the same way at once: never retry it hot.
            yield* Effect.logWarning("execution loop made no progress; retrying after a backoff")
            yield* backoff.next(undefined).pipe(Effect.ignore)
          } else {
            yield* backoff.reset
          }
        } while (yield* continueOrEnd)
      })

      /** Starts the execution fiber when the state says the execution runs and no fiber owns the loop. */
      const ensureRunning = Effect.gen(function*() {
        const start = yield* lock.withPermits(1)(Effect.sync(() => {
          if (loopActive || !isRunning(state.status)) return false
          loopActive = true
          return true
        }))
        if (!start) return
        yield* keepAlive(true)
        yield* FiberHandle.run(execution, loop)
      })

      const stopExecution = FiberHandle.clear(execution)

      const control = (s: ProjectState) =>
        new ControlResponse({
          projectId,
          executionId: s.executionId,
          status: s.status,
          pauseRequested: s.pauseRequested
        })

      /** The task list from the cache (git only when cold, or on `refresh`), with the commit it reflects. */
      const readCached = (refresh?: boolean) =>
        Effect.suspend((): Effect.Effect<CachedTaskList, TaskListError | IllegalTransition> => {
          const config = state.config
          return config === null ? Effect.fail(noConfig(state)) : taskLists.cached(config, { refresh })
        })
      const readList = Effect.map(readCached(), (cached): TaskList => cached.list)

      // Resume whatever was in flight when this project was last active (crash, failover, wake).
      yield* ensureRunning

      const withContext = <A, E, R>(
        meta: string | { readonly correlationId: string; readonly principal?: string | undefined },
        effect: Effect.Effect<A, E, R>
      ) => {
        const { correlationId, principal } = typeof meta === "string"
          ? { correlationId: meta, principal: undefined }
          : meta
        return effect.pipe(
          Correlation.withCorrelationId(correlationId),
          Effect.provideService(Correlation.CurrentPrincipal, principal),
          Effect.annotateLogs({ projectId })
        )
      }

      const initialize = (payload: {
        readonly correlationId: string
        readonly executionId: ExecutionId
        readonly eventId: EventId
        readonly config: ExecutionConfig
      }) =>
        withContext(
          payload,
          Effect.gen(function*() {
            // A redelivered or retried initialize for the same event is answered, not re-applied.
            if (state.eventId === payload.eventId && state.executionId === payload.executionId) {
              return new InitializeResponse({
                executionId: payload.executionId,
                eventId: payload.eventId,
                projectId,
                status: state.status
              })
            }
            yield* commitControl(ExecutionCommand.Initialize({
              executionId: payload.executionId,
              eventId: payload.eventId,
              config: payload.config,
              at: yield* now
            }))
            yield* ensureRunning
            return new InitializeResponse({
              executionId: payload.executionId,
              eventId: payload.eventId,
              projectId,
              status: state.status
            })
          })
        )

      return {
        Initialize: ({ payload }) => initialize(payload),
        IngestEvent: ({ payload }) => initialize(payload),
        Pause: ({ payload }) =>
          withContext(
            payload,
            Effect.gen(function*() {
              const after = yield* commitOperatorCommand(ExecutionCommand.Pause({ at: yield* now }))
              // Paused at once (no step in flight): the fiber only waited for a slot; let it go.
              if (after.status === "PAUSED") yield* stopExecution
              return control(after)
            })
          ),
        Resume: ({ payload }) =>
          withContext(
            payload,
            Effect.gen(function*() {
              const after = yield* commitOperatorCommand(ExecutionCommand.Resume({ at: yield* now }))
              yield* ensureRunning
              return control(after)
            })
          ),
        Stop: ({ payload }) =>
          withContext(
            payload,
            Effect.gen(function*() {
              const after = yield* commitOperatorCommand(
                ExecutionCommand.Stop({ reason: "stopped by request", at: yield* now })
              )
              // Interrupts the running step: the tool process is killed, its resources released.
              yield* stopExecution
              return control(after)
            })
          ),
        InjectTask: ({ payload }) =>
          withContext(
            payload,
            Effect.gen(function*() {
              if (state.injections.length >= limits.maxInjectedTasks) {
                return yield* new BadRequest({
                  message: `The project already has ${state.injections.length} injected tasks, the most allowed ` +
                    `(MAX_INJECTED_TASKS=${limits.maxInjectedTasks})`
                })
              }
              const list = yield* readList
              const placed = TaskSelection.placeInjection(list, state.injections, state.patches, payload.request)
              if (Either.isLeft(placed)) return yield* Effect.fail(placed.left)
              const injection = new InjectedTask({ ...placed.right.injection, order: state.injections.length + 1 })
              yield* commit(ExecutionCommand.InjectTask({ injection, position: placed.right.position, at: yield* now }))
              return new InjectTaskResponse({ taskId: injection.task.id, position: placed.right.position })
            })
          ),
        UpdateTask: ({ payload }) =>
          withContext(
            payload,
            Effect.gen(function*() {
              const list = yield* readList
              const known = TaskSelection.effective(list, state.injections, state.patches).tasks.some((t) =>
                t.id === payload.taskId
              )
              if (!known) {
                return yield* new TaskNotFound({
                  taskId: payload.taskId,
                  message: `no task ${payload.taskId} in the task list`
                })
              }
              yield* commitControl(
                ExecutionCommand.UpdateTask({ taskId: payload.taskId, patch: payload.patch, at: yield* now })
              )
              const updated = TaskSelection.effective(list, state.injections, state.patches).tasks.find((t) =>
                t.id === payload.taskId
              )
              return updated ?? (yield* new TaskNotFound({ taskId: payload.taskId, message: "task vanished" }))
            })
          ),
        Prep: ({ payload }) =>
          withContext(
            payload,
            Effect.gen(function*() {
              yield* canRunSingleStep(state, "prep")
              const result = yield* singleSteps.prep(projectId, payload.request)
              // the first prep naming a repository registers the project (its settings)
              if (state.config === null) {
                const request = payload.request
                yield* commitControl(ExecutionCommand.Configure({
                  config: new ExecutionConfig({
                    repoUrl: request.repoUrl,
                    baseBranch: request.baseBranch ?? DEFAULT_BASE_BRANCH,
                    taskListPath: DEFAULT_TASK_LIST_PATH,
                    tool: DEFAULT_TOOL,
                    customerId: customerIdOf(projectId)
                  }),
                  by: payload.principal ?? "system",
                  at: yield* now
                }))
              }
              return result
            })
          ),
        Implement: ({ payload }) =>
          withContext(
            payload,
            Effect.gen(function*() {
              yield* canRunSingleStep(state, "implement")
              return yield* singleSteps.implement(projectId, payload.request)
            })
          ),
        Verify: ({ payload }) =>
          withContext(
            payload,
            Effect.gen(function*() {
              yield* canRunSingleStep(state, "verify")
              return yield* singleSteps.verify(projectId, payload.request, state.config?.verify)
            })
          ),
        NextTask: ({ payload }) =>
          withContext(
            payload,
            Effect.map(readCached(payload.refresh), ({ commit, list }) => {
              const view = TaskSelection.nextTaskView(list, state.injections, state.patches)
              return new NextTaskResponse({ ...view, commit })
            })
          ),
        GetTasks: ({ payload }) =>
          withContext(
            payload,
            Effect.map(readCached(payload.refresh), ({ commit, list }) => {
              const tasks = TaskSelection.effective(list, state.injections, state.patches).tasks
              const figures = summary(tasks)
              const offset = payload.offset ?? 0
              const end = payload.limit === undefined ? tasks.length : offset + payload.limit
              return new TasksResponse({
                tasks: tasks.slice(offset, end).map((t) => new Task(t)),
                totalTasks: figures.totalTasks,
                completedTasks: figures.completedTasks,
                progress: figures.progress,
                commit,
                ...(end < tasks.length ? { nextOffset: end } : {})
              })
            })
          ),
        Plan: ({ payload }) =>
          withContext(
            payload,
            Effect.map(readCached(payload.refresh), ({ commit, list }) => {
              const plan = TaskSelection.plan(list, state.injections, state.patches)
              return new PlanResponse({
                order: plan.order,
                blocked: plan.blocked.map((b) => new BlockedTask({ taskId: b.taskId, waitingOn: b.waitingOn })),
                diagnostics: plan.diagnostics.map((d) => new DiagnosticView({ line: d.line, message: d.message })),
                commit
              })
            })
          ),
        GetState: () => Effect.sync(() => state),
        Configure: ({ payload }) =>
          withContext(
            payload,
            Effect.gen(function*() {
              return yield* commitControl(ExecutionCommand.Configure({
                config: payload.config,
                by: payload.principal ?? "system",
                at: yield* now
              }))
            })
          ),
        DeleteProject: ({ payload }) =>
          withContext(
            payload,
            Effect.gen(function*() {
              const repoUrls = [state.config?.repoUrl].filter((url) => url !== undefined)
              const after = yield* commitControl(ExecutionCommand.DeleteProject({
                by: payload.principal ?? "system",
                at: yield* now
              }))
              yield* Effect.forEach(repoUrls, (repoUrl) => workTrees.remove(projectId, repoUrl), { discard: true })
              return after
            })
          ),
        // Activation already resumed an execution in flight; a wake also restarts a loop that
        // should run but does not (belt and braces for the wake-up loop).
        Wake: () => ensureRunning
      }
    }),
    {
      maxIdleTime: options.maxIdleTime ?? DEFAULT_MAX_IDLE_TIME,
      concurrency: 1,
      // A defect in a handler is answered to its caller (→ 500) instead of restarting the entity
      // and redelivering the same message forever.
      disableFatalDefects: true
    }
  )
