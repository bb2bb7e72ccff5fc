/**
 * The REST client for code that does not use Effect (a React frontend, another Node service):
 * one async method per route, inputs in the JSON shapes of the API (plain strings for ids), typed
 * results, and every failure a `DevTeamError` with `_tag`, `status` and `message`.
 *
 * State-changing calls carry an `Idempotency-Key` (yours, the body's `idempotencyKey`, or a fresh
 * one), so the client's own transport retries never run a command twice. Every call sends an
 * `x-correlation-id` (yours or a fresh one) that the error carries back.
 *
 * It is the Effect client (`DevTeamClient`) run on `fetch`, so both agree on every route.
 */
import type { AdminProject, ClusterView, JournalPage } from "@devteam/domain/AdminApi"
import { JournalParams } from "@devteam/domain/AdminApi"
import type { ControlResponse, InitializeResponse } from "@devteam/domain/AutomationApi"
import { InitializeRequest } from "@devteam/domain/AutomationApi"
import type { EventRecord } from "@devteam/domain/EventRecord"
import type { IngestEventResponse } from "@devteam/domain/EventsApi"
import { IngestEventRequest } from "@devteam/domain/EventsApi"
import type { ExecutionError } from "@devteam/domain/ExecutionError"
import type { ActiveExecution, ExecutionDetails, ExecutionHistoryEntry } from "@devteam/domain/ExecutionsApi"
import { HistoryParams } from "@devteam/domain/ExecutionsApi"
import type { HealthReport } from "@devteam/domain/HealthApi"
import { UnhealthyReport } from "@devteam/domain/HealthApi"
import { ErrorId, EventId, ExecutionId, ProjectId, TaskId, UserId } from "@devteam/domain/Ids"
import { TaskPatch } from "@devteam/domain/Injection"
import type { ProjectDeletedResponse, ProjectList, ProjectView } from "@devteam/domain/ProjectsApi"
import { ProjectGetParams, ProjectListParams, ProjectSettingsRequest } from "@devteam/domain/ProjectsApi"
import type { ExecutionState } from "@devteam/domain/ProjectState"
import type { PlanResponse, TasksResponse, ValidateResponse } from "@devteam/domain/RepositoryApi"
import { TaskListReadParams, ValidateRequest } from "@devteam/domain/RepositoryApi"
import type { ImplementResponse, NextTaskResponse, PrepResponse, VerifyResponse } from "@devteam/domain/RunnerApi"
import {
  ImplementRequest,
  NextTaskParams,
  PrepRequest,
  VerifyFailedResponse,
  VerifyRequest
} from "@devteam/domain/RunnerApi"
import type { Task } from "@devteam/domain/Task"
import type { InjectTaskResponse } from "@devteam/domain/TasksApi"
import { InjectTaskRequest } from "@devteam/domain/TasksApi"
import { FetchHttpClient, HttpApiSchema, HttpClientError } from "@effect/platform"
import { Cause, Effect, Exit, Option, ParseResult, Predicate, Schema } from "effect"
import { type Client, make as makeClient, RequestHeaders } from "./DevTeamClient.js"
import { DevTeamError, isServerErrorTag } from "./DevTeamError.js"

export interface DevTeamClientConfig {
  /** Where the service listens, e.g. `https://devteam.example.com` (a path prefix is kept). */
  readonly baseUrl: string | URL
  /** The JWT, or a function asked before every request (tokens that refresh). */
  readonly token?: string | (() => string | Promise<string>) | undefined
  /** A `fetch` to use instead of the global one (tests, instrumentation, a polyfill). */
  readonly fetch?: typeof globalThis.fetch | undefined
  /** Transport failures retried per call, with the same Idempotency-Key (default 2; 0 disables). */
  readonly retries?: number | undefined
}

/** Options of every call. */
export interface RequestOptions {
  /** Sent as `x-correlation-id`; generated when omitted. */
  readonly correlationId?: string | undefined
  readonly signal?: AbortSignal | undefined
}

/** Options of state-changing calls. */
export interface CommandOptions extends RequestOptions {
  /** Repeating a call with the same key and body returns the first answer and does nothing again. */
  readonly idempotencyKey?: string | undefined
}

