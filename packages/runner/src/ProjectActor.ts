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
import { canRunSingleStep, decide, type Evolved, evolveEach, expectedStep } from "@devteam/domain/ExecutionMachine"
import { isRunning, type Step } from "@devteam/domain/ExecutionStatus"
import { customerIdOf, ErrorId, type EventId, type ExecutionId, ProjectId, type Timestamp } from "@devteam/domain/Ids"
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
import { Journal, type JournalService } from "@devteam/runtime/Journal"
import { ProcessLauncher } from "@devteam/runtime/ProcessLauncher"
import type { CachedTaskList } from "@devteam/runtime/TaskListCache"
import { Entity } from "@effect/cluster"
import { PersistenceError } from "@effect/cluster/ClusterError"
import type { EntityAddress } from "@effect/cluster/EntityAddress"
import { type Sharding, Sharding as ShardingTag } from "@effect/cluster/Sharding"
import type { RpcGroup } from "@effect/rpc"
import {
  Array as Arr,
  Cause,
  Context,
  DateTime,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  Layer,
  Option,
  Predicate,
  Schedule,
  Schema,
  Scope,
  Tracer
} from "effect"
import { randomUUID } from "node:crypto"
import * as Cluster from "./Cluster.js"
import { ExecutionQueue } from "./ExecutionQueue.js"
import { Project } from "./ProjectEntity.js"
import { type ProjectLimits, ProjectLimitsConfig } from "./ProjectLimits.js"
import { ProjectWorkTrees } from "./ProjectWorkTrees.js"
import { SingleSteps } from "./SingleSteps.js"
import * as StallWatchdog from "./StallWatchdog.js"
import { StepRunner } from "./StepRunner.js"
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

/** The services every actor uses: looked up once per layer and shared by all the entities. */
interface Deps {
  readonly journal: JournalService
  readonly steps: Context.Tag.Service<StepRunner>
  readonly queue: Context.Tag.Service<ExecutionQueue>
  readonly taskLists: Context.Tag.Service<TaskListSource>
  readonly singleSteps: Context.Tag.Service<SingleSteps>
  // Absent (unit tests of the actor alone): no watchdog.
  readonly watchdog: Option.Option<Context.Tag.Service<StallWatchdog.StallWatchdog>>
  readonly workTrees: Context.Tag.Service<ProjectWorkTrees>
  readonly limits: ProjectLimits
}

/**
 * One activated project: what an entity holds while it is idle — its state and a few fields. The
 * behaviour is the module's functions below, shared by every entity (per-entity closures cost
 * ~1 KiB of heap each activation, and an idle project needs none of them); the commit lock and the
 * execution fiber are created on first use.
 */
interface Actor {
  readonly deps: Deps
  readonly projectId: ProjectId
  /** The build's scope: the execution fiber lives in it, so passivation and restarts interrupt it. */
  readonly scope: Scope.Scope
  /**
   * The entity's own context (the sharding service, its address, the process launcher): keepAlive
   * needs it, and every command runs in it (`withContext`).
   */
  readonly entity: Context.Context<Sharding | Entity.CurrentAddress>
  state: ProjectState
  lastSeq: number
  // Set when an append ended without a result (the database went away mid-append, the caller
  // was interrupted): it may or may not have been committed, so the in-memory state and lastSeq
  // can no longer be trusted. The next commit reloads them from the journal before deciding.
  stale: boolean
  // Successful appends by this activation: how the execution loop tells progress from spinning.
  commits: number
  // Whether an execution fiber owns the loop. Read and written under the commit lock only, so
  // that "the loop ends" and "a command made the execution run again" cannot miss each other.
  loopActive: boolean
  /** Serialises commits (the execution fiber's and the commands'); made by the first commit. */
  lock: Effect.Semaphore | undefined
  /** The running execution, if any. */
  execution: Fiber.RuntimeFiber<void> | undefined
}

const withLock = <A, E, R>(actor: Actor, effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => (actor.lock ??= Effect.unsafeMakeSemaphore(1)).withPermits(1)(effect))

