/**
 * Pipeline overhead per task (quality.md: ≤ 250 ms local sandbox, ≤ 1 s docker): the wall time of
 * the 7 steps SELECT → UPDATE_TASKLIST of one task minus the time spent inside the tool's command
 * and the verify commands, warm workspace (a first task clones; it is not measured), against a
 * local `file://` bare remote. The steps are driven through `StepRunner.run` with the journal
 * folded by the domain's decide/evolve, as the project actor does (the journal's own write cost is
 * measured by journal.bench.ts). Median over the measured tasks.
 *
 * Three repositories:
 * - `local`, `docker`: a trivial npm project (default verify: `npm ci` — skipped once installed —
 *   and a one-line `npm run build`), the `script` tool writing one file per task;
 * - `dockerTs`: the realistic TypeScript library of the tests (@devteam/runtime/testing/RealProjects:
 *   typescript, vitest, @vitest/coverage-v8 from the npm registry) in the Docker sandbox, the
 *   `script` tool adding a function and its vitest test per task; default verify `npm ci` → build
 *   (tsc) → `vitest run` → `tsc --noEmit`. Its first VERIFY is cold: a new project (empty download
 *   cache, no node_modules) installs from the registry through the egress proxy on VERIFY's
 *   allow-list; the later ones are warm (the install is skipped, nothing downloaded).
 *
 * The sandbox is wrapped to time every command it runs; "command time" is the exec time of the
 * script during IMPLEMENT (the tool's one command: the prompt file written, then the script) and of
 * the verify commands (`sh -c <command>`) during VERIFY — everything else (git, sandbox set-up, the
 * verifier's probe, the tool's helper commands such as reading the diff, journal folding) is
 * overhead. `stepProfile` says where it goes: per step and task, the runner's own processes (git by
 * subcommand) and the sandbox's helper commands, with their count and mean time.
 *
 * Git starts from the process launcher's helper process, as in the service (Main).
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
import * as ProcessLauncher from "@devteam/runtime/ProcessLauncher"
import * as Redaction from "@devteam/runtime/Redaction"
import { Sandbox, testImage } from "@devteam/runtime/Sandbox"
import * as SandboxCache from "@devteam/runtime/SandboxCache"
import * as ScriptTool from "@devteam/runtime/ScriptTool"
import { git, makeBareRemote } from "@devteam/runtime/testing/GitRemote"
import { tsLibrary } from "@devteam/runtime/testing/RealProjects"
import * as Tool from "@devteam/runtime/Tool"
import * as Verifier from "@devteam/runtime/Verifier"
import { Duration, Effect, Either, Exit, Layer, Logger, LogLevel, Option, Scope } from "effect"
import { execFileSync } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import * as Fs from "node:fs"
import { createRequire, syncBuiltinESMExports } from "node:module"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { summarize } from "./stats.js"

const tasksMeasured = Number(process.env.BENCH_PIPELINE_TASKS ?? 6)
const tsTasksMeasured = Number(process.env.BENCH_PIPELINE_TS_TASKS ?? 4)
/** Which repositories to run (comma-separated names; default all three). */
const only = (process.env.BENCH_PIPELINE_ONLY ?? "local,docker,dockerTs").split(",").map((v) => v.trim())
const skipped = { skipped: "not in BENCH_PIPELINE_ONLY" }
const image = testImage
const steps: ReadonlyArray<Step> = ["SELECT", "PREP", "IMPLEMENT", "VERIFY", "MERGE", "PUSH", "UPDATE_TASKLIST"]

const taskList = (tasks: number) =>
  `# Tasks\n\nPhase 1: Bench\n\n- 1.1 Tasks\n${
    Array.from({ length: tasks }, (_, i) => `  - [ ] 1.1.${i + 1} Task number ${i + 1}`).join("\n")
  }\n`

interface Variant {
  readonly name: "local" | "docker" | "dockerTs"
  readonly sandbox: "local" | "docker"
  readonly tasks: number
  readonly files: Record<string, string>
  /** The script tool's command: one task's edit. */
  readonly script: string
}

