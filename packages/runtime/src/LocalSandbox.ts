/**
 * The `local` sandbox: child processes in the workspace directory, same interface, timeouts and
 * line streaming as the docker one. NOT isolation — commands run as the runner's user on the
 * runner's machine (no limits, full network, full filesystem); `health()` says so. The runner's
 * own environment (tokens, keys) is not inherited: a command sees PATH, a scratch HOME (not the
 * service user's, with its dotfiles), LANG, TMPDIR and what the caller passes. What it cannot
 * hide from a process of the same user: the service's own initial environment in
 * `/proc/<pid>/environ` and every file the user can read (README, "Security").
 *
 * Every command carries two markers in its environment (inherited by its children): the runner's
 * pid and the workspace. A runner that dies leaves its commands running (they lead their own
 * process groups); acquiring a sandbox for a workspace again kills whatever a dead runner left
 * there, so that a re-run step never races the interrupted one (`internal/localProcesses`: the
 * acquisition looks for leftovers only when the workspace's last owner is a runner that died holding it).
 */
import { SandboxUnavailable } from "@devteam/domain/Errors"
import { Deferred, Effect, Exit, Layer, Queue } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { StringDecoder } from "node:string_decoder"
import * as EgressProxy from "./EgressProxy.js"
import {
  claimWorkspace,
  groupMembers,
  killGroup,
  killOrphans,
  OWNER_VAR,
  releaseWorkspace,
  stillAlive,
  WORKSPACE_VAR
} from "./internal/localProcesses.js"
import { drive, registerSecrets, validEnvName } from "./internal/sandboxExec.js"
import type { RawChunk, StartedProcess } from "./internal/sandboxExec.js"
import { Redactor } from "./Redaction.js"
import type { AcquireOptions, ExecOptions, SandboxHandle } from "./Sandbox.js"
import { isSecretName, proxyEnv, resolveCwd, Sandbox } from "./Sandbox.js"
import * as SandboxCache from "./SandboxCache.js"

const signalExitCode = (signal: NodeJS.Signals | null): number => {
  const n = signal === null ? undefined : os.constants.signals[signal]
  return 128 + (n ?? 9)
}

const startProcess = (
  argv: ReadonlyArray<string>,
  cwd: string,
  env: Record<string, string>
): Effect.Effect<StartedProcess> =>
  Effect.gen(function*() {
    const output = yield* Queue.unbounded<RawChunk | null>()
    const exited = yield* Deferred.make<number>()
    const [file, ...args] = argv
    const finish = (code: number) => Deferred.unsafeDone(exited, Exit.succeed(code))
    if (file === undefined || file === "") {
      Queue.unsafeOffer(output, { stream: "stderr", text: "sandbox: empty command\n" })
      Queue.unsafeOffer(output, null)
      finish(127)
      return { output, exit: Deferred.await(exited), kill: Effect.void, wasOomKilled: () => Effect.succeed(false) }
    }
    // detached: the child leads a new process group, so the whole tree can be killed at once.
    const child = spawn(file, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] })
    const pgid = child.pid
    let open = 2
    const closeOne = () => {
      open -= 1
      if (open === 0) Queue.unsafeOffer(output, null)
    }
    for (const stream of ["stdout", "stderr"] as const) {
      const readable = child[stream]
      const decoder = new StringDecoder("utf8")
      readable.on("data", (b: Buffer) => Queue.unsafeOffer(output, { stream, text: decoder.write(b) }))
      readable.on("close", () => {
        const rest = decoder.end()
        if (rest.length > 0) Queue.unsafeOffer(output, { stream, text: rest })
        closeOne()
      })
    }
    child.on("error", (error: NodeJS.ErrnoException) => {
      const message = error.code === "ENOENT"
        ? `sandbox: command not found: ${file}`
        : `sandbox: cannot run ${file}: ${error.code ?? error.message}`
      Queue.unsafeOffer(output, { stream: "stderr", text: `${message}\n` })
      finish(error.code === "ENOENT" ? 127 : 126)
    })
    child.on("exit", (code, signal) => {
      // The command's process group dies with it: leftovers of a finished command are killed.
      if (pgid !== undefined) killGroup(pgid)
      finish(code ?? signalExitCode(signal))
    })
    const kill = Effect.gen(function*() {
      if (pgid === undefined) return
      killGroup(pgid)
      let members = groupMembers(pgid)
      for (let i = 0; i < 200 && members.length > 0; i++) {
        yield* Effect.sleep("10 millis")
        killGroup(pgid)
        members = stillAlive(members)
      }
      // Until node has reaped the child it is a zombie that `kill -0` still finds: wait for its exit.
      yield* Deferred.await(exited).pipe(Effect.timeout("5 seconds"), Effect.ignore)
    })
    return { output, exit: Deferred.await(exited), kill, wasOomKilled: () => Effect.succeed(false) }
  })

