/**
 * Where the service starts its short child processes (git): run to completion, output buffered.
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
 *   the service. No well-kept npm package offers such a spawn server: the helper is the program below.
 *
 * Both give the same results: the exit code (a non-zero one is a result, not a failure), the
 * output cut at `maxOutputBytes` per stream, the whole process group killed at the timeout or
 * when the caller is interrupted. Only "could not start" and "timed out" are errors.
 */
import { Context, Data, Duration, Effect, Layer, Option, Schema } from "effect"
import { type ChildProcess, type ChildProcessWithoutNullStreams, spawn } from "node:child_process"

export interface LaunchRequest {
  readonly file: string
  readonly args: ReadonlyArray<string>
  readonly cwd: string
  /** The child's whole environment (nothing is inherited). */
  readonly env: Readonly<Record<string, string>>
  readonly stdin: string
  readonly timeoutMs: number
  /** Output beyond this many bytes per stream is dropped. */
  readonly maxOutputBytes: number
}

export interface LaunchResult {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
}

export class LaunchError extends Data.TaggedError("LaunchError")<{
  readonly reason: "spawn" | "timeout"
  /** Why it could not start (empty for a timeout). */
  readonly detail: string
}> {}

export interface Launcher {
  readonly run: (request: LaunchRequest) => Effect.Effect<LaunchResult, LaunchError>
}

const killGroup = (pid: number | undefined): void => {
  if (pid === undefined) return
  try {
    process.kill(-pid, "SIGKILL")
  } catch {
    // already gone
  }
}

/** The exit code of a child killed by a signal: 128 + SIGKILL, as a shell reports it. */
const signalled = (code: number | null, signal: NodeJS.Signals | null) => code ?? (signal === null ? -1 : 128 + 9)

