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
 *   the service. No well-kept npm package offers such a spawn server: the helper is the program below.
 *
 * Both give the same results: the exit code (a non-zero one is a result, not a failure), the
 * output cut at `maxOutputBytes` per stream, the whole process group killed at the timeout or
 * when the caller is interrupted. Only "could not start" and "timed out" are errors.
 */
import { Context, Data, Duration, Effect, Layer, Option, Schema } from "effect"
import { type ChildProcess, type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import * as os from "node:os"
import { StringDecoder } from "node:string_decoder"

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
  /** The system's error code when it could not start (`ENOENT`: no such command), else empty. */
  readonly code: string
}> {}

/** A command whose output streams back while it runs (`start`). */
export interface StartRequest {
  readonly file: string
  readonly args: ReadonlyArray<string>
  readonly cwd: string
  /** The child's whole environment (nothing is inherited). */
  readonly env: Readonly<Record<string, string>>
}

/**
 * What a started command reports: its output as it comes (each stream decoded as UTF-8 on its
 * own), its exit code once (128 + the signal's number when signalled), and the end of its output
 * once both streams closed — after the last `onOutput`, before or after `onExit`.
 */
export interface StartHandlers {
  readonly onOutput: (stream: "stdout" | "stderr", text: string) => void
  readonly onExit: (exitCode: number) => void
  readonly onEnd: () => void
}

export interface Launcher {
  readonly run: (request: LaunchRequest) => Effect.Effect<LaunchResult, LaunchError>
  /**
   * Starts a command in a process group of its own, with no input, and answers its pid (the
   * group's id) once it runs. The caller ends it (a signal to the group); the launcher kills the
   * group when the command's process exits, so a finished command leaves nothing behind. If the
   * command cannot be reported on any more (the helper died), its group is killed and it exits
   * with 137 after a line on stderr that says why.
   */
  readonly start: (request: StartRequest, handlers: StartHandlers) => Effect.Effect<number, LaunchError>
}

const killGroup = (pid: number | undefined): void => {
  if (pid === undefined) return
  try {
    process.kill(-pid, "SIGKILL")
  } catch {
    // already gone
  }
}

/** A command's exit code: 128 + the signal's number when signalled, as a shell reports it. */
const exitCodeOf = (code: number | null, signal: string | null): number => {
  if (code !== null) return code
  const n = signal === null ? undefined : Object.entries(os.constants.signals).find(([name]) => name === signal)?.[1]
  return 128 + (n ?? 9)
}

const errnoOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" ? error.code : ""

/** Node refused or failed to start the command (`error`: what it threw or emitted). */
const notStarted = (error: unknown, detail: string = String(error)) =>
  new LaunchError({ reason: "spawn", detail, code: errnoOf(error) })

/** The launcher itself could not run the command (no system error code). */
const launcherFailure = (reason: LaunchError["reason"], detail: string) => new LaunchError({ reason, detail, code: "" })

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

/**
 * The helper's program (plain JavaScript, run with `node -e`: no file to ship beside a bundle).
 * `direct` above, on the other side of the channel: a `run` message starts one command, its
 * `exit` or `error` message answers it, a `kill` message (the caller was interrupted) kills its
 * process group. A `start` message starts a streamed command: `started` (or `error`) answers it,
 * then `output` messages, `exited` and `end` follow. When the service goes away (the channel
 * closes), it kills what still runs.
 */
