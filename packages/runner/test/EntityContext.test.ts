/**
 * What a Project entity's context holds, through the real sharding layer (single runner, embedded
 * PGlite, composed as the service composes it): the cluster copies that context into every entity
 * it activates, so it is kept to what the entity needs. An execution the entity runs on its own
 * sees the process launcher the runner was given (a context reference: missing, it would silently
 * fall back to spawning from the service) and none of the storage or pipeline services beside the
 * cluster (the cluster's own SQL client is there: its message storage uses it) — also when the
 * command that started it came with other services in its context.
 */
import { ExecutionConfig } from "@devteam/domain/ExecutionConfig"
import { CustomerId, EventId, ExecutionId } from "@devteam/domain/Ids"
import * as Cluster from "@devteam/runner/Cluster"
import * as ExecutionQueue from "@devteam/runner/ExecutionQueue"
import * as PlaceholderStepRunner from "@devteam/runner/PlaceholderStepRunner"
import * as ProjectActor from "@devteam/runner/ProjectActor"
import { Project } from "@devteam/runner/ProjectEntity"
import { StepRunner } from "@devteam/runner/StepRunner"
import * as Database from "@devteam/runtime/Database"
import { EventBus } from "@devteam/runtime/EventBus"
import { Journal } from "@devteam/runtime/Journal"
import * as ProcessLauncher from "@devteam/runtime/ProcessLauncher"
import * as Storage from "@devteam/runtime/Storage"
import { SingleRunner } from "@effect/cluster"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { randomUUID } from "node:crypto"
import { poll } from "./fixtures/E2E.js"

/** The runner's launcher: not `direct`, so a step that fell back to the default would show. */
const launcher: ProcessLauncher.Launcher = { ...ProcessLauncher.direct }

/** What each step saw in its context. */
const seen: Array<{ readonly launcher: boolean; readonly journal: boolean; readonly parentSpan: string | undefined }> =
  []

const recordingSteps = Layer.succeed(
  StepRunner,
  StepRunner.of({
    run: (step, context) =>
      Effect.gen(function*() {
        seen.push({
          launcher: (yield* ProcessLauncher.ProcessLauncher) === launcher,
          journal: Option.isSome(yield* Effect.serviceOption(Journal)),
          parentSpan: Option.match(yield* Effect.option(Effect.currentParentSpan), {
            onNone: () => undefined,
            onSome: (span) => span._tag === "Span" ? span.name : "external"
          })
        })
        return yield* PlaceholderStepRunner.make({ tasks: 1, stepDuration: "1 millis" }).run(step, context)
      })
  })
)

const cluster = ProjectActor.layer().pipe(
  Layer.provide([recordingSteps, ExecutionQueue.layer(5), PlaceholderStepRunner.unusedParts]),
  Layer.provide(Layer.succeed(ProcessLauncher.ProcessLauncher, launcher)),
  Layer.provideMerge(Cluster.fromSqlClientOnly(SingleRunner.layer({ runnerStorage: "memory" }))),
  Layer.provideMerge(Storage.layerWith(Database.layerPglite(undefined), EventBus.layerMemory))
)

layer(cluster, { excludeTestServices: true, timeout: "60 seconds" })("Project entity context", (it) => {
  it.effect("an execution's steps see the runner's process launcher, and not the services beside the cluster or the sender's", () =>
    Effect.gen(function*() {
      const client = yield* Project.client
      const projectId = `acme/context-${randomUUID().slice(0, 8)}`
      // Sent from a context holding other services, as a command from the gateway is: the test's
      // own (the storage services) and another launcher. A local message carries its sender's
      // context to the handler; the entity runs the command, and the execution it starts, in its
      // own — the one an execution the entity resumes by itself (failover, wake-up) has.
      const foreign: ProcessLauncher.Launcher = { ...ProcessLauncher.direct }
      assert.isTrue(Option.isSome(yield* Effect.serviceOption(Journal)))
      yield* client(projectId).Initialize({
        correlationId: "t",
        executionId: ExecutionId.make(randomUUID()),
        eventId: EventId.make(randomUUID()),
        config: new ExecutionConfig({
          repoUrl: "https://example.com/acme/app.git",
          baseBranch: "main",
          taskListPath: "docs/DevTeam/tasks_list.md",
          tool: "script",
          customerId: CustomerId.make("acme")
        })
      }).pipe(Effect.provideService(ProcessLauncher.ProcessLauncher, foreign))
      const done = yield* poll(
        client(projectId).GetState({ correlationId: "t" }),
        (state) => state.status === "COMPLETED"
      )
      assert.strictEqual(done.completedTasks, 1)
      // SELECT … UPDATE_TASKLIST for the task, and the SELECT that finds nothing left
      assert.isAtLeast(seen.length, 8)
      assert.deepStrictEqual(seen.filter((s) => !s.launcher || s.journal), [])
      // the context is the entity's, but the trace goes on: the command's RPC span is the parent
      assert.deepStrictEqual([...new Set(seen.map((s) => s.parentSpan))], [`Project(${projectId}).Initialize`])
    }))
})
