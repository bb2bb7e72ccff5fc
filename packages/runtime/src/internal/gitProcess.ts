/**
 * One git child process: argv only (never a shell), a minimal hardened environment, a timeout, a
 * bounded output buffer, and the whole process group killed on timeout or fiber interruption
 * (started by the `ProcessLauncher` in context).
 *
 * Non-zero exit codes are results, not failures: callers decide what `merge-base --is-ancestor`
 * answering 1 means. Only "could not run / timed out" is an error here.
 *
 * Why not simple-git (3.36, installed): its completion plugin waits an extra 50 ms after every
 * command that prints nothing (update-ref, checkout -q…: measured 57 ms vs 5 ms here, which alone
 * would break the ≤ 200 ms warm-prep target), it resolves a non-zero exit with empty stderr as
 * success (`merge-base --is-ancestor` answering "no" comes back as ""), and its argv blocklist
 * refuses exactly the hardening applied here (GIT_CONFIG_COUNT, core.hooksPath) unless disabled.
 */
import { Data, Duration, Effect } from "effect"
import { ProcessLauncher } from "../ProcessLauncher.js"

export interface GitRun {
  readonly cwd: string
  readonly args: ReadonlyArray<string>
  /** Configuration passed as GIT_CONFIG_KEY_n/GIT_CONFIG_VALUE_n (never on the command line, never in .git/config). */
  readonly config?: ReadonlyArray<readonly [string, string]>
  /** Extra environment variables (e.g. GIT_INDEX_FILE). */
  readonly env?: Readonly<Record<string, string>>
  readonly stdin?: string
  readonly timeout: Duration.Duration
  /** Which transports git may use (GIT_ALLOW_PROTOCOL). */
  readonly allowProtocols: ReadonlyArray<string>
  readonly author: { readonly name: string; readonly email: string }
}

export interface GitResult {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
}

export class GitProcessError extends Data.TaggedError("GitProcessError")<{
  readonly reason: "spawn" | "timeout"
  readonly detail: string
}> {}

/** Output beyond this many bytes per stream is dropped (a diff artifact is cut far earlier). */
const maxOutputBytes = 32 * 1024 * 1024

/** Environment variables passed through from the service's own environment (TLS trust and proxies). */
const passThrough = [
  "PATH",
  "HOME",
  "TMPDIR",
  "SSH_AUTH_SOCK",
  "GIT_SSL_CAINFO",
  "GIT_SSL_CAPATH",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "HTTPS_PROXY",
  "https_proxy",
  "HTTP_PROXY",
  "http_proxy",
  "NO_PROXY",
  "no_proxy",
  "ALL_PROXY",
  "all_proxy"
]

/** How git runs ssh: never a prompt, a bounded connect (OutboundPolicy's pin appends HostName). */
export const sshCommand = "ssh -o BatchMode=yes -o ConnectTimeout=30"

/**
 * Applied to every command: no hooks, no credential helpers, no fsmonitor, no signing, no auto-gc,
 * and no http redirects (git would send the credential header to the redirect's host and connect
 * wherever a remote points it). ssh through `core.sshCommand` (not GIT_SSH_COMMAND, which would
 * win over a command's own pin).
 */
export const hardening: ReadonlyArray<readonly [string, string]> = [
  ["core.sshCommand", sshCommand],
  ["core.hooksPath", "/dev/null"],
  ["core.fsmonitor", "false"],
  ["core.askPass", ""],
  ["credential.helper", ""],
  ["http.followRedirects", "false"],
  ["commit.gpgSign", "false"],
  ["tag.gpgSign", "false"],
  ["gc.auto", "0"],
  ["maintenance.auto", "false"],
  ["advice.detachedHead", "false"],
  ["core.quotePath", "false"],
  ["init.defaultBranch", "main"]
]

export const environment = (run: GitRun): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const name of passThrough) {
    const value = process.env[name]
    if (value !== undefined) env[name] = value
  }
  const config = [...hardening, ...(run.config ?? [])]
  Object.assign(env, {
    LC_ALL: "C",
    LANG: "C",
    GIT_TERMINAL_PROMPT: "0",
    // Nothing may wait for a human: no editor for merges/rebases, no pager.
    GIT_EDITOR: "true",
    GIT_SEQUENCE_EDITOR: "true",
    GIT_MERGE_AUTOEDIT: "no",
    GIT_PAGER: "cat",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_ALLOW_PROTOCOL: run.allowProtocols.join(":"),
    GIT_AUTHOR_NAME: run.author.name,
    GIT_AUTHOR_EMAIL: run.author.email,
    GIT_COMMITTER_NAME: run.author.name,
    GIT_COMMITTER_EMAIL: run.author.email,
    GIT_CONFIG_COUNT: String(config.length)
  })
  config.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key
    env[`GIT_CONFIG_VALUE_${i}`] = value
  })
  return { ...env, ...run.env }
}

/** Runs git through the `ProcessLauncher` in context (see there). */
export const runGit = (run: GitRun): Effect.Effect<GitResult, GitProcessError> =>
  Effect.flatMap(ProcessLauncher, (launcher) =>
    launcher.run({
      file: "git",
      args: run.args,
      cwd: run.cwd,
      env: environment(run),
      stdin: run.stdin ?? "",
      timeoutMs: Duration.toMillis(run.timeout),
      maxOutputBytes
    })).pipe(
      Effect.mapError((error) =>
        new GitProcessError({
          reason: error.reason,
          detail: error.reason === "timeout"
            ? `git ${run.args[0] ?? ""} timed out after ${Duration.format(run.timeout)}`
            : `could not run git: ${error.detail}`
        })
      )
    )