/** Options of task-list reads. */
export interface ListReadOptions extends RequestOptions {
  /** Read the task list from the remote now instead of the service's cache (refreshed every 10 s). */
  readonly refresh?: boolean | undefined
}

type Input<S extends Schema.Schema.Any> = Schema.Schema.Encoded<S>

export interface DevTeamPromiseClient {
  /** `GET /health`: the report, healthy or not (an unhealthy service answers 503 with the same shape). */
  readonly health: (options?: RequestOptions) => Promise<HealthReport | UnhealthyReport>

  /** `POST /events` (202): persists the event and starts the automation it describes. */
  readonly ingestEvent: (
    body: Input<typeof IngestEventRequest>,
    options?: CommandOptions
  ) => Promise<IngestEventResponse>
  /** `GET /events/{eventId}`: the Event record with its `task_context`. */
  readonly getEvent: (eventId: string, options?: RequestOptions) => Promise<EventRecord>

  /** `POST /prep`: clone/fetch the repository and create the task branch. */
  readonly prep: (body: Input<typeof PrepRequest>, options?: CommandOptions) => Promise<PrepResponse>
  /** `POST /implement`: run the coding tool on the task branch. */
  readonly implement: (body: Input<typeof ImplementRequest>, options?: CommandOptions) => Promise<ImplementResponse>
  /** `POST /verify`: the verification result; `success: false` (the server's 422) when a criterion is not met. */
  readonly verify: (
    body: Input<typeof VerifyRequest>,
    options?: CommandOptions
  ) => Promise<VerifyResponse | VerifyFailedResponse>
  /** `GET /tasks/next`: the task SELECT would pick now. */
  readonly nextTask: (
    params?: {
      readonly projectId?: string
      readonly customerId?: string
      readonly excludeCompleted?: boolean
      /** Read the task list from the remote now instead of the service's cache. */
      readonly refresh?: boolean
    },
    options?: RequestOptions
  ) => Promise<NextTaskResponse>

  /** `POST /api/devteam/automation/initialize` (202): start working through the task list. */
  readonly initialize: (body: Input<typeof InitializeRequest>, options?: CommandOptions) => Promise<InitializeResponse>
  /** `GET /api/devteam/automation/status/{projectId}`. */
  readonly status: (projectId: string, options?: RequestOptions) => Promise<ExecutionState>
  /** Pause at the next step boundary (`pauseRequested: true` while a step finishes). */
  readonly pause: (projectId: string, options?: CommandOptions) => Promise<ControlResponse>
  readonly resume: (projectId: string, options?: CommandOptions) => Promise<ControlResponse>
  readonly stop: (projectId: string, options?: CommandOptions) => Promise<ControlResponse>

  /** `PUT /api/devteam/projects/{projectId}`: register the project or change its settings (idempotent). */
  readonly putProject: (
    projectId: string,
    settings: Input<typeof ProjectSettingsRequest>,
    options?: CommandOptions
  ) => Promise<ProjectView>
  /** `GET /api/devteam/projects/{projectId}`: its settings and status. */
  /** `taskList: true` also reads the task list from the repository (a git round trip) with its diagnostics. */
  readonly getProject: (
    projectId: string,
    options?: RequestOptions & { readonly taskList?: boolean }
  ) => Promise<ProjectView>
  /** `GET /api/devteam/projects`: the caller's projects, paged (`limit` ≤ 200, `offset`), optionally one customer's. */
  readonly listProjects: (
    params?: { readonly customerId?: string; readonly limit?: number; readonly offset?: number },
    options?: RequestOptions
  ) => Promise<ProjectList>
  /** `DELETE /api/devteam/projects/{projectId}`: forget it (409 while an execution is active). */
  readonly deleteProject: (projectId: string, options?: CommandOptions) => Promise<ProjectDeletedResponse>

