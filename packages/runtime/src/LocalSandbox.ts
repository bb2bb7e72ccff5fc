/**
 * The `local` sandbox: processes in the workspace directory, same interface, timeouts and line
 * streaming as the docker one. They start from the `ProcessLauncher` in context — in the service,
 * its small helper process, so that no fork of the whole service blocks its loop (10–25 ms each
 * at 350 MB). NOT isolation — commands run as the runner's user on the runner's machine (no
 * limits, full network, full filesystem); `health()` says so. The runner's own environment
 * (tokens, keys) is not inherited: a command sees PATH, a scratch HOME (not the service user's,
 * with its dotfiles), LANG, TMPDIR and what the caller passes. What it cannot hide from a process
 * of the same user: the service's own initial environment in `/proc/<pid>/environ` and every file
 * the user can read (README, "Security").
 *
 * Every command carries two markers in its environment (inherited by its children): the runner's
 * pid and the workspace. A runner that dies can leave its commands running (they lead their own
 * process groups; the helper kills them when the runner's channel closes, unless it died too);
 * acquiring a sandbox for a workspace again kills whatever a dead runner left there, so that a
 * re-run step never races the interrupted one (`internal/localProcesses`: the acquisition looks
 * for leftovers only when the workspace's last owner is a runner that died holding it).
 */
import { SandboxUnavailable } from "@devteam/domain/Errors"
import { Deferred, Effect, Either, Exit, Layer, Queue } from "effect"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
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
import { type Launcher, ProcessLauncher } from "./ProcessLauncher.js"
import { Redactor } from "./Redaction.js"
import type { AcquireOptions, ExecOptions, SandboxHandle } from "./Sandbox.js"
import { isSecretName, proxyEnv, resolveCwd, Sandbox } from "./Sandbox.js"
import * as SandboxCache from "./SandboxCache.js"

/** Starts one command through the launcher: its output into a queue, its exit into a deferred. */
const startProcess = (
  launcher: Launcher,
  argv: ReadonlyArray<string>,
  cwd: string,
  env: Record<string, string>
): Effect.Effect<StartedProcess> =>
  Effect.gen(function*() {
    const output = yield* Queue.unbounded<RawChunk | null>()
    const exited = yield* Deferred.make<number>()
    const [file, ...args] = argv
    const finish = (code: number) => Deferred.unsafeDone(exited, Exit.succeed(code))
    const refuse = (message: string, code: number) => {
      Queue.unsafeOffer(output, { stream: "stderr", text: `${message}\n` })
      Queue.unsafeOffer(output, null)
      finish(code)
      return { output, exit: Deferred.await(exited), kill: Effect.void, wasOomKilled: () => Effect.succeed(false) }
    }
    if (file === undefined || file === "") return refuse("sandbox: empty command", 127)
    // its own process group (the launcher's doing), so the whole tree can be killed at once
    const started = yield* Effect.either(launcher.start({ file, args, cwd, env }, {
      onOutput: (stream, text) => Queue.unsafeOffer(output, { stream, text }),
      onExit: finish,
      onEnd: () => Queue.unsafeOffer(output, null)
    }))
    if (Either.isLeft(started)) {
      const error = started.left
      return error.code === "ENOENT"
        ? refuse(`sandbox: command not found: ${file}`, 127)
        : refuse(`sandbox: cannot run ${file}: ${error.code || error.detail}`, 126)
    }
    const pgid = started.right
    const kill = Effect.gen(function*() {
      killGroup(pgid)
      let members = groupMembers(pgid)
      for (let i = 0; i < 200 && members.length > 0; i++) {
        yield* Effect.sleep("10 millis")
        killGroup(pgid)
        members = stillAlive(members)
      }
      // Until its parent has reaped the child it is a zombie that `kill -0` still finds: wait for its exit.
      yield* Deferred.await(exited).pipe(Effect.timeout("5 seconds"), Effect.ignore)
    })
    return { output, exit: Deferred.await(exited), kill, wasOomKilled: () => Effect.succeed(false) }
  })

/** The local Sandbox service. */
export const make: Effect.Effect<Sandbox["Type"], never, Redactor> = Effect.gen(function*() {
  const redactor = yield* Redactor
  // the service's helper process in the service (a fork of this process would block its loop)
  const launcher = yield* ProcessLauncher

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
          startProcess(launcher, opts.command, cwd, { ...baseEnv, ...Object.fromEntries(extra) }),
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