const helperProgram = String.raw`"use strict";
const { spawn } = require("node:child_process");
const { StringDecoder } = require("node:string_decoder");
const { constants } = require("node:os");
const running = new Map();
const exitCodeOf = (code, signal) => code !== null ? code : 128 + ((signal !== null && constants.signals[signal]) || 9);
const killGroup = (pid) => { if (pid === undefined) return; try { process.kill(-pid, "SIGKILL"); } catch {} };
const answer = (message) => { if (process.connected) process.send(message); };
const failed = (id, error) => answer({ id, type: "error", reason: "spawn", detail: String(error && error.message),
  code: String((error && error.code) || "") });
const start = (m) => {
  let child;
  try {
    child = spawn(m.file, m.args, { cwd: m.cwd, env: m.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  } catch (error) {
    failed(m.id, error);
    return;
  }
  const pid = child.pid;
  if (pid === undefined) { child.once("error", (error) => failed(m.id, error)); return; }
  running.set(m.id, { pid, timer: undefined });
  answer({ id: m.id, type: "started", pid });
  child.on("error", () => {});
  let open = 2;
  for (const stream of ["stdout", "stderr"]) {
    const decoder = new StringDecoder("utf8");
    child[stream].on("data", (b) => { const text = decoder.write(b); if (text !== "") answer({ id: m.id, type: "output", stream, text }); });
    child[stream].on("close", () => {
      const rest = decoder.end();
      if (rest !== "") answer({ id: m.id, type: "output", stream, text: rest });
      if (--open === 0) answer({ id: m.id, type: "end" });
    });
  }
  child.on("exit", (code, signal) => {
    running.delete(m.id);
    killGroup(pid);
    answer({ id: m.id, type: "exited", code, signal });
  });
};
process.on("message", (m) => {
  if (m.type === "kill") {
    const r = running.get(m.id);
    if (r !== undefined) { running.delete(m.id); clearTimeout(r.timer); killGroup(r.pid); }
    return;
  }
  if (m.type === "start") { start(m); return; }
  let child;
  try {
    child = spawn(m.file, m.args, { cwd: m.cwd, env: m.env, stdio: ["pipe", "pipe", "pipe"], detached: true });
  } catch (error) {
    failed(m.id, error);
    return;
  }
  const out = [], err = [];
  let outBytes = 0, errBytes = 0;
  const entry = { pid: child.pid, timer: undefined };
  entry.timer = setTimeout(() => {
    if (!running.delete(m.id)) return;
    killGroup(child.pid);
    answer({ id: m.id, type: "error", reason: "timeout", detail: "", code: "" });
  }, m.timeoutMs);
  running.set(m.id, entry);
  child.stdout.on("data", (c) => { if (outBytes < m.maxOutputBytes) out.push(c); outBytes += c.length; });
  child.stderr.on("data", (c) => { if (errBytes < m.maxOutputBytes) err.push(c); errBytes += c.length; });
  child.on("error", (error) => {
    if (!running.delete(m.id)) return;
    clearTimeout(entry.timer);
    failed(m.id, error);
  });
  child.on("close", (code, signal) => {
    if (!running.delete(m.id)) return;
    clearTimeout(entry.timer);
    answer({ id: m.id, type: "exit", exitCode: exitCodeOf(code, signal), stdout: Buffer.concat(out).toString("utf8"),
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
    detail: Schema.String,
    code: Schema.String
  }),
  Schema.Struct({ id: Schema.Number, type: Schema.Literal("started"), pid: Schema.Number }),
  Schema.Struct({
    id: Schema.Number,
    type: Schema.Literal("output"),
    stream: Schema.Literal("stdout", "stderr"),
    text: Schema.String
  }),
  Schema.Struct({
    id: Schema.Number,
    type: Schema.Literal("exited"),
    code: Schema.NullOr(Schema.Number),
    signal: Schema.NullOr(Schema.String)
  }),
  Schema.Struct({ id: Schema.Number, type: Schema.Literal("end") })
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
    /** `run` commands waiting for their answer. */
    const pending = new Map<number, (answer: Effect.Effect<LaunchResult, LaunchError>) => void>()
    /** `start` commands waiting to be started. */
    const starting = new Map<number, (answer: Effect.Effect<number, LaunchError>) => void>()
    /** What each `start` command reports to, from the moment it is sent. */
    const startHandlers = new Map<number, StartHandlers>()
    /** Started commands, until both their exit and the end of their output were reported. */
    const streams = new Map<
      number,
      { readonly pid: number; readonly handlers: StartHandlers; exited: boolean; ended: boolean }
    >()
    let helper: ChildProcess | undefined
    let nextId = 0
    /** Why the last helper went away, until the next command logs it. */
    let lostBecause: string | undefined
    /** The scope is closed: no helper is started any more. */
    let closed = false

    // idle, the helper keeps nothing alive; while a command runs, the channel is referenced
    const refreshRef = (child: ChildProcess) => {
      if (pending.size + starting.size + streams.size === 0) child.channel?.unref()
      else child.channel?.ref()
    }

    const settleAll = (detail: string) => {
      const waiting = [...pending.values()]
      pending.clear()
      for (const resume of waiting) resume(Effect.fail(launcherFailure("spawn", detail)))
      const unstarted = [...starting.values()]
      starting.clear()
      for (const resume of unstarted) resume(Effect.fail(launcherFailure("spawn", detail)))
      // Nothing reports on a started command any more: it is ended here, with its group.
      const orphaned = [...streams.values()]
      streams.clear()
      for (const stream of orphaned) {
        killGroup(stream.pid)
        if (!stream.ended) stream.handlers.onOutput("stderr", `\n${detail}: the command was killed\n`)
        if (!stream.exited) stream.handlers.onExit(128 + 9)
        if (!stream.ended) stream.handlers.onEnd()
      }
    }

    /** `child` is no longer the helper: its commands fail, the next command starts a new one. */
    const retire = (child: ChildProcess, why: string) => {
      if (helper !== child) return
      helper = undefined
      lostBecause = why
      settleAll(`the process launcher ${why}`)
    }

    /** The waiter of `id` in `waiting`, removed from it. */
    const take = <A>(waiting: Map<number, A>, id: number): A | undefined => {
      const waiter = waiting.get(id)
      waiting.delete(id)
      return waiter
    }

    const onAnswer = (child: ChildProcess, message: unknown) => {
      const answer = Option.getOrUndefined(decodeAnswer(message))
      if (answer === undefined) return
      switch (answer.type) {
        case "exit":
          take(pending, answer.id)?.(
            Effect.succeed({ exitCode: answer.exitCode, stdout: answer.stdout, stderr: answer.stderr })
          )
          break
        case "error": {
          const error = new LaunchError({ reason: answer.reason, detail: answer.detail, code: answer.code })
          ;(take(pending, answer.id) ?? take(starting, answer.id))?.(Effect.fail(error))
          break
        }
        case "started": {
          const resume = take(starting, answer.id)
          const handlers = startHandlers.get(answer.id)
          if (resume !== undefined && handlers !== undefined) {
            streams.set(answer.id, { pid: answer.pid, handlers, exited: false, ended: false })
            resume(Effect.succeed(answer.pid))
          } else {
            // its caller is gone (interrupted): the helper was told to kill it, make sure of it
            killGroup(answer.pid)
          }
          break
        }
        case "output":
          streams.get(answer.id)?.handlers.onOutput(answer.stream, answer.text)
          break
        case "exited":
        case "end": {
          const stream = streams.get(answer.id)
          if (stream === undefined) break
          if (answer.type === "exited") {
            stream.exited = true
            stream.handlers.onExit(exitCodeOf(answer.code, answer.signal))
          } else {
            stream.ended = true
            stream.handlers.onEnd()
          }
          if (stream.exited && stream.ended) streams.delete(answer.id)
          break
        }
      }
      refreshRef(child)
    }

    const start = (): ChildProcess => {
      const child = spawn(process.execPath, ["-e", helperProgram], {
        env: {},
        stdio: ["ignore", "ignore", "inherit", "ipc"],
        windowsHide: true
      })
      child.on("message", (message: unknown) => onAnswer(child, message))
      child.on("error", (error) => retire(child, `failed: ${error.message}`))
      child.on("exit", (code, signal) => retire(child, `exited (${signal ?? code ?? "?"})`))
      child.unref()
      child.channel?.unref()
      return child
    }

    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        const child = helper
        helper = undefined
        closed = true
        settleAll("the process launcher was shut down")
        // closing the channel makes the helper kill what still runs and exit
        if (child?.connected === true) child.disconnect()
      })
    )

    const lost = Effect.suspend(() => {
      const why = lostBecause
      lostBecause = undefined
      return why === undefined ? Effect.void : Effect.logWarning(`process launcher: ${why}; starting a new one`)
    })

    /**
     * Sends one message and waits for its answer in `waiting`. The helper enforces a `run`
     * command's timeout; the watchdog only ends the wait on a helper that stopped answering (it is
     * killed: its commands' groups die with it or finish on their own).
     */
    const ask = <A>(
      waiting: Map<number, (answer: Effect.Effect<A, LaunchError>) => void>,
      id: number,
      message: Record<string, unknown>,
      answerWithinMs: number
    ): Effect.Effect<A, LaunchError> =>
      Effect.async<A, LaunchError>((resume) => {
        if (closed) {
          resume(
            Effect.fail(
              launcherFailure("spawn", "the process launcher was shut down")
            )
          )
          return
        }
        const child = helper ?? start()
        helper = child
        const watchdog = setTimeout(() => {
          if (!waiting.delete(id)) return
          resume(
            Effect.fail(launcherFailure("timeout", "the process launcher did not answer"))
          )
          retire(child, "stopped answering")
          child.kill("SIGKILL")
        }, answerWithinMs)
        waiting.set(id, (answer) => {
          clearTimeout(watchdog)
          resume(answer)
        })
        refreshRef(child)
        const unsent = (error: unknown) => {
          const settle = waiting.get(id)
          if (settle === undefined) return
          waiting.delete(id)
          settle(
            Effect.fail(
              launcherFailure("spawn", `the process launcher: ${String(error)}`)
            )
          )
        }
        try {
          child.send(message, (error) => {
            if (error !== null) unsent(error)
          })
        } catch (error) {
          unsent(error)
        }
        return Effect.sync(() => {
          clearTimeout(watchdog)
          if (!waiting.delete(id)) return
          refreshRef(child)
          if (child.connected) child.send({ type: "kill", id })
        })
      })

    const run = (request: LaunchRequest) =>
      Effect.zipRight(
        lost,
        Effect.suspend(() => {
          const id = nextId++
          return ask(
            pending,
            id,
            { type: "run", id, ...request, args: [...request.args] },
            request.timeoutMs + answerGraceMs
          )
        })
      )

    const startCommand = (request: StartRequest, handlers: StartHandlers) =>
      Effect.zipRight(
        lost,
        Effect.suspend(() => {
          const id = nextId++
          // registered before the message goes out: its `started` answer registers the stream at
          // once, so no output that follows it is missed
          startHandlers.set(id, handlers)
          return ask(starting, id, { type: "start", id, ...request, args: [...request.args] }, answerGraceMs).pipe(
            Effect.onExit((exit) =>
              Effect.sync(() => {
                startHandlers.delete(id)
                const stream = streams.get(id)
                // started, but the caller was interrupted before it learned the pid: nobody would end it
                if (exit._tag === "Failure" && stream !== undefined) {
                  streams.delete(id)
                  killGroup(stream.pid)
                }
              })
            )
          )
        })
      )

    return { run, start: startCommand } satisfies Launcher
  })

/** `makeHelperWith` with its defaults. */
export const makeHelper = makeHelperWith()

/** `ProcessLauncher` backed by the helper process (the service's layers). */
export const layerHelper: Layer.Layer<ProcessLauncher> = Layer.scoped(ProcessLauncher, makeHelper)
