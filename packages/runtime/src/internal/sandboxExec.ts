/**
 * The part of `exec` both sandbox adapters share: line splitting and redaction of the two output
 * streams, `onLine` in order, the per-command timeout that kills the process group, and the
 * guarantee (by finalizer) that an interrupted exec leaves no process behind.
 */
import type { SandboxUnavailable } from "@devteam/domain/Errors"
import { Deferred, Duration, Effect, Exit, Fiber, Option, Queue } from "effect"
import type { Redactor } from "../Redaction.js"
import type { ExecOptions, ExecResult, OutputLine } from "../Sandbox.js"

export interface RawChunk {
  readonly stream: "stdout" | "stderr"
  readonly text: string
}

/** A started process, as an adapter reports it. */
export interface StartedProcess {
  /** Chunks of output in arrival order; `null` once both streams have ended. */
  readonly output: Queue.Dequeue<RawChunk | null>
  /** Completes with the exit code (128 + signal when signalled). */
  readonly exit: Effect.Effect<number, SandboxUnavailable>
  /** Kills the command's whole process group and waits until it is gone. */
  readonly kill: Effect.Effect<void>
  /** Whether a SIGKILL exit was the OOM killer's. */
  readonly wasOomKilled: (startedAt: number) => Effect.Effect<boolean>
}

const maxKeptChars = 4 * 1024 * 1024

/** Keeps at most `maxKeptChars` of the newest lines. */
class Collected {
  private lines: Array<string> = []
  private size = 0
  private dropped = false
  add(line: string): void {
    this.lines.push(line)
    this.size += line.length + 1
    while (this.size > maxKeptChars && this.lines.length > 1) {
      const first = this.lines.shift() ?? ""
      this.size -= first.length + 1
      this.dropped = true
    }
  }
  text(): string {
    const body = this.lines.join("\n")
    return this.dropped ? `[output truncated: first lines dropped]\n${body}` : body
  }
}

/** Runs one command to completion (or timeout/interruption) on a started process. */
export const drive = (
  start: Effect.Effect<StartedProcess, SandboxUnavailable>,
  options: ExecOptions,
  redactor: Redactor
): Effect.Effect<ExecResult, SandboxUnavailable> =>
  Effect.gen(function*() {
    const startedAt = Date.now()
    const done = yield* Deferred.make<void>()
    // The finalizer kills the process group unless the command ended normally; it also runs on
    // interruption (stop), so nothing is left running.
    const proc = yield* Effect.acquireRelease(start, (p, exit) =>
      exit._tag === "Success"
        ? Deferred.isDone(done).pipe(Effect.flatMap((finished) => finished ? Effect.void : p.kill))
        : p.kill)
    const out = new Collected()
    const err = new Collected()
    const splitters = { stdout: redactor.lines(), stderr: redactor.lines() }
    const emit = (stream: "stdout" | "stderr", lines: ReadonlyArray<string>) =>
      Effect.forEach(lines, (text) => {
        ;(stream === "stdout" ? out : err).add(text)
        const line: OutputLine = { stream, text }
        return options.onLine ? options.onLine(line) : Effect.void
      }, { discard: true })
    const pump: Effect.Effect<void> = Effect.gen(function*() {
      while (true) {
        const chunk = yield* Queue.take(proc.output)
        if (chunk === null) break
        yield* emit(chunk.stream, splitters[chunk.stream].push(chunk.text))
      }
      yield* emit("stdout", splitters.stdout.flush())
      yield* emit("stderr", splitters.stderr.flush())
    })
    const pumpFiber = yield* Effect.forkScoped(pump)
    // Interrupted (stop, shutdown, stall): kill the command first, then let the pump deliver what it
    // had already written (bounded), so the last lines before the interruption are not lost.
    yield* Effect.addFinalizer((exit) =>
      Exit.isInterrupted(exit)
        ? proc.kill.pipe(
          Effect.zipRight(Fiber.join(pumpFiber).pipe(Effect.timeoutOption(Duration.seconds(2)))),
          Effect.ignore
        )
        : Effect.void
    )

    const timeout = Duration.decode(options.timeout)
    const first = yield* proc.exit.pipe(Effect.timeoutOption(timeout))
    let timedOut = false
    let exitCode: number
    if (Option.isSome(first)) {
      exitCode = first.value
    } else {
      timedOut = true
      yield* proc.kill
      exitCode = yield* proc.exit.pipe(
        Effect.timeoutOption(Duration.seconds(10)),
        Effect.map(Option.getOrElse(() => 137))
      )
    }
    yield* Deferred.succeed(done, undefined)
    // Output normally ends with the process; a descendant that escaped the group could hold a pipe open.
    const drained = yield* Fiber.join(pumpFiber).pipe(Effect.timeoutOption(Duration.seconds(5)))
    if (Option.isNone(drained)) {
      yield* Fiber.interrupt(pumpFiber)
      yield* emit("stdout", splitters.stdout.flush())
      yield* emit("stderr", splitters.stderr.flush())
    }
    const oomKilled = exitCode === 137 && !timedOut ? yield* proc.wasOomKilled(startedAt) : false
    return {
      exitCode,
      stdout: out.text(),
      stderr: err.text(),
      timedOut,
      oomKilled,
      duration: Date.now() - startedAt
    } satisfies ExecResult
  }).pipe(Effect.scoped)

/** Registers the values of secret-named variables of `env` with the Redactor. */
export const registerSecrets = (
  redactor: Redactor,
  env: Readonly<Record<string, string>> | undefined,
  isSecretName: (name: string) => boolean
): Effect.Effect<void> =>
  Effect.forEach(
    Object.entries(env ?? {}).filter(([name, value]) => isSecretName(name) && value.length >= 4),
    ([, value]) => redactor.register(value),
    { discard: true }
  )

/** An env variable name the sandbox accepts. */
export const validEnvName = (name: string): boolean => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name)