/** The local Sandbox service. */
export const make: Effect.Effect<Sandbox["Type"], never, Redactor> = Effect.gen(function*() {
  const redactor = yield* Redactor

  const acquire = Effect.fn("Sandbox.acquire")(function*(options: AcquireOptions) {
    yield* Effect.annotateLogsScoped({ projectId: options.projectId, executionId: options.executionId })
    const workspacePath = options.workspacePath
    const isDir = yield* Effect.promise(() => fs.stat(workspacePath).then((s) => s.isDirectory(), () => false))
    if (!path.isAbsolute(workspacePath) || !isDir) {
      return yield* new SandboxUnavailable({
        message: `workspace ${workspacePath} is not an existing absolute directory`
      })
    }
    const tmpdir = yield* Effect.acquireRelease(
      Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "devteam-sandbox-"))),
      (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
    )
    const home = path.join(tmpdir, "home")
    yield* Effect.promise(() => fs.mkdir(home, { mode: 0o700 }))
    // released with the sandbox: its commands are gone by then (an exec kills its group when it ends)
    const killed = yield* Effect.acquireRelease(
      Effect.sync(() => claimWorkspace(workspacePath)),
      () => Effect.sync(() => releaseWorkspace(workspacePath))
    )
    if (killed > 0) {
      yield* Effect.logInfo(`sandbox: killed ${killed} command(s) a dead runner process left in ${workspacePath}`)
    }
    // The same proxy as the docker sandbox's, on a loopback port — but a local command can ignore
    // the variables and connect directly: the allow-lists are not enforced here (health says so).
    const proxy = yield* EgressProxy.make({ listen: { loopbackPort: 0 }, sandbox: workspacePath, enforced: false })
    const proxyUrl = `http://127.0.0.1:${"port" in proxy.address ? proxy.address.port : 0}`
    const baseEnv: Record<string, string> = {
      ...proxyEnv(proxyUrl),
      PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
      HOME: home,
      LANG: "C.UTF-8",
      TMPDIR: tmpdir,
      [OWNER_VAR]: String(process.pid),
      [WORKSPACE_VAR]: workspacePath
    }
    const exec = (opts: ExecOptions) =>
      Effect.gen(function*() {
        const cwd = yield* resolveCwd(workspacePath, opts.cwd, path.join)
        const extra = Object.entries(opts.env ?? {}).filter(([k]) => validEnvName(k))
        yield* registerSecrets(redactor, opts.env, isSecretName)
        return yield* drive(
          startProcess(opts.command, cwd, { ...baseEnv, ...Object.fromEntries(extra) }),
          opts,
          redactor
        )
      }).pipe(Effect.withSpan("Sandbox.exec", { attributes: { kind: "local", command: opts.command[0] ?? "" } }))
    const cacheDir = yield* SandboxCache.projectCacheDir(options.projectId)
    const handle: SandboxHandle = {
      kind: "local",
      id: workspacePath,
      workspacePath,
      workdir: workspacePath,
      tmpdir,
      cacheDir,
      exec,
      egress: { proxyUrl, enforced: false, open: proxy.open }
    }
    return handle
  })

  return {
    kind: "local",
    acquire,
    sweep: () => Effect.sync(() => killOrphans(undefined)),
    health: () =>
      Effect.succeed({
        kind: "local",
        available: true,
        isolation: false,
        message:
          "local sandbox: commands run as child processes of the runner — no isolation, no resource limits, and the egress allow-lists are not enforced (the proxy variables are set, but a command can ignore them)",
        egressEnforced: false
      })
  } satisfies Sandbox["Type"]
})

export const layer: Layer.Layer<Sandbox, never, Redactor> = Layer.effect(Sandbox, make)