const keepAlive = (actor: Actor, enabled: boolean) => Entity.keepAlive(enabled).pipe(Effect.provide(actor.entity))

const reload = (actor: Actor) =>
  Effect.map(actor.deps.journal.load(actor.projectId), (fresh) => {
    actor.state = fresh.state
    actor.lastSeq = fresh.lastSeq
    actor.stale = false
  })

/** `commands` decided one after the other, each on the state the ones before lead to; the first refusal ends it. */
const decideAll = (state: ProjectState, commands: ReadonlyArray<ExecutionCommand>) => {
  let current = state
  const evolved: Array<Evolved> = []
  for (const command of commands) {
    const decision = decide(current, command)
    if (Either.isLeft(decision)) return Either.left(decision.left)
    if (!Arr.isNonEmptyReadonlyArray(decision.right)) continue
    const steps = evolveEach(current, decision.right)
    evolved.push(...steps)
    current = Arr.lastNonEmpty(steps).after
  }
  return Either.right(evolved)
}

/**
 * decide → evolve → append (the commit point) → take the new state. Serialised with the
 * execution fiber's commits. Several commands are decided in order and appended in one
 * transaction, all or none. `then`, given the state they lead to, may name one more command
 * decided on that state and appended with them (the execution loop's next move at a step
 * boundary); one it refuses is left out: the loop decides again.
 */
const commitAll = (
  actor: Actor,
  commands: ReadonlyArray<ExecutionCommand>,
  then?: (after: ProjectState) => ExecutionCommand | undefined
) =>
  withLock(
    actor,
    Effect.gen(function*() {
      if (actor.stale) yield* reload(actor)
      const decision = decideAll(actor.state, commands)
      if (Either.isLeft(decision)) return yield* Effect.fail(decision.left)
      if (!Arr.isNonEmptyReadonlyArray(decision.right)) return actor.state
      const evolved = withFollowUp(decision.right, then)
      const correlationId = yield* Correlation.CurrentCorrelationId
      const principal = yield* Correlation.CurrentPrincipal
      const result = yield* actor.deps.journal.append({
        projectId: actor.projectId,
        expectedSeq: actor.lastSeq,
        steps: evolved,
        correlationId,
        principal
      }).pipe(
        Effect.onExit((exit) =>
          Effect.sync(() => {
            if (Exit.isFailure(exit)) actor.stale = true
          })
        ),
        Effect.catchTag("JournalFenced", (fenced) =>
          // Another activation wrote first: this one is stale. Reload, stop working, refuse.
          Effect.gen(function*() {
            yield* reload(actor)
            yield* Effect.logWarning("journal fenced: another activation of this project wrote first").pipe(
              Effect.annotateLogs({ seq: fenced.seq })
            )
            return yield* Effect.dieMessage(`project ${actor.projectId}: fenced at seq ${fenced.seq}`)
          }))
      )
      actor.state = Arr.lastNonEmpty(evolved).after
      actor.lastSeq = result.lastSeq
      actor.commits++
      return actor.state
    })
  )

/** One command (and `then`'s), as `commitAll`. */
const commit = (
  actor: Actor,
  command: ExecutionCommand,
  then?: (after: ProjectState) => ExecutionCommand | undefined
) => commitAll(actor, [command], then)

/** `evolved` followed by the events of `then`'s command on the state it ends in, when it names one that is legal. */
const withFollowUp = (
  evolved: Arr.NonEmptyReadonlyArray<Evolved>,
  then: ((after: ProjectState) => ExecutionCommand | undefined) | undefined
): Arr.NonEmptyReadonlyArray<Evolved> => {
  const after = Arr.lastNonEmpty(evolved).after
  const next = then?.(after)
  if (next === undefined) return evolved
  const decided = decide(after, next)
  return Either.isRight(decided) && Arr.isNonEmptyReadonlyArray(decided.right)
    ? Arr.appendAll(evolved, evolveEach(after, decided.right))
    : evolved
}

