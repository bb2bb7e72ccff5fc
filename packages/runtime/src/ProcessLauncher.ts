/**
 * Where the service starts its child processes: git (`run`: to completion, output buffered) and the
 * local sandbox's commands (`start`: output streamed back, the caller ends it).
 *
 * Starting a process from Node forks the starting process, and `spawn` blocks the event loop
 * until the child has exec'd: the fork copies the page tables of the whole service, so the bigger
 * the service, the longer every command, WebSocket frame and git step of every other project
 * waits. Measured on a 2-core machine (`/bin/true`, per start, wall / the starting process's
 * CPU): 5.4 / 2.4 ms from a 50 MB process, 11.8 / 5.9 ms at 340 MB, 20.9 / 11.2 ms at 840 MB.
 * `git status`: 15.7 ms wall from 50 MB, 25.5 ms from 390 MB.
 *
 * - `direct` spawns from this process: the default when no layer provides another (tests, tools).
 * - `layerHelper`: a small Node process of its own starts them, asked over an IPC channel. The
 *   service's loop never waits for a fork, and each fork copies the helper (about 40 MB), not
 *   the service. No well-kept npm package offers such a spawn server: the helper is our own program
 *   (internal/launcherHelper).
 *
 * Both give the same results: the exit code (a non-zero one is a result, not a failure), the
 * output cut at `maxOutputBytes` per stream, the whole process group killed at the timeout or
 * when the caller is interrupted. Only "could not start" and "timed out" are errors.
 */
import { Context, Effect, Layer } from "effect"
import { type ChildProcess, type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import { StringDecoder } from "node:string_decoder"
import {
  exitCodeOf,
  killGroup,
  type Launcher,
  launcherFailure,
  type LaunchError,
  type LaunchResult,
  notStarted,
  type StartHandlers,
  type StartRequest
} from "./internal/launch.js"
import { makeHelperWith } from "./internal/launcherHelper.js"

export {
  type Launcher,
  LaunchError,
  type LaunchRequest,
  type LaunchResult,
  type StartHandlers,
  type StartRequest
} from "./internal/launch.js"
export { makeHelperWith } from "./internal/launcherHelper.js"

/** Streams a started child's output and exit to `handlers` (both launchers, each on its side). */
const report = (
  child: ChildProcess,
  pid: number,
  handlers: StartHandlers
) => {
  let open = 2
  for (const stream of ["stdout", "stderr"] as const) {
    const readable = child[stream]
    if (readable === null) {
      open -= 1
      continue
    }
    const decoder = new StringDecoder("utf8")
    readable.on("data", (b: Buffer) => handlers.onOutput(stream, decoder.write(b)))
    readable.on("close", () => {
      const rest = decoder.end()
      if (rest.length > 0) handlers.onOutput(stream, rest)
      open -= 1
      if (open === 0) handlers.onEnd()
    })
  }
  child.on("exit", (code, signal) => {
    // The command's process group dies with it: leftovers of a finished command are killed.
    killGroup(pid)
    handlers.onExit(exitCodeOf(code, signal))
  })
}

/** Starts a streamed command from this process (`direct.start`). */
const startHere = (request: StartRequest, handlers: StartHandlers): Effect.Effect<number, LaunchError> =>
  Effect.async<number, LaunchError>((resume) => {
    let child: ChildProcess
    try {
      child = spawn(request.file, [...request.args], {
        cwd: request.cwd,
        env: request.env,
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
        windowsHide: true
      })
    } catch (error) {
      resume(Effect.fail(notStarted(error)))
      return
    }
    const pid = child.pid
    if (pid === undefined) {
      // it did not start; Node says why on the next tick
      child.once(
        "error",
        (error) => resume(Effect.fail(notStarted(error, error.message)))
      )
      return
    }
    // once it runs, its exit says how it ended
    child.on("error", () => {})
    report(child, pid, handlers)
    resume(Effect.succeed(pid))
  })

/** Spawns from this process. */
export const direct: Launcher = {
  start: startHere,
  run: (request) =>
    Effect.async<LaunchResult, LaunchError>((resume) => {
      let settled = false
      const stdout: Array<Buffer> = []
      const stderr: Array<Buffer> = []
      let outBytes = 0
      let errBytes = 0
      let child: ChildProcessWithoutNullStreams
      try {
        child = spawn(request.file, [...request.args], {
          cwd: request.cwd,
          env: request.env,
          stdio: ["pipe", "pipe", "pipe"],
          // its own process group, so a timeout or an interruption also kills what it started
          detached: true,
          windowsHide: true
        })
      } catch (error) {
        // arguments Node refuses before starting anything (a NUL byte in an argument)
        resume(Effect.fail(notStarted(error)))
        return
      }
      const timer = setTimeout(() => {
        if (settled) return
        settled = true
        killGroup(child.pid)
        resume(Effect.fail(launcherFailure("timeout", "")))
      }, request.timeoutMs)
      child.stdout.on("data", (chunk: Buffer) => {
        if (outBytes < request.maxOutputBytes) stdout.push(chunk)
        outBytes += chunk.length
      })
      child.stderr.on("data", (chunk: Buffer) => {
        if (errBytes < request.maxOutputBytes) stderr.push(chunk)
        errBytes += chunk.length
      })
      child.on("error", (error) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resume(Effect.fail(notStarted(error, error.message)))
      })
      child.on("close", (code, signal) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resume(Effect.succeed({
          exitCode: exitCodeOf(code, signal),
          stdout: Buffer.concat(stdout).toString("utf8"),
          stderr: Buffer.concat(stderr).toString("utf8")
        }))
      })
      child.stdin.on("error", () => {
        // the child may exit before reading its input; the exit code tells what happened
      })
      child.stdin.end(request.stdin)
      return Effect.sync(() => {
        settled = true
        clearTimeout(timer)
        killGroup(child.pid)
      })
    })
}

/** The launcher every `runGit` uses: `direct` unless a layer provides another. */
export class ProcessLauncher extends Context.Reference<ProcessLauncher>()("@devteam/runtime/ProcessLauncher", {
  defaultValue: (): Launcher => direct
}) {}

/** `makeHelperWith` with its defaults. */
export const makeHelper = makeHelperWith()

/** `ProcessLauncher` backed by the helper process (the service's layers). */
export const layerHelper: Layer.Layer<ProcessLauncher> = Layer.scoped(ProcessLauncher, makeHelper)