  /** `POST /api/devteam/repository/validate`: reachability and the task list, without writing anything. */
  readonly validateRepository: (
    body: Input<typeof ValidateRequest>,
    options?: RequestOptions
  ) => Promise<ValidateResponse>
  /**
   * `GET /api/devteam/repository/tasks/{projectId}`: the parsed task list (from the service's cache;
   * `commit` says which base commit; `refresh: true` reads the remote now).
   */
  readonly tasks: (projectId: string, options?: ListReadOptions) => Promise<TasksResponse>
  /** `GET /api/devteam/repository/plan/{projectId}`: the order SELECT would follow, and what is blocked. */
  readonly plan: (projectId: string, options?: ListReadOptions) => Promise<PlanResponse>
  /** `PUT /api/devteam/repository/tasks/{projectId}/{taskId}`. */
  readonly updateTask: (
    projectId: string,
    taskId: string,
    patch: Input<typeof TaskPatch>,
    options?: CommandOptions
  ) => Promise<Task>
  /** `POST /api/devteam/tasks/inject`. */
  readonly injectTask: (body: Input<typeof InjectTaskRequest>, options?: CommandOptions) => Promise<InjectTaskResponse>

  /** `GET /api/devteam/executions/active/{userId}`. */
  readonly activeExecutions: (userId: string, options?: RequestOptions) => Promise<ReadonlyArray<ActiveExecution>>
  /** `GET /api/devteam/executions/history/{userId}?limit=`. */
  readonly executionHistory: (
    userId: string,
    params?: { readonly limit?: number },
    options?: RequestOptions
  ) => Promise<ReadonlyArray<ExecutionHistoryEntry>>
  /** `GET /api/devteam/executions/{executionId}`: the execution with its per-task artifacts. */
  readonly execution: (executionId: string, options?: RequestOptions) => Promise<ExecutionDetails>
  /** `GET /api/devteam/errors/{executionId}/{errorId}`. */
  readonly executionError: (executionId: string, errorId: string, options?: RequestOptions) => Promise<ExecutionError>

  /** `GET /admin/projects` (role admin). */
  readonly adminProjects: (options?: RequestOptions) => Promise<ReadonlyArray<AdminProject>>
  /** `GET /admin/projects/{projectId}/journal?after=&limit=` (role admin): one page, oldest first. */
  readonly adminJournal: (
    projectId: string,
    params?: { readonly after?: number; readonly limit?: number },
    options?: RequestOptions
  ) => Promise<JournalPage>
  /** `GET /admin/cluster` (role admin). */
  readonly adminCluster: (options?: RequestOptions) => Promise<ClusterView>
  /** `GET /metrics` (role admin): Prometheus text. */
  readonly metrics: (options?: RequestOptions) => Promise<string>
}

/** Input that fails the API's schema: refused before anything is sent. */
class InvalidInput {
  readonly _tag = "InvalidInput"
  constructor(readonly message: string) {}
}

const decodeInput = <A, I>(schema: Schema.Schema<A, I>, what: string) => (input: unknown) =>
  Effect.mapError(
    Schema.decodeUnknown(schema)(input, { errors: "all", onExcessProperty: "error" }),
    (error) => new InvalidInput(`${what}: ${ParseResult.TreeFormatter.formatErrorSync(error)}`)
  )

const projectIdOf = decodeInput(ProjectId, "projectId")
const taskIdOf = decodeInput(TaskId, "taskId")
const userIdOf = decodeInput(UserId, "userId")
const executionIdOf = decodeInput(ExecutionId, "executionId")
const errorIdOf = decodeInput(ErrorId, "errorId")
const eventIdOf = decodeInput(EventId, "eventId")

/** The HTTP status a domain error class declares. */
const declaredStatus = (error: object): number => {
  const schema: unknown = error.constructor
  return Schema.isSchema(schema) ? HttpApiSchema.getStatusErrorAST(schema.ast) : 500
}

const bodyOf = (error: object): Readonly<Record<string, unknown>> =>
  Object.fromEntries(Object.entries(error).filter(([, value]) => typeof value !== "function"))