/** For commands whose decision can only be refused as an illegal transition. */
const commitControl = (actor: Actor, command: ExecutionCommand) =>
  commit(actor, command).pipe(
    Effect.catchTag("BadRequest", (error) => Effect.dieMessage(`unexpected BadRequest: ${error.message}`))
  )

/**
 * Pause / resume / stop: a journal that cannot be written (database down) answers the caller
 * at once with PersistenceError (503). As a defect it would restart the entity, and the
 * cluster would hold the command until the database is back. The next commit reloads first
 * (stale), so nothing half-known is kept.
 */
const commitOperatorCommand = (actor: Actor, command: ExecutionCommand) =>
  commitControl(actor, command).pipe(
    Effect.catchSomeDefect((defect) =>
      Predicate.isTagged(defect, "SqlError")
        ? Option.some(Effect.fail(new PersistenceError({ cause: defect })))
        : Option.none()
    )
  )

const logsOf = (state: ProjectState, lines: ReadonlyArray<LogLine>, at: Timestamp) =>
  ExecutionCommand.AppendLogs({ taskId: state.currentTask?.id ?? null, step: state.cursor?.step ?? null, lines, at })

const appendLogs = (actor: Actor, lines: ReadonlyArray<LogLine>) =>
  Effect.flatMap(now, (at) => commit(actor, logsOf(actor.state, lines, at))).pipe(
    Effect.asVoid,
    // A log batch that cannot be journaled (database down) must not end the step it describes.
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause) ? Effect.interrupt : Effect.logWarning("log lines not journaled", cause)
    )
  )