/** Spawns from this process. */
export const direct: Launcher = {
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
        resume(Effect.fail(new LaunchError({ reason: "spawn", detail: String(error) })))
        return
      }
      const timer = setTimeout(() => {
        if (settled) return
        settled = true
        killGroup(child.pid)
        resume(Effect.fail(new LaunchError({ reason: "timeout", detail: "" })))
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
        resume(Effect.fail(new LaunchError({ reason: "spawn", detail: error.message })))
      })
      child.on("close", (code, signal) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resume(Effect.succeed({
          exitCode: signalled(code, signal),
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

/**
 * The helper's program (plain JavaScript, run with `node -e`: no file to ship beside a bundle).
 * `direct` above, on the other side of the channel: a `run` message starts one command, its
 * `exit` or `error` message answers it, a `kill` message (the caller was interrupted) kills its
 * process group. When the service goes away (the channel closes), it kills what still runs.
 */
const helperProgram = String.raw`"use strict";
const { spawn } = require("node:child_process");
const running = new Map();
const killGroup = (pid) => { if (pid === undefined) return; try { process.kill(-pid, "SIGKILL"); } catch {} };
const answer = (message) => { if (process.connected) process.send(message); };
process.on("message", (m) => {
  if (m.type === "kill") {
    const r = running.get(m.id);
    if (r !== undefined) { running.delete(m.id); clearTimeout(r.timer); killGroup(r.pid); }
    return;
  }
  let child;
  try {
    child = spawn(m.file, m.args, { cwd: m.cwd, env: m.env, stdio: ["pipe", "pipe", "pipe"], detached: true });
  } catch (error) {
    answer({ id: m.id, type: "error", reason: "spawn", detail: String(error && error.message) });
    return;
  }
  const out = [], err = [];
  let outBytes = 0, errBytes = 0;
  const entry = { pid: child.pid, timer: undefined };
  entry.timer = setTimeout(() => {
    if (!running.delete(m.id)) return;
    killGroup(child.pid);
    answer({ id: m.id, type: "error", reason: "timeout", detail: "" });
  }, m.timeoutMs);
  running.set(m.id, entry);
  child.stdout.on("data", (c) => { if (outBytes < m.maxOutputBytes) out.push(c); outBytes += c.length; });
  child.stderr.on("data", (c) => { if (errBytes < m.maxOutputBytes) err.push(c); errBytes += c.length; });
  child.on("error", (error) => {
    if (!running.delete(m.id)) return;
    clearTimeout(entry.timer);
    answer({ id: m.id, type: "error", reason: "spawn", detail: error.message });
  });
  child.on("close", (code, signal) => {
    if (!running.delete(m.id)) return;
    clearTimeout(entry.timer);
    const exitCode = code === null ? (signal === null ? -1 : 137) : code;
    answer({ id: m.id, type: "exit", exitCode, stdout: Buffer.concat(out).toString("utf8"),
      stderr: Buffer.concat(err).toString("utf8") });
  });
  child.stdin.on("error", () => {});
  child.stdin.end(m.stdin);
});
process.on("disconnect", () => { for (const r of running.values()) killGroup(r.pid); process.exit(0); });
`

/** What the helper answers: its own program, but still a process boundary. */
const HelperAnswer = Schema.Union(
  Schema.Struct({
    id: Schema.Number,
    type: Schema.Literal("exit"),
    exitCode: Schema.Number,
    stdout: Schema.String,
    stderr: Schema.String
  }),
  Schema.Struct({
    id: Schema.Number,
    type: Schema.Literal("error"),
    reason: Schema.Literal("spawn", "timeout"),
    detail: Schema.String
  })
)
const decodeAnswer = Schema.decodeUnknownOption(HelperAnswer)

/**
 * The helper-backed launcher, for as long as the scope: the helper starts with the first command
 * and again after it died (the commands it was running fail with a `spawn` error, as when git
 * cannot start; callers' retries apply; the next command logs why). Its own environment is
 * empty: it passes each command the environment the caller built, and holds nothing of the
 * service's.
 *
 * `answerGrace`: how long past a command's own timeout the service waits for the helper's answer
 * before it takes the helper for wedged (5 s).
 */
export const makeHelperWith = (options: { readonly answerGrace?: Duration.DurationInput } = {}) =>
  Effect.gen(function*() {
    const answerGraceMs = Duration.toMillis(options.answerGrace ?? Duration.seconds(5))
    const pending = new Map<number, (answer: Effect.Effect<LaunchResult, LaunchError>) => void>()
    let helper: ChildProcess | undefined
    let nextId = 0
    /** Why the last helper went away, until the next command logs it. */
    let lostBecause: string | undefined
    /** The scope is closed: no helper is started any more. */
    let closed = false

    const settleAll = (detail: string) => {
      const waiting = [...pending.values()]
      pending.clear()
      for (const resume of waiting) resume(Effect.fail(new LaunchError({ reason: "spawn", detail })))
    }

    /** `child` is no longer the helper: its commands fail, the next command starts a new one. */
    const retire = (child: ChildProcess, why: string) => {
      if (helper !== child) return
      helper = undefined
      lostBecause = why
      settleAll(`the process launcher ${why}`)
    }

    const start = (): ChildProcess => {
      const child = spawn(process.execPath, ["-e", helperProgram], {
        env: {},
        stdio: ["ignore", "ignore", "inherit", "ipc"],
        windowsHide: true
      })
      child.on("message", (message: unknown) => {
        const answer = Option.getOrUndefined(decodeAnswer(message))
        const resume = answer === undefined ? undefined : pending.get(answer.id)
        if (answer === undefined || resume === undefined) return
        pending.delete(answer.id)
        if (pending.size === 0) child.channel?.unref()
        resume(
          answer.type === "exit"
            ? Effect.succeed({ exitCode: answer.exitCode, stdout: answer.stdout, stderr: answer.stderr })
            : Effect.fail(new LaunchError({ reason: answer.reason, detail: answer.detail }))
        )
      })
      child.on("error", (error) => retire(child, `failed: ${error.message}`))
      child.on("exit", (code, signal) => retire(child, `exited (${signal ?? code ?? "?"})`))
      // idle, the helper keeps nothing alive; while a command runs, the channel is referenced
      child.unref()
      child.channel?.unref()
      return child
    }

    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        const child = helper
        helper = undefined
        closed = true
        settleAll("was shut down")
        // closing the channel makes the helper kill what still runs and exit
        if (child?.connected === true) child.disconnect()
      })
    )

    const lost = Effect.suspend(() => {
      const why = lostBecause
      lostBecause = undefined
      return why === undefined ? Effect.void : Effect.logWarning(`process launcher: ${why}; starting a new one`)
    })

    const send = (request: LaunchRequest): Effect.Effect<LaunchResult, LaunchError> =>
      Effect.async<LaunchResult, LaunchError>((resume) => {
        if (closed) {
          resume(Effect.fail(new LaunchError({ reason: "spawn", detail: "the process launcher was shut down" })))
          return
        }
        const child = helper ?? start()
        helper = child
        const id = nextId++
        // The helper enforces the command's timeout; this only ends the wait on a helper that
        // stopped answering (it is killed: its commands' groups die with it or finish on their own).
        const watchdog = setTimeout(() => {
          if (!pending.delete(id)) return
          resume(Effect.fail(new LaunchError({ reason: "timeout", detail: "the process launcher did not answer" })))
          retire(child, "stopped answering")
          child.kill("SIGKILL")
        }, request.timeoutMs + answerGraceMs)
        pending.set(id, (answer) => {
          clearTimeout(watchdog)
          resume(answer)
        })
        child.channel?.ref()
        const unsent = (error: unknown) => {
          const settle = pending.get(id)
          if (settle === undefined) return
          pending.delete(id)
          settle(Effect.fail(new LaunchError({ reason: "spawn", detail: `the process launcher: ${String(error)}` })))
        }
        try {
          child.send({ type: "run", id, ...request, args: [...request.args] }, (error) => {
            if (error !== null) unsent(error)
          })
        } catch (error) {
          unsent(error)
        }
        return Effect.sync(() => {
          clearTimeout(watchdog)
          if (!pending.delete(id)) return
          if (pending.size === 0) child.channel?.unref()
          if (child.connected) child.send({ type: "kill", id })
        })
      })

    const run = (request: LaunchRequest) => Effect.zipRight(lost, send(request))

    return { run } satisfies Launcher
  })

/** `makeHelperWith` with its defaults. */
export const makeHelper = makeHelperWith()

/** `ProcessLauncher` backed by the helper process (the service's layers). */
export const layerHelper: Layer.Layer<ProcessLauncher> = Layer.scoped(ProcessLauncher, makeHelper)