const trivialProject = (tasks: number): Record<string, string> => ({
  "package.json": JSON.stringify(
    { name: "bench", version: "1.0.0", private: true, scripts: { build: "node -e \"console.log('build ok')\"" } },
    null,
    2
  ),
  "package-lock.json": JSON.stringify(
    {
      name: "bench",
      version: "1.0.0",
      lockfileVersion: 3,
      requires: true,
      packages: { "": { name: "bench", version: "1.0.0" } }
    },
    null,
    2
  ),
  "docs/DevTeam/tasks_list.md": taskList(tasks)
})

const trivialScript = "echo \"done $DEVTEAM_TASK_ID\" > \"notes-$DEVTEAM_TASK_ID.txt\""

/** One function and its vitest test per task (f1_1_3 for 1.1.3). */
const tsScript = [
  "n=$(echo \"$DEVTEAM_TASK_ID\" | tr . _)",
  "printf 'export const f%s = (a: number): number => a + 1\\n' \"$n\" >> src/math.ts",
  "printf 'import { expect, test } from \"vitest\"\\nimport { f%s } from \"../src/math.js\"\\n\\ntest(\"f%s\", () => expect(f%s(1)).toBe(2))\\n' \"$n\" \"$n\" \"$n\" > \"test/f$n.test.ts\""
].join("; ")

/** Time spent inside the user's commands (the script, the verify commands). */
interface CommandClock {
  step: Step | undefined
  total: number
  tool: number
  verify: number
}

/**
 * Where the overhead goes, per step: the host processes the runner spawns (git, by program) and
 * the sandbox commands other than the user's (the tool's and the verifier's helpers), each with
 * its count and wall time. Summed over the measured tasks.
 */
type Profile = Record<string, Record<string, { n: number; ms: number }>>

const note = (profile: Profile, step: Step | undefined, what: string, ms: number) => {
  const row = (profile[step ?? "other"] ??= {})
  const cell = (row[what] ??= { n: 0, ms: 0 })
  cell.n += 1
  cell.ms += ms
}

/**
 * Counts and times every child process of this process (git above all) by program name, into
 * `profile` under the clock's step. Node's builtin module is patched in place (and its ESM
 * bindings re-synced) so that the runtime's own `spawn` calls are seen; undone by the returned
 * function.
 */
const profileSpawns = (clock: CommandClock, profile: Profile): () => void => {
  const childProcess: typeof import("node:child_process") = createRequire(import.meta.url)("node:child_process")
  const original = childProcess.spawn
  const patched = (...args: Array<unknown>): ChildProcess => {
    const started = performance.now()
    const step = clock.step
    const child: ChildProcess = Reflect.apply(original, childProcess, args)
    const argv = Array.isArray(args[1]) ? args[1] : []
    // git by subcommand (`git rev-parse`), the rest by program
    const program = Path.basename(String(args[0])) === "git"
      ? `git ${String(argv[0] ?? "")}`
      : Path.basename(String(args[0]))
    child.once("close", () => note(profile, step, program, performance.now() - started))
    return child
  }
  Reflect.set(childProcess, "spawn", patched)
  syncBuiltinESMExports()
  return () => {
    Reflect.set(childProcess, "spawn", original)
    syncBuiltinESMExports()
  }
}

/** The service's launcher (the helper process), each command timed into `profile` while profiling. */
const timedLauncher = (clock: CommandClock, profile: Profile, profiling: () => boolean) =>
  Layer.scoped(
    ProcessLauncher.ProcessLauncher,
    Effect.map(ProcessLauncher.makeHelper, (inner): ProcessLauncher.Launcher => ({
      // sandbox commands: timed by the sandbox wrapper below
      start: inner.start,
      run: (request) =>
        Effect.suspend(() => {
          const started = performance.now()
          const step = clock.step
          const program = Path.basename(request.file) === "git"
            ? `git ${request.args[0] ?? ""}`
            : Path.basename(request.file)
          return Effect.ensuring(
            inner.run(request),
            Effect.sync(() => {
              if (profiling()) note(profile, step, program, performance.now() - started)
            })
          )
        })
    }))
  )

