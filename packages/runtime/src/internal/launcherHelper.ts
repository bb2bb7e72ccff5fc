/**
 * The launcher helper: a small Node process of the service's own that starts its child processes,
 * asked over an IPC channel (why: `ProcessLauncher`). Its program, what it answers, and the
 * service's side of the channel.
 */
import { Duration, Effect, Option, Schema } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import {
  exitCodeOf,
  killGroup,
  type Launcher,
  launcherFailure,
  LaunchError,
  type LaunchRequest,
  type LaunchResult,
  type StartHandlers,
  type StartRequest
} from "./launch.js"

/**
 * The helper's program (plain JavaScript, run with `node -e`: no file to ship beside a bundle).
 * `ProcessLauncher.direct`, on the other side of the channel: a `run` message starts one command, its
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
const spawned = (m, stdio) => {
  try {
    return spawn(m.file, m.args, { cwd: m.cwd, env: m.env, stdio, detached: true });
  } catch (error) {
    failed(m.id, error);
    return undefined;
  }
};
const start = (m) => {
  const child = spawned(m, ["ignore", "pipe", "pipe"]);
  if (child === undefined) return;
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
const run = (m) => {
  const child = spawned(m, ["pipe", "pipe", "pipe"]);
  if (child === undefined) return;
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
};
process.on("message", (m) => {
  if (m.type === "kill") {
    const r = running.get(m.id);
    if (r !== undefined) { running.delete(m.id); clearTimeout(r.timer); killGroup(r.pid); }
    return;
  }
  if (m.type === "start") start(m);
  else run(m);
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
