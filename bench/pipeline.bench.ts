import { git } from "@devteam/runtime/testing/GitRemote"
/**
 * Pipeline overhead per task (quality.md: ≤ 250 ms local sandbox, ≤ 1 s docker): the wall time of
 * the 7 steps SELECT → UPDATE_TASKLIST of one task minus the time spent inside the tool's command
 * and the verify commands, with the `script` tool (a one-line edit) and a trivial `npm run build`
 * (default verify: `npm ci` + `npm run build`), warm workspace (a first task clones; it is not
 * measured), against a local `file://` bare remote. The steps are driven through `StepRunner.run`
 * with the journal folded by the domain's decide/evolve, as the project actor does (the journal's
 * own write cost is measured by journal.bench.ts). Median over ≥ 5 tasks per sandbox.
 *
 * The sandbox is wrapped to time every command it runs; "command time" is the exec time of the
 * script and of the verify commands — everything else (git, sandbox set-up, the tool's helper
 * commands such as reading the diff, journal folding) is overhead.
 */
import { ExecutionCommand } from "@devteam/domain/ExecutionCommand"
import { ExecutionConfig } from "@devteam/domain/ExecutionConfig"
import { decide, evolve } from "@devteam/domain/ExecutionMachine"
import type { Step } from "@devteam/domain/ExecutionStatus"
import { CustomerId, EventId, ExecutionId, ProjectId } from "@devteam/domain/Ids"
import { initial, type ProjectState } from "@devteam/domain/ProjectState"
import * as PipelineStepRunner from "@devteam/runner/PipelineStepRunner"
import { StepRunner } from "@devteam/runner/StepRunner"
import * as TaskListSource from "@devteam/runner/TaskListSource"
import * as DockerSandbox from "@devteam/runtime/DockerSandbox"
import * as GitWorkspace from "@devteam/runtime/GitWorkspace"
import * as LocalSandbox from "@devteam/runtime/LocalSandbox"
import * as Redaction from "@devteam/runtime/Redaction"
import { Sandbox, testImage } from "@devteam/runtime/Sandbox"
import * as ScriptTool from "@devteam/runtime/ScriptTool"
import * as Tool from "@devteam/runtime/Tool"
import * as Verifier from "@devteam/runtime/Verifier"
import { Duration, Effect, Either, Exit, Layer, Logger, LogLevel, Option, Scope } from "effect"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { summarize } from "./stats.js"

const tasksMeasured = Number(process.env.BENCH_PIPELINE_TASKS ?? 6)
const image = testImage
const steps: ReadonlyArray<Step> = ["SELECT", "PREP", "IMPLEMENT", "VERIFY", "MERGE", "PUSH", "UPDATE_TASKLIST"]
const script = "echo \"done $DEVTEAM_TASK_ID\" > \"notes-$DEVTEAM_TASK_ID.txt\""
const buildScript = "node -e \"console.log('build ok')\""

/** A bare remote: a trivial npm project and a task list of `tasks` independent tasks. */
const makeRemote = (root: string, tasks: number): string => {
  const bare = Path.join(root, "project.git")
  const work = Path.join(root, "seed")
  Fs.mkdirSync(Path.join(work, "docs/DevTeam"), { recursive: true })
  git(root, ["init", "--quiet", "--bare", "--initial-branch=main", bare])
  git(work, ["init", "--quiet", "--initial-branch=main"])
  Fs.writeFileSync(
    Path.join(work, "package.json"),
    JSON.stringify({ name: "bench", version: "1.0.0", private: true, scripts: { build: buildScript } }, null, 2)
  )
  Fs.writeFileSync(
    Path.join(work, "package-lock.json"),
    JSON.stringify(
      {
        name: "bench",
        version: "1.0.0",
        lockfileVersion: 3,
        requires: true,
        packages: { "": { name: "bench", version: "1.0.0" } }
      },
      null,
      2
    )
  )
  const lines = Array.from({ length: tasks }, (_, i) => `  - [ ] 1.1.${i + 1} Task number ${i + 1}`)
  Fs.writeFileSync(
    Path.join(work, "docs/DevTeam/tasks_list.md"),
    `# Tasks\n\nPhase 1: Bench\n\n- 1.1 Tasks\n${lines.join("\n")}\n`
  )
  git(work, ["add", "--all"])
  git(work, ["commit", "--quiet", "-m", "initial"])
  git(work, ["push", "--quiet", bare, "HEAD:refs/heads/main"])
  return bare
}

/** Time spent inside the user's commands (the script, the verify commands). */
interface CommandClock {
  total: number
  tool: number
  verify: number
}

/** Wraps a Sandbox so that every exec of a user command adds its duration to `clock`. */
const timedSandbox = (inner: Sandbox["Type"], clock: CommandClock, verifyCommands: ReadonlySet<string>) =>
  Sandbox.of({
    ...inner,
    acquire: (options) =>
      Effect.map(inner.acquire(options), (handle) => ({
        ...handle,
        exec: (opts) =>
          Effect.tap(handle.exec(opts), (result) =>
            Effect.sync(() => {
              const [shell, flag, line] = opts.command
              if (shell !== "sh" || flag !== "-c" || line === undefined) return
              if (line === script) {
                clock.tool += result.duration
                clock.total += result.duration
              } else if (verifyCommands.has(line)) {
                clock.verify += result.duration
                clock.total += result.duration
              }
            }))
      }))
  })

