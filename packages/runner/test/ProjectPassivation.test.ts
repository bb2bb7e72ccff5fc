/**
 * Passivation through the real sharding layer (single runner, embedded PGlite): an idle project is
 * released after its max idle time and comes back from the journal on its next command; a project
 * whose execution runs is kept alive until the execution ends. The cluster's reaper looks every
 * 5 s at the least, so the suite waits on passes of it (polled, never slept on).
 */
import { ExecutionConfig } from "@devteam/domain/ExecutionConfig"
import { isRunning } from "@devteam/domain/ExecutionStatus"
import { CustomerId, EventId, ExecutionId } from "@devteam/domain/Ids"
import * as ExecutionQueue from "@devteam/runner/ExecutionQueue"
import * as PlaceholderStepRunner from "@devteam/runner/PlaceholderStepRunner"
import * as ProjectActor from "@devteam/runner/ProjectActor"
import { Project } from "@devteam/runner/ProjectEntity"
import * as Database from "@devteam/runtime/Database"
import { EventBus } from "@devteam/runtime/EventBus"
import { Journal } from "@devteam/runtime/Journal"
import * as Storage from "@devteam/runtime/Storage"
import { Sharding, SingleRunner } from "@effect/cluster"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import { poll } from "./fixtures/E2E.js"

/** Activations per project: each one loads the project from the journal once. */
const loads = new Map<string, number>()

const countingJournal = Layer.effect(
  Journal,
  Effect.map(Journal, (journal) => ({
    ...journal,
    load: (projectId: Parameters<typeof journal.load>[0]) =>
      Effect.tap(
        journal.load(projectId),
        () => Effect.sync(() => loads.set(projectId, (loads.get(projectId) ?? 0) + 1))
      )
  }))
)

const cluster = ProjectActor.layer({ maxIdleTime: "10 millis" }).pipe(
  Layer.provide([
    countingJournal,
    // one long step for the project that runs; the idle ones never run a step
    PlaceholderStepRunner.layer({ tasks: 1, stepDuration: "1 hour" }),
    ExecutionQueue.layer(5),
    PlaceholderStepRunner.unusedParts
  ]),
  Layer.provideMerge(SingleRunner.layer({ runnerStorage: "memory" })),
  Layer.provideMerge(Storage.layerWith(Database.layerPglite(undefined), EventBus.layerMemory))
)

const pid = (name: string) => `acme/${name}-${randomUUID().slice(0, 8)}`

const config = new ExecutionConfig({
  repoUrl: "https://example.com/acme/app.git",
  baseBranch: "main",
  taskListPath: "docs/DevTeam/tasks_list.md",
  tool: "script",
  customerId: CustomerId.make("acme")
})

layer(cluster, { excludeTestServices: true, timeout: "120 seconds" })("Project passivation", (it) => {
  it.effect("an idle project is passivated; a running one is kept until its execution ends", () =>
    Effect.gen(function*() {
      const sharding = yield* Sharding.Sharding
      const client = yield* Project.client
      const active = sharding.activeEntityCount

      // A running project and an idle one.
      const running = pid("running")
      const idle = pid("idle")
      const started = yield* client(running).Initialize({
        correlationId: "t",
        executionId: ExecutionId.make(randomUUID()),
        eventId: EventId.make(randomUUID()),
        config
      })
      assert.strictEqual(started.status, "QUEUED")
      const before = yield* client(idle).GetState({ correlationId: "t" })
      assert.strictEqual(yield* active, 2)

      // The idle one goes at the reaper's next pass; the running one stays.
      yield* poll(active, (n) => n < 2)
      // Another idle project, passivated at a later pass: by then the running one would be gone too.
      yield* client(pid("later")).GetState({ correlationId: "t" })
      yield* poll(active, (n) => n < 2)
      assert.strictEqual(yield* active, 1)
      assert.strictEqual(loads.get(running), 1, "the running project was never passivated")
      // still in its first step (SELECT takes an hour here)
      assert.isTrue(isRunning((yield* client(running).GetState({ correlationId: "t" })).status))
      assert.strictEqual(loads.get(running), 1)

      // The idle project comes back from the journal, as it was.
      assert.strictEqual(loads.get(idle), 1)
      assert.deepStrictEqual(yield* client(idle).GetState({ correlationId: "t" }), before)
      assert.strictEqual(loads.get(idle), 2)

      // Once the execution ends, nothing keeps the running project: it is passivated as well.
      const stopped = yield* client(running).Stop({ correlationId: "t" })
      assert.strictEqual(stopped.status, "STOPPED")
      yield* poll(active, (n) => n === 0)
      assert.strictEqual((yield* client(running).GetState({ correlationId: "t" })).status, "STOPPED")
      assert.strictEqual(loads.get(running), 2)
    }))
})