const toDevTeamError = (cause: Cause.Cause<unknown>, correlationId: string): DevTeamError => {
  const common = { correlationId, cause: Cause.squash(cause) }
  if (Cause.isInterruptedOnly(cause)) {
    return new DevTeamError({
      ...common,
      tag: "Aborted",
      status: 0,
      message: "aborted by the caller",
      fromServer: false
    })
  }
  const failure = Cause.failureOption(cause)
  if (Option.isNone(failure)) {
    return new DevTeamError({
      ...common,
      tag: "UnexpectedResponse",
      status: 0,
      message: `the client failed unexpectedly: ${Cause.pretty(cause)}`,
      fromServer: false
    })
  }
  const error = failure.value
  if (error instanceof InvalidInput) {
    return new DevTeamError({ ...common, tag: "BadRequest", status: 400, message: error.message, fromServer: false })
  }
  if (HttpClientError.isHttpClientError(error)) {
    return error._tag === "RequestError"
      ? new DevTeamError({
        ...common,
        tag: "NetworkError",
        status: 0,
        message: `no response from the service: ${error.message}`,
        fromServer: false
      })
      : new DevTeamError({
        ...common,
        tag: "UnexpectedResponse",
        status: error.response.status,
        message: `unexpected response ${error.response.status}: ${error.message}`,
        fromServer: true
      })
  }
  if (ParseResult.isParseError(error)) {
    return new DevTeamError({
      ...common,
      tag: "UnexpectedResponse",
      status: 0,
      message: `the response does not match the API: ${ParseResult.TreeFormatter.formatErrorSync(error)}`,
      fromServer: true
    })
  }
  if (Predicate.isTagged(error, "HttpApiDecodeError") && Predicate.hasProperty(error, "message")) {
    return new DevTeamError({
      ...common,
      tag: "UnexpectedResponse",
      status: 0,
      message: `the response does not match the API: ${String(error.message)}`,
      fromServer: true
    })
  }
  if (
    Predicate.isObject(error) && Predicate.hasProperty(error, "_tag") && typeof error._tag === "string" &&
    Predicate.hasProperty(error, "message") && typeof error.message === "string" && isServerErrorTag(error._tag)
  ) {
    return new DevTeamError({
      ...common,
      tag: error._tag,
      status: declaredStatus(error),
      message: error.message,
      fromServer: true,
      body: bodyOf(error)
    })
  }
  return new DevTeamError({
    ...common,
    tag: "UnexpectedResponse",
    status: 0,
    message: `unexpected failure: ${String(error)}`,
    fromServer: false
  })
}

const newId = (): string => globalThis.crypto.randomUUID()

const listRead = (options: ListReadOptions | undefined): TaskListReadParams =>
  new TaskListReadParams(options?.refresh === undefined ? {} : { refresh: options.refresh })