const measure = (kind: "local" | "docker") =>
  Effect.gen(function*() {
    const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), `devteam-bench-pipeline-${kind}-`))
    yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(root, { recursive: true, force: true })))
    const bare = makeRemote(root, tasksMeasured + 1)
    const clock: CommandClock = { total: 0, tool: 0, verify: 0 }
    const redactor = Redaction.layerWith([])
    const workspace = GitWorkspace.layer({
      workspaceDir: Path.join(root, "workspaces"),
      allowFile: true,
      gitUsername: Option.none(),
      credentials: [],
      authorName: "DevTeam Runner",
      authorEmail: "devteam-runner@localhost",
      commandTimeout: Duration.minutes(2)
    })
    const inner = kind === "local"
      ? LocalSandbox.make
      : DockerSandbox.make({
        kind: Option.some("docker"),
        image,
        resources: { cpus: 1, memoryMiB: 2048, pidsLimit: 512, network: "none" },
        dockerHost: Option.fromNullable(process.env.DOCKER_HOST),
        dockerSocket: "/var/run/docker.sock",
        owner: `bench-pipeline-${process.pid}`,
        sweepInterval: Duration.hours(1),
        startTimeout: Duration.seconds(60)
      })
    const sandbox = Layer.effect(
      Sandbox,
      Effect.map(inner, (s) => timedSandbox(s, clock, new Set(["npm ci", "npm run build --if-present"])))
    )
    const ports = Layer.mergeAll(
      workspace,
      TaskListSource.layer.pipe(Layer.provide(workspace)),
      sandbox,
      Tool.layer([ScriptTool.make({ command: Option.none(), timeout: Duration.minutes(1), allowNoChanges: false })]),
      Verifier.layerWith({ commandTimeout: Duration.minutes(2), retries: 0 })
    ).pipe(Layer.provideMerge(redactor))
    const layer = PipelineStepRunner.layerWith(PipelineStepRunner.defaultSettings).pipe(Layer.provide(ports))

    return yield* Effect.gen(function*() {
      const runner = yield* StepRunner
      const executionScope = yield* Scope.make()
      let state: ProjectState = initial(ProjectId.make(`bench/pipeline-${kind}`))
      const apply = (command: ExecutionCommand) => {
        const decision = decide(state, command)
        if (Either.isLeft(decision)) throw new Error(decision.left.message)
        for (const event of decision.right) state = evolve(state, event)
      }
      const at = () => new Date().toISOString()
      apply(ExecutionCommand.Initialize({
        executionId: ExecutionId.make(crypto.randomUUID()),
        eventId: EventId.make(crypto.randomUUID()),
        config: new ExecutionConfig({
          repoUrl: `file://${bare}`,
          baseBranch: "main",
          taskListPath: "docs/DevTeam/tasks_list.md",
          tool: "script",
          script,
          customerId: CustomerId.make("bench")
        }),
        at: at()
      }))
      const stepTimes: Record<string, Array<number>> = {}
      const runTask = Effect.gen(function*() {
        for (const step of steps) {
          const started = performance.now()
          apply(ExecutionCommand.StartStep({ step, taskId: state.currentTask?.id ?? null, at: at() }))
          const before = clock.total
          const result = yield* runner.run(step, {
            state,
            correlationId: "bench",
            executionScope,
            log: () => Effect.void
          })
          if (result._tag === "Finished") return yield* Effect.dieMessage("ran out of tasks")
          apply(ExecutionCommand.CompleteStep({ outcome: result.outcome }))
          ;(stepTimes[step] ??= []).push(performance.now() - started - (clock.total - before))
        }
      })
      // Warm-up: clones the repository, starts the sandbox (docker: the container), warms npm.
      yield* runTask
      for (const step of steps) stepTimes[step] = []
      const wall: Array<number> = []
      const overhead: Array<number> = []
      const commands: Array<number> = []
      const toolTimes: Array<number> = []
      const verifyTimes: Array<number> = []
      for (let i = 0; i < tasksMeasured; i++) {
        clock.total = 0
        clock.tool = 0
        clock.verify = 0
        const started = performance.now()
        yield* runTask
        const elapsed = performance.now() - started
        wall.push(elapsed)
        commands.push(clock.total)
        toolTimes.push(clock.tool)
        verifyTimes.push(clock.verify)
        overhead.push(elapsed - clock.total)
      }
      yield* Scope.close(executionScope, Exit.void)
      const merges = git(bare, ["rev-list", "--merges", "--count", "main"]).trim()
      return {
        tasks: tasksMeasured,
        mergesOnRemote: Number(merges),
        taskWallMs: summarize(wall),
        commandMs: summarize(commands),
        overheadMs: summarize(overhead),
        toolCommandMsP50: summarize(toolTimes).p50,
        verifyCommandsMsP50: summarize(verifyTimes).p50,
        stepOverheadMsP50: Object.fromEntries(steps.map((s) => [s, summarize(stepTimes[s] ?? []).p50]))
      }
    }).pipe(Effect.provide(layer))
  }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning))

export const run = async (): Promise<Record<string, unknown>> => {
  const local = await Effect.runPromise(measure("local"))
  let docker: Record<string, unknown>
  try {
    const repoRoot = Path.join(Path.dirname(fileURLToPath(import.meta.url)), "..")
    execFileSync(Path.join(repoRoot, "scripts/build-sandbox-image.sh"), [image], { stdio: "inherit" })
    // The sandbox user (uid 1000) writes into the workspace the runner's git creates.
    const previous = process.umask(0)
    try {
      docker = await Effect.runPromise(measure("docker"))
    } finally {
      process.umask(previous)
    }
  } catch (error) {
    docker = { error: error instanceof Error ? error.message : String(error) }
  }
  return {
    what: "wall time of SELECT→UPDATE_TASKLIST per task minus time inside the script and verify commands",
    local,
    docker,
    targetOverheadP50Ms: { local: 250, docker: 1000 }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run().then((r) => console.log(JSON.stringify(r, null, 2)), (e: unknown) => {
    console.error(e)
    process.exitCode = 1
  })
}
