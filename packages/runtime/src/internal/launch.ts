/**
 * What starting a process takes and gives (`ProcessLauncher`'s contract, re-exported there), and
 * what both launchers share: process groups, exit codes, the two kinds of launch error.
 */
import { Data, type Effect } from "effect"
import * as os from "node:os"

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

/** Kills `pid`'s whole process group: the command and whatever it started (already gone is fine). */
export const killGroup = (pid: number | undefined): void => {
  if (pid === undefined) return
  try {
    process.kill(-pid, "SIGKILL")
  } catch {
    // already gone
  }
}

/** A command's exit code: 128 + the signal's number when signalled, as a shell reports it. */
export const exitCodeOf = (code: number | null, signal: string | null): number => {
  if (code !== null) return code
  const n = signal === null ? undefined : Object.entries(os.constants.signals).find(([name]) => name === signal)?.[1]
  return 128 + (n ?? 9)
}

const errnoOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" ? error.code : ""

/** Node refused or failed to start the command (`error`: what it threw or emitted). */
export const notStarted = (error: unknown, detail: string = String(error)) =>
  new LaunchError({ reason: "spawn", detail, code: errnoOf(error) })

/** The launcher itself could not run the command (no system error code). */
export const launcherFailure = (reason: LaunchError["reason"], detail: string) =>
  new LaunchError({ reason, detail, code: "" })