/** Wraps a Sandbox so that the script (IMPLEMENT) and the verify commands (VERIFY) add their duration to `clock`. */
const timedSandbox = (inner: Sandbox["Type"], clock: CommandClock, script: string, profile: Profile) =>
  Sandbox.of({
    ...inner,
    acquire: (options) =>
      Effect.map(inner.acquire(options), (handle) => ({
        ...handle,
        exec: (opts) =>
          Effect.tap(handle.exec(opts), (result) =>
            Effect.sync(() => {
              // the verifier's own probes pass arguments after the script (`sh -c '…' probe …`)
              const [shell, flag, line, ...rest] = opts.command
              // the script tool runs `sh -c <prelude> devteam-script <script>`
              if (clock.step === "IMPLEMENT" && opts.command.at(-1) === script) {
                clock.tool += result.duration
                clock.total += result.duration
              } else if (
                clock.step === "VERIFY" && shell === "sh" && flag === "-c" && line !== undefined && rest.length === 0
              ) {
                clock.verify += result.duration
                clock.total += result.duration
              } else {
                const name = shell === "sh" && flag === "-c" ? (rest[0] ?? "sh -c") : (shell ?? "?")
                note(profile, clock.step, `exec ${name}`, result.duration)
              }
            }))
      }))
  })

const measure = (variant: Variant) =>
  Effect.gen(function*() {
    const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), `devteam-bench-pipeline-${variant.name}-`))
    yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(root, { recursive: true, force: true })))
    const bare = makeBareRemote({ root, name: "project.git", files: variant.files })
    // a new project each run: its download cache starts empty (the first VERIFY is cold)
    const projectId = ProjectId.make(`bench/pipeline-${variant.name}-${Date.now().toString(36)}`)
    const cacheDir = yield* SandboxCache.projectCacheDir(projectId)
    yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(cacheDir, { recursive: true, force: true })))
    const clock: CommandClock = { step: undefined, total: 0, tool: 0, verify: 0 }
    const profile: Profile = {}
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
    const inner = variant.sandbox === "local"
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
    const sandbox = Layer.effect(Sandbox, Effect.map(inner, (s) => timedSandbox(s, clock, variant.script, profile)))
    const ports = Layer.mergeAll(
      workspace,
      TaskListSource.layer.pipe(Layer.provide(workspace)),
      sandbox,
      Tool.layer([ScriptTool.make({ command: Option.none(), timeout: Duration.minutes(1), allowNoChanges: false })]),
      Verifier.layerWith({ commandTimeout: Duration.minutes(5), retries: 0 })
    ).pipe(Layer.provideMerge(redactor))
    let profiling = false
    const layer = PipelineStepRunner.layerWith(PipelineStepRunner.defaultSettings).pipe(
      Layer.provide(ports),
      Layer.provideMerge(timedLauncher(clock, profile, () => profiling))
    )

    return yield* Effect.gen(function*() {
      const runner = yield* StepRunner
      const executionScope = yield* Scope.make()
      let state: ProjectState = initial(projectId)
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
          script: variant.script,
          customerId: CustomerId.make("bench")
        }),
        at: at()
      }))
      const stepTimes: Record<string, Array<number>> = {}
      const verifyWall: Array<number> = []
      const runTask = Effect.gen(function*() {
        for (const step of steps) {
          const started = performance.now()
          apply(ExecutionCommand.StartStep({ step, taskId: state.currentTask?.id ?? null, at: at() }))
          const before = clock.total
          clock.step = step
          const result = yield* runner.run(step, {
            state,
            correlationId: "bench",
            executionScope,
            log: () => Effect.void
          })
          clock.step = undefined
          if (result._tag === "Finished") return yield* Effect.dieMessage("ran out of tasks")
          if (result.outcome._tag === "VerifyCompleted" && !result.outcome.result.success) {
            return yield* Effect.dieMessage(
              `VERIFY failed for ${result.outcome.taskId}: ${result.outcome.result.attempts[0]?.log.slice(-2000)}`
            )
          }
          apply(ExecutionCommand.CompleteStep({ outcome: result.outcome }))
          const elapsed = performance.now() - started
          if (step === "VERIFY") verifyWall.push(elapsed)
          ;(stepTimes[step] ??= []).push(elapsed - (clock.total - before))
        }
      })
      // Warm-up: clones the repository, starts the sandbox (docker: the container), installs (cold).
      yield* runTask
      const coldVerifyMs = verifyWall[0] ?? Number.NaN
      verifyWall.length = 0
      for (const step of steps) stepTimes[step] = []
      for (const key of Object.keys(profile)) delete profile[key]
      const unpatch = profileSpawns(clock, profile)
      profiling = true
      yield* Effect.addFinalizer(() => Effect.sync(unpatch))
      const wall: Array<number> = []
      const overhead: Array<number> = []
      const commands: Array<number> = []
      const toolTimes: Array<number> = []
      const verifyTimes: Array<number> = []
      for (let i = 0; i < variant.tasks; i++) {
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
        tasks: variant.tasks,
        mergesOnRemote: Number(merges),
        taskWallMs: summarize(wall),
        commandMs: summarize(commands),
        overheadMs: summarize(overhead),
        toolCommandMsP50: summarize(toolTimes).p50,
        verifyCommandsMsP50: summarize(verifyTimes).p50,
        /** The first task's VERIFY step (new project: empty download cache, no node_modules). */
        verifyColdMs: Math.round(coldVerifyMs),
        /** The measured tasks' VERIFY steps (installed: the install is skipped). */
        verifyWarmMs: summarize(verifyWall),
        stepOverheadMsP50: Object.fromEntries(steps.map((s) => [s, summarize(stepTimes[s] ?? []).p50])),
        /** Per step and task (mean): helper processes and sandbox commands, count and ms. */
        stepProfile: Object.fromEntries(
          Object.entries(profile).map(([step, row]) => [
            step,
            Object.fromEntries(
              Object.entries(row).map(([what, c]) => [
                what,
                `${Math.round((c.n / variant.tasks) * 10) / 10} × ${Math.round(c.ms / c.n)} ms`
              ])
            )
          ])
        )
      }
    }).pipe(Effect.provide(layer))
  }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning))