/** The step's failure when the stall watchdog ended it; its last output lines go with it. */
const stalledError = (
  actor: Actor,
  step: Step,
  stalled: StallWatchdog.StepStalled,
  lines: ReadonlyArray<string>
) =>
  Effect.gen(function*() {
    const state = actor.state
    const executionId = state.executionId
    if (executionId === null) return yield* Effect.dieMessage(`${step} outside an execution`)
    return new ExecutionError({
      errorId: ErrorId.make(randomUUID()),
      executionId,
      projectId: actor.projectId,
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

const startStep = (state: ProjectState, at: Timestamp) =>
  ExecutionCommand.StartStep({ step: expectedStep(state), taskId: state.currentTask?.id ?? null, at })

/**
 * What the loop does at the boundary a completed step leaves, journaled with the completion: the
 * pause that waits there, or the next step's start (nothing once the execution no longer runs).
 */
const atBoundary = (at: Timestamp) => (after: ProjectState): ExecutionCommand | undefined =>
  !isRunning(after.status)
    ? undefined
    : after.pauseRequested
    ? ExecutionCommand.PauseAtBoundary({ at })
    : startStep(after, at)

/**
 * One step: start it (journaled, unless its start went with the previous step's completion), run
 * it, journal its outcome with the next move. True when that started the next step.
 */
const runStep = (actor: Actor, executionScope: Scope.Scope, started: boolean) =>
  Effect.gen(function*() {
    const step = expectedStep(actor.state)
    if (!started) yield* commit(actor, startStep(actor.state, yield* now))
    const correlationId = yield* Correlation.CurrentCorrelationId
    // Output is the step's sign of life for the stall watchdog.
    let lastActivity = Date.now()
    let lastLines: Array<string> = []
    const log = (lines: ReadonlyArray<LogLine>) =>
      Effect.suspend(() => {
        lastActivity = Date.now()
        lastLines = [...lastLines, ...lines.map((l) => l.message)].slice(-STALLED_LOG_LINES)
        return appendLogs(actor, lines)
      })
    const running = actor.deps.steps.run(step, { state: actor.state, correlationId, log, executionScope })
    const result = yield* Option.match(actor.deps.watchdog, {
      onNone: () => running,
      onSome: ({ timeout }) =>
        StallWatchdog.guard(running, timeout, () => lastActivity).pipe(
          Effect.catchTag("StepStalled", (stalled) =>
            Effect.zipRight(
              Effect.logWarning("step stalled; ended by the watchdog").pipe(Effect.annotateLogs({ step })),
              Effect.flip(stalledError(actor, step, stalled, lastLines))
            ))
        )
    }).pipe(Effect.either)
    const at = yield* now
    if (Either.isLeft(result)) {
      yield* commit(actor, ExecutionCommand.FailStep({ error: result.left, at }))
      return false
    }
    const { logs = [], ...ended } = result.right
    // the step's last lines, then its outcome, in one transaction
    const withLines = (command: ExecutionCommand) => [
      ...(logs.length === 0 ? [] : [logsOf(actor.state, logs, at)]),
      command
    ]
    const after = yield* (ended._tag === "Completed"
      ? commitAll(actor, withLines(ExecutionCommand.CompleteStep({ outcome: ended.outcome })), atBoundary(at))
      : commitAll(actor, withLines(ExecutionCommand.Finish({ ...ended, at })))).pipe(
        // the outcome refused (a stop came first): the lines are still the step's record
        Effect.tapErrorTag("IllegalTransition", () => logs.length === 0 ? Effect.void : appendLogs(actor, logs))
      )
    return isRunning(after.status) && after.cursor?.phase === "running"
  })

/** One run of the execution: waits for a queue slot, then runs steps until it pauses or ends. */
const runOnce = (actor: Actor) =>
  Effect.gen(function*() {
    yield* actor.deps.queue.acquire(actor.projectId, actor.state.customerId)
    const executionScope = yield* Effect.scope
    // whether the last step's completion also started the next one
    let started = false
    while (isRunning(actor.state.status)) {
      // At the top of this loop no step of this run is in flight: either the last one ended (and
      // its completion started the next, or paused here), or the one the journal shows running
      // was interrupted (crash, failover, database outage) and re-runs on resume. Either way this
      // is a boundary where a pending pause applies.
      if (!started && actor.state.pauseRequested) {
        yield* commit(actor, ExecutionCommand.PauseAtBoundary({ at: yield* now }))
        break
      }
      started = yield* runStep(actor, executionScope, started)
    }
  }).pipe(
    // The slot, the sandbox and every per-execution resource are released here.
    Effect.scoped,
    // A command that raced us (stop, pause) made our next move illegal: this run just ends.
    Effect.catchTag("IllegalTransition", "BadRequest", () => Effect.void)
  )

/** Ends the loop's ownership; under the lock so a new loop's keepAlive(true) always comes after. */
const release = (actor: Actor) =>
  Effect.suspend(() => {
    actor.loopActive = false
    return keepAlive(actor, false)
  })

/** Decides, atomically with commits, whether the loop must run again or may end. */
const continueOrEnd = (actor: Actor) =>
  withLock(
    actor,
    Effect.suspend(() => isRunning(actor.state.status) ? Effect.succeed(true) : Effect.as(release(actor), false))
  )

const loopBody = (actor: Actor) =>
  Effect.gen(function*() {
    const backoff = yield* Schedule.driver(NO_PROGRESS_BACKOFF)
    do {
      const before = actor.commits
      // each pass under the execution it works for (a loop never outlives its execution, but
      // the annotation must not depend on that)
      yield* Effect.annotateLogs(runOnce(actor), { executionId: actor.state.executionId ?? "none" })
      if (actor.commits === before) {
        // A run that journaled nothing would fail the same way at once: never retry it hot.
        yield* Effect.logWarning("execution loop made no progress; retrying after a backoff")
        yield* backoff.next(undefined).pipe(Effect.ignore)
      } else {
        yield* backoff.reset
      }
    } while (yield* continueOrEnd(actor))
  })

// The execution this fiber runs, read when it starts (not when the actor was built: that
// stamped every line with "none", or with the previous execution's id).
const loop = (actor: Actor) => {
  const executionId = actor.state.executionId ?? "none"
  return loopBody(actor).pipe(
    // Interrupted (stop, pause while queued, passivation) or died: give up ownership too.
    Effect.onError(() => withLock(actor, release(actor))),
    Correlation.withCorrelationId(`execution-${executionId}`),
    // the pipeline's own steps are nobody's command (the fiber may be started inside one)
    Effect.provideService(Correlation.CurrentPrincipal, undefined),
    Effect.annotateLogs({ projectId: actor.projectId, executionId })
  )
}

/** Starts the execution fiber when the state says the execution runs and no fiber owns the loop. */
const ensureRunning = (actor: Actor) =>
  Effect.suspend(() =>
    // Nothing to run (an idle project's activation, a command that left it idle): no lock needed,
    // since only a commit makes the execution run and commands are handled one at a time.
    actor.loopActive || !isRunning(actor.state.status) ? Effect.void : Effect.gen(function*() {
      const start = yield* withLock(
        actor,
        Effect.sync(() => {
          if (actor.loopActive || !isRunning(actor.state.status)) return false
          actor.loopActive = true
          return true
        })
      )
      if (!start) return
      yield* keepAlive(actor, true)
      // a previous fiber still ending (it gave up ownership) is interrupted, as a replaced one
      const previous = actor.execution
      if (previous !== undefined) yield* Fiber.interruptFork(previous)
      // forked and recorded with no interruption in between: stop must always find the fiber
      yield* Effect.uninterruptibleMask((restore) =>
        Effect.map(Effect.forkIn(restore(loop(actor)), actor.scope), (fiber) => {
          actor.execution = fiber
          fiber.addObserver(() => {
            if (actor.execution === fiber) actor.execution = undefined
          })
        })
      )
    })
  )

/** Interrupts the execution fiber, if any, and waits for it to end. */
const stopExecution = (actor: Actor) =>
  Effect.suspend(() => actor.execution === undefined ? Effect.void : Fiber.interrupt(actor.execution))

// fields of the actor's own (typed) state: not validated again (true)
const control = (actor: Actor, s: ProjectState) =>
  new ControlResponse({
    projectId: actor.projectId,
    executionId: s.executionId,
    status: s.status,
    pauseRequested: s.pauseRequested
  }, true)

/** The task list from the cache (git only when cold, or on `refresh`), with the commit it reflects. */
const readCached = (actor: Actor, refresh?: boolean) =>
  Effect.suspend((): Effect.Effect<CachedTaskList, TaskListError | IllegalTransition> => {
    const config = actor.state.config
    return config === null ? Effect.fail(noConfig(actor.state)) : actor.deps.taskLists.cached(config, { refresh })
  })
const readList = (actor: Actor) => Effect.map(readCached(actor), (cached): TaskList => cached.list)

/**
 * `effect` in the entity's own context with the command's correlation id and principal — in place
 * of the context the message brought: a local message carries its sender's (a command from the
 * gateway, the gateway's services), a remote one does not, and an execution the entity resumes by
 * itself (activation, wake-up) has only the entity's. Replacing it makes every command, and the
 * execution fiber a command starts, see the same services wherever it came from (the process
 * launcher is the one that matters: a context reference, read by git and the local sandbox).
 */
const withContext = <A, E>(
  actor: Actor,
  meta: { readonly correlationId: string; readonly principal?: string | undefined },
  effect: Effect.Effect<A, E, Sharding | Entity.CurrentAddress>
) =>
  effect.pipe(
    Effect.mapInputContext((given: Context.Context<never>) => {
      const own = actor.entity.pipe(
        Context.add(Correlation.CurrentCorrelationId, meta.correlationId),
        Context.add(Correlation.CurrentPrincipal, meta.principal)
      )
      // the RPC's span stays the parent of the command's spans (a trace continues into the entity)
      const parent = Context.getOption(given, Tracer.ParentSpan)
      return Option.isSome(parent) ? Context.add(own, Tracer.ParentSpan, parent.value) : own
    }),
    Effect.annotateLogs({ correlationId: meta.correlationId, projectId: actor.projectId })
  )

const initialize = (actor: Actor, payload: {
  readonly executionId: ExecutionId
  readonly eventId: EventId
  readonly config: ExecutionConfig
}) =>
  Effect.gen(function*() {
    // A redelivered or retried initialize for the same event is answered, not re-applied. The
    // answers are built from the decoded payload and the actor's state: not validated again (true).
    if (actor.state.eventId === payload.eventId && actor.state.executionId === payload.executionId) {
      return new InitializeResponse({
        executionId: payload.executionId,
        eventId: payload.eventId,
        projectId: actor.projectId,
        status: actor.state.status
      }, true)
    }
    yield* commitControl(
      actor,
      ExecutionCommand.Initialize({
        executionId: payload.executionId,
        eventId: payload.eventId,
        config: payload.config,
        at: yield* now
      })
    )
    yield* ensureRunning(actor)
    return new InitializeResponse({
      executionId: payload.executionId,
      eventId: payload.eventId,
      projectId: actor.projectId,
      status: actor.state.status
    }, true)
  })

type ProjectRpcs = RpcGroup.Rpcs<typeof Project.protocol>

/**
 * The handlers, one set for every entity: each finds its project's actor by the request's
 * address (registered by the activation, removed when the entity's scope closes).
 */
const makeHandlers = (actors: ReadonlyMap<string, Actor>) => {
  const actorOf = (address: EntityAddress) =>
    Effect.suspend(() => {
      const actor = actors.get(address.entityId)
      return actor === undefined
        ? Effect.dieMessage(`project ${address.entityId} is not activated`)
        : Effect.succeed(actor)
    })
  /** `body` for the addressed project's actor, in the entity's context with the command's correlation. */
  const handle = <A, E>(
    address: EntityAddress,
    meta: { readonly correlationId: string; readonly principal?: string | undefined },
    body: (actor: Actor) => Effect.Effect<A, E, Sharding | Entity.CurrentAddress>
  ) => Effect.flatMap(actorOf(address), (actor) => withContext(actor, meta, body(actor)))
  return {
    Initialize: ({ address, payload }) => handle(address, payload, (actor) => initialize(actor, payload)),
    IngestEvent: ({ address, payload }) => handle(address, payload, (actor) => initialize(actor, payload)),
    Pause: ({ address, payload }) =>
      handle(address, payload, (actor) =>
        Effect.gen(function*() {
          const after = yield* commitOperatorCommand(actor, ExecutionCommand.Pause({ at: yield* now }))
          // Paused at once (no step in flight): the fiber only waited for a slot; let it go.
          if (after.status === "PAUSED") yield* stopExecution(actor)
          return control(actor, after)
        })),
    Resume: ({ address, payload }) =>
      handle(address, payload, (actor) =>
        Effect.gen(function*() {
          const after = yield* commitOperatorCommand(actor, ExecutionCommand.Resume({ at: yield* now }))
          yield* ensureRunning(actor)
          return control(actor, after)
        })),
    Stop: ({ address, payload }) =>
      handle(address, payload, (actor) =>
        Effect.gen(function*() {
          const after = yield* commitOperatorCommand(
            actor,
            ExecutionCommand.Stop({ reason: "stopped by request", at: yield* now })
          )
          // Interrupts the running step: the tool process is killed, its resources released.
          yield* stopExecution(actor)
          return control(actor, after)
        })),
    InjectTask: ({ address, payload }) =>
      handle(address, payload, (actor) =>
        Effect.gen(function*() {
          const { maxInjectedTasks } = actor.deps.limits
          if (actor.state.injections.length >= maxInjectedTasks) {
            return yield* new BadRequest({
              message: `The project already has ${actor.state.injections.length} injected tasks, the most allowed ` +
                `(MAX_INJECTED_TASKS=${maxInjectedTasks})`
            })
          }
          const list = yield* readList(actor)
          const state = actor.state
          const placed = TaskSelection.placeInjection(list, state.injections, state.patches, payload.request)
          if (Either.isLeft(placed)) return yield* Effect.fail(placed.left)
          const injection = new InjectedTask({ ...placed.right.injection, order: state.injections.length + 1 })
          yield* commit(
            actor,
            ExecutionCommand.InjectTask({ injection, position: placed.right.position, at: yield* now })
          )
          return new InjectTaskResponse({ taskId: injection.task.id, position: placed.right.position })
        })),
    UpdateTask: ({ address, payload }) =>
      handle(address, payload, (actor) =>
        Effect.gen(function*() {
          const list = yield* readList(actor)
          const known = TaskSelection.effective(list, actor.state.injections, actor.state.patches).tasks.some((t) =>
            t.id === payload.taskId
          )
          if (!known) {
            return yield* new TaskNotFound({
              taskId: payload.taskId,
              message: `no task ${payload.taskId} in the task list`
            })
          }
          yield* commitControl(
            actor,
            ExecutionCommand.UpdateTask({ taskId: payload.taskId, patch: payload.patch, at: yield* now })
          )
          const updated = TaskSelection.effective(list, actor.state.injections, actor.state.patches).tasks.find((
            t
          ) => t.id === payload.taskId)
          return updated ?? (yield* new TaskNotFound({ taskId: payload.taskId, message: "task vanished" }))
        })),
    Prep: ({ address, payload }) =>
      handle(address, payload, (actor) =>
        Effect.gen(function*() {
          yield* canRunSingleStep(actor.state, "prep")
          const result = yield* actor.deps.singleSteps.prep(actor.projectId, payload.request)
          // the first prep naming a repository registers the project (its settings)
          if (actor.state.config === null) {
            const request = payload.request
            yield* commitControl(
              actor,
              ExecutionCommand.Configure({
                config: new ExecutionConfig({
                  repoUrl: request.repoUrl,
                  baseBranch: request.baseBranch ?? DEFAULT_BASE_BRANCH,
                  taskListPath: DEFAULT_TASK_LIST_PATH,
                  tool: DEFAULT_TOOL,
                  customerId: customerIdOf(actor.projectId)
                }),
                by: payload.principal ?? "system",
                at: yield* now
              })
            )
          }
          return result
        })),
    Implement: ({ address, payload }) =>
      handle(address, payload, (actor) =>
        Effect.gen(function*() {
          yield* canRunSingleStep(actor.state, "implement")
          return yield* actor.deps.singleSteps.implement(actor.projectId, payload.request)
        })),
    Verify: ({ address, payload }) =>
      handle(address, payload, (actor) =>
        Effect.gen(function*() {
          yield* canRunSingleStep(actor.state, "verify")
          return yield* actor.deps.singleSteps.verify(actor.projectId, payload.request, actor.state.config?.verify)
        })),
    NextTask: ({ address, payload }) =>
      handle(address, payload, (actor) =>
        Effect.map(readCached(actor, payload.refresh), ({ commit, list }) => {
          const view = TaskSelection.nextTaskView(list, actor.state.injections, actor.state.patches)
          return new NextTaskResponse({ ...view, commit })
        })),
    GetTasks: ({ address, payload }) =>
      handle(address, payload, (actor) =>
        Effect.map(readCached(actor, payload.refresh), ({ commit, list }) => {
          const tasks = TaskSelection.effective(list, actor.state.injections, actor.state.patches).tasks
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
        })),
    Plan: ({ address, payload }) =>
      handle(address, payload, (actor) =>
        Effect.map(readCached(actor, payload.refresh), ({ commit, list }) => {
          const plan = TaskSelection.plan(list, actor.state.injections, actor.state.patches)
          return new PlanResponse({
            order: plan.order,
            blocked: plan.blocked.map((b) => new BlockedTask({ taskId: b.taskId, waitingOn: b.waitingOn })),
            diagnostics: plan.diagnostics.map((d) => new DiagnosticView({ line: d.line, message: d.message })),
            commit
          })
        })),
    GetState: ({ address }) => Effect.map(actorOf(address), (actor) => actor.state),
    Configure: ({ address, payload }) =>
      handle(address, payload, (actor) =>
        Effect.gen(function*() {
          return yield* commitControl(
            actor,
            ExecutionCommand.Configure({
              config: payload.config,
              by: payload.principal ?? "system",
              at: yield* now
            })
          )
        })),
    DeleteProject: ({ address, payload }) =>
      handle(address, payload, (actor) =>
        Effect.gen(function*() {
          const repoUrls = [actor.state.config?.repoUrl].filter((url) => url !== undefined)
          const after = yield* commitControl(
            actor,
            ExecutionCommand.DeleteProject({
              by: payload.principal ?? "system",
              at: yield* now
            })
          )
          yield* Effect.forEach(repoUrls, (repoUrl) => actor.deps.workTrees.remove(actor.projectId, repoUrl), {
            discard: true
          })
          return after
        })),
    // Activation already resumed an execution in flight; a wake also restarts a loop that
    // should run but does not (belt and braces for the wake-up loop).
    Wake: ({ address }) => Effect.flatMap(actorOf(address), ensureRunning)
  } satisfies Entity.HandlersFrom<ProjectRpcs>
}

export const layer = (options: { readonly maxIdleTime?: Duration.DurationInput } = {}) =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const deps: Deps = {
      journal: yield* Journal,
      steps: yield* StepRunner,
      queue: yield* ExecutionQueue,
      taskLists: yield* TaskListSource,
      singleSteps: yield* SingleSteps,
      watchdog: yield* Effect.serviceOption(StallWatchdog.StallWatchdog),
      workTrees: yield* ProjectWorkTrees,
      // validated at start-up (StartupConfig): a value that does not parse never gets this far
      limits: yield* Effect.orDie(ProjectLimitsConfig)
    }
    // the activated projects of this runner, by entity id
    const actors = new Map<string, Actor>()
    const handlers = makeHandlers(actors)
    // The entity is registered in the smallest context it needs (Cluster.builtIn says why): what
    // the actor uses is in `deps`; the process launcher is a reference (it has a default, so no
    // type error would say it is missing) that git and the local sandbox read from the context, so
    // it goes along explicitly.
    const registration = Context.make(ShardingTag, yield* ShardingTag).pipe(
      Context.add(ProcessLauncher, yield* ProcessLauncher)
    )
    const entity = Project.toLayer(
      Effect.gen(function*() {
        const address = yield* Entity.CurrentAddress
        const projectId = yield* Schema.decodeUnknown(ProjectId)(address.entityId).pipe(Effect.orDie)
        const loaded = yield* deps.journal.load(projectId)
        // Which runner holds which project, for operators (LOG_LEVEL=debug) and the failover tests.
        yield* Effect.logDebug("project activated").pipe(Effect.annotateLogs({ projectId, lastSeq: loaded.lastSeq }))
        const scope = yield* Effect.scope
        const actor: Actor = {
          deps,
          projectId,
          scope,
          entity: yield* Effect.context<Sharding | Entity.CurrentAddress>(),
          state: loaded.state,
          lastSeq: loaded.lastSeq,
          stale: false,
          commits: 0,
          loopActive: false,
          lock: undefined,
          execution: undefined
        }
        actors.set(address.entityId, actor)
        // passivation, shutdown or a restart (a defect rebuilds the entity: a new actor replaces this one)
        yield* Scope.addFinalizer(
          scope,
          Effect.sync(() => {
            if (actors.get(address.entityId) === actor) actors.delete(address.entityId)
          })
        )
        // Resume whatever was in flight when this project was last active (crash, failover, wake).
        yield* ensureRunning(actor)
        return handlers
      }),
      {
        maxIdleTime: options.maxIdleTime ?? DEFAULT_MAX_IDLE_TIME,
        concurrency: 1,
        // A defect in a handler is answered to its caller (→ 500) instead of restarting the entity
        // and redelivering the same message forever.
        disableFatalDefects: true
      }
    )
    return Cluster.builtIn(entity, registration)
  }))