export const createDevTeamClient = (config: DevTeamClientConfig): DevTeamPromiseClient => {
  const token = config.token
  const layerFetch = config.fetch
  const clientEffect = makeClient({
    baseUrl: config.baseUrl,
    retries: config.retries,
    token: typeof token === "function"
      ? Effect.promise(() => Promise.resolve(token()))
      : token
  }).pipe(
    Effect.provide(FetchHttpClient.layer),
    layerFetch === undefined ? (self) => self : Effect.provideService(FetchHttpClient.Fetch, layerFetch)
  )
  // the derived client is built once, on first use
  let built: Promise<Client> | undefined
  const client = (): Promise<Client> => (built ??= Effect.runPromise(clientEffect))

  const run = async <A, E>(
    call: (client: Client) => Effect.Effect<A, E>,
    options: RequestOptions | undefined
  ): Promise<A> => {
    const correlationId = options?.correlationId ?? newId()
    const effect = Effect.flatMap(Effect.promise(client), call).pipe(
      Effect.provideService(RequestHeaders, { "x-correlation-id": correlationId })
    )
    const exit = await Effect.runPromiseExit(
      effect,
      options?.signal === undefined ? undefined : { signal: options.signal }
    )
    if (Exit.isSuccess(exit)) return exit.value
    throw toDevTeamError(exit.cause, correlationId)
  }

  /** The idempotency header of a command: the caller's key, else the body's, else a fresh one. */
  const idempotency = (options: CommandOptions | undefined, bodyKey?: string | undefined) => ({
    "idempotency-key": options?.idempotencyKey ?? bodyKey ?? newId()
  })

  return {
    health: (options) =>
      run(
        (c) =>
          c.health.health().pipe(
            Effect.catchIf((error) => error instanceof UnhealthyReport, (report) => Effect.succeed(report))
          ),
        options
      ),

    ingestEvent: (body, options) =>
      run(
        (c) =>
          Effect.flatMap(
            decodeInput(IngestEventRequest, "body")(body),
            (payload) => c.events.ingest({ payload, headers: idempotency(options) })
          ),
        options
      ),
    getEvent: (eventId, options) =>
      run((c) => Effect.flatMap(eventIdOf(eventId), (id) => c.events.get({ path: { eventId: id } })), options),

    prep: (body, options) =>
      run(
        (c) =>
          Effect.flatMap(
            decodeInput(PrepRequest, "body")(body),
            (payload) => c.runner.prep({ payload, headers: idempotency(options, payload.idempotencyKey) })
          ),
        options
      ),
    implement: (body, options) =>
      run(
        (c) =>
          Effect.flatMap(
            decodeInput(ImplementRequest, "body")(body),
            (payload) => c.runner.implement({ payload, headers: idempotency(options, payload.idempotencyKey) })
          ),
        options
      ),
    verify: (body, options) =>
      run(
        (c) =>
          Effect.flatMap(
            decodeInput(VerifyRequest, "body")(body),
            (payload) =>
              c.runner.verify({ payload, headers: idempotency(options, payload.idempotencyKey) }).pipe(
                Effect.catchIf(
                  (error) => error instanceof VerifyFailedResponse,
                  (failed) => Effect.succeed(failed)
                )
              )
          ),
        options
      ),
    nextTask: (params, options) =>
      run(
        (c) =>
          Effect.flatMap(
            decodeInput(NextTaskParams, "params")({
              ...(params?.projectId === undefined ? {} : { projectId: params.projectId }),
              ...(params?.customerId === undefined ? {} : { customerId: params.customerId }),
              ...(params?.excludeCompleted === undefined ? {} : { excludeCompleted: String(params.excludeCompleted) }),
              ...(params?.refresh === undefined ? {} : { refresh: String(params.refresh) })
            }),
            (urlParams) => c.runner.nextTask({ urlParams })
          ),
        options
      ),

    initialize: (body, options) =>
      run(
        (c) =>
          Effect.flatMap(
            decodeInput(InitializeRequest, "body")(body),
            (payload) => c.automation.initialize({ payload, headers: idempotency(options, payload.idempotencyKey) })
          ),
        options
      ),
    status: (projectId, options) =>
      run(
        (c) => Effect.flatMap(projectIdOf(projectId), (id) => c.automation.status({ path: { projectId: id } })),
        options
      ),
    pause: (projectId, options) =>
      run(
        (c) =>
          Effect.flatMap(
            projectIdOf(projectId),
            (id) => c.automation.pause({ path: { projectId: id }, headers: idempotency(options) })
          ),
        options
      ),
    resume: (projectId, options) =>
      run(
        (c) =>
          Effect.flatMap(
            projectIdOf(projectId),
            (id) => c.automation.resume({ path: { projectId: id }, headers: idempotency(options) })
          ),
        options
      ),
    stop: (projectId, options) =>
      run(
        (c) =>
          Effect.flatMap(
            projectIdOf(projectId),
            (id) => c.automation.stop({ path: { projectId: id }, headers: idempotency(options) })
          ),
        options
      ),

    putProject: (projectId, settings, options) =>
      run(
        (c) =>
          Effect.flatMap(
            Effect.all([projectIdOf(projectId), decodeInput(ProjectSettingsRequest, "settings")(settings)]),
            ([id, payload]) => c.projects.put({ path: { projectId: id }, payload, headers: idempotency(options) })
          ),
        options
      ),
    getProject: (projectId, options) =>
      run(
        (c) =>
          Effect.flatMap(projectIdOf(projectId), (id) =>
            c.projects.get({
              path: { projectId: id },
              urlParams: new ProjectGetParams(options?.taskList === undefined ? {} : { taskList: options.taskList })
            })),
        options
      ),
    listProjects: (params, options) =>
      run(
        (c) =>
          Effect.flatMap(
            decodeInput(ProjectListParams, "params")({
              ...(params?.customerId === undefined ? {} : { customerId: params.customerId }),
              ...(params?.limit === undefined ? {} : { limit: String(params.limit) }),
              ...(params?.offset === undefined ? {} : { offset: String(params.offset) })
            }),
            (urlParams) => c.projects.list({ urlParams })
          ),
        options
      ),
    deleteProject: (projectId, options) =>
      run(
        (c) =>
          Effect.flatMap(
            projectIdOf(projectId),
            (id) => c.projects.delete({ path: { projectId: id }, headers: idempotency(options) })
          ),
        options
      ),

    validateRepository: (body, options) =>
      run(
        (c) =>
          Effect.flatMap(decodeInput(ValidateRequest, "body")(body), (payload) => c.repository.validate({ payload })),
        options
      ),
    tasks: (projectId, options) =>
      run(
        (c) =>
          Effect.flatMap(
            projectIdOf(projectId),
            (id) => c.repository.tasks({ path: { projectId: id }, urlParams: listRead(options) })
          ),
        options
      ),
    plan: (projectId, options) =>
      run(
        (c) =>
          Effect.flatMap(
            projectIdOf(projectId),
            (id) => c.repository.plan({ path: { projectId: id }, urlParams: listRead(options) })
          ),
        options
      ),
    updateTask: (projectId, taskId, patch, options) =>
      run(
        (c) =>
          Effect.flatMap(
            Effect.all([projectIdOf(projectId), taskIdOf(taskId), decodeInput(TaskPatch, "patch")(patch)]),
            ([project, task, payload]) =>
              c.repository.updateTask({
                path: { projectId: project, taskId: task },
                payload,
                headers: idempotency(options)
              })
          ),
        options
      ),
    injectTask: (body, options) =>
      run(
        (c) =>
          Effect.flatMap(
            decodeInput(InjectTaskRequest, "body")(body),
            (payload) => c.tasks.inject({ payload, headers: idempotency(options) })
          ),
        options
      ),

    activeExecutions: (userId, options) =>
      run((c) => Effect.flatMap(userIdOf(userId), (id) => c.executions.active({ path: { userId: id } })), options),
    executionHistory: (userId, params, options) =>
      run(
        (c) =>
          Effect.flatMap(
            Effect.all([
              userIdOf(userId),
              decodeInput(HistoryParams, "params")(
                params?.limit === undefined ? {} : { limit: String(params.limit) }
              )
            ]),
            ([id, urlParams]) => c.executions.history({ path: { userId: id }, urlParams })
          ),
        options
      ),
    execution: (executionId, options) =>
      run(
        (c) => Effect.flatMap(executionIdOf(executionId), (id) => c.executions.get({ path: { executionId: id } })),
        options
      ),
    executionError: (executionId, errorId, options) =>
      run(
        (c) =>
          Effect.flatMap(
            Effect.all([executionIdOf(executionId), errorIdOf(errorId)]),
            ([execution, error]) => c.errors.get({ path: { executionId: execution, errorId: error } })
          ),
        options
      ),

    adminProjects: (options) => run((c) => c.admin.projects(), options),
    adminJournal: (projectId, params, options) =>
      run(
        (c) =>
          Effect.flatMap(
            Effect.all([
              projectIdOf(projectId),
              decodeInput(JournalParams, "params")({
                ...(params?.after === undefined ? {} : { after: String(params.after) }),
                ...(params?.limit === undefined ? {} : { limit: String(params.limit) })
              })
            ]),
            ([id, urlParams]) => c.admin.journal({ path: { projectId: id }, urlParams })
          ),
        options
      ),
    adminCluster: (options) => run((c) => c.admin.cluster(), options),
    metrics: (options) => run((c) => c.admin.metrics(), options)
  }
}