/** Runs `variant` in Docker (building the test image when missing); an error is reported, not thrown. */
const inDocker = async (variant: Variant): Promise<Record<string, unknown>> => {
  try {
    const repoRoot = Path.join(Path.dirname(fileURLToPath(import.meta.url)), "..")
    execFileSync(Path.join(repoRoot, "scripts/build-sandbox-image.sh"), [image], { stdio: "inherit" })
    // The sandbox user (uid 1000) writes into the workspace the runner's git creates.
    const previous = process.umask(0)
    try {
      return await Effect.runPromise(measure(variant))
    } finally {
      process.umask(previous)
    }
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) }
  }
}

/** Measures `variant` when BENCH_PIPELINE_ONLY names it: in-process, or in Docker for the docker sandbox. */
const measured = (variant: Variant): Promise<Record<string, unknown>> =>
  !only.includes(variant.name)
    ? Promise.resolve(skipped)
    : variant.sandbox === "local"
    ? Effect.runPromise(measure(variant))
    : inDocker(variant)

/** The trivial npm project with one task more than measured (the first one clones, warming up). */
const trivial = (name: "local" | "docker", sandbox: Variant["sandbox"]): Variant => ({
  name,
  sandbox,
  tasks: tasksMeasured,
  files: trivialProject(tasksMeasured + 1),
  script: trivialScript
})

export const run = async (): Promise<Record<string, unknown>> => {
  const loadBefore = Os.loadavg().map((n) => Math.round(n * 100) / 100)
  const local = await measured(trivial("local", "local"))
  const docker = await measured(trivial("docker", "docker"))
  const dockerTs = await measured({
    name: "dockerTs",
    sandbox: "docker",
    tasks: tsTasksMeasured,
    files: { ...tsLibrary(), "docs/DevTeam/tasks_list.md": taskList(tsTasksMeasured + 1) },
    script: tsScript
  })
  return {
    what: "wall time of SELECT→UPDATE_TASKLIST per task minus time inside the script and verify commands",
    local,
    docker,
    dockerTs,
    targetOverheadP50Ms: { local: 250, docker: 1000 },
    /** The machine is shared: its 1/5/15-minute load averages before and after. */
    loadAverage: { before: loadBefore, after: Os.loadavg().map((n) => Math.round(n * 100) / 100) }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run().then((r) => console.log(JSON.stringify(r, null, 2)), (e: unknown) => {
    console.error(e)
    process.exitCode = 1
  })
}
