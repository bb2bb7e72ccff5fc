/**
 * Which coding agents the sandbox can run, for `/health`: each agent's `--version`, asked where
 * IMPLEMENT would run it — inside the configured image (a short-lived container: no network, no
 * mounts, uid 1000, small limits, removed afterwards) for the docker sandbox, on the runner's
 * machine for the local one.
 */
import { SandboxUnavailable } from "@devteam/domain/Errors"
import { Duration, Effect, Option } from "effect"
import { execFile } from "node:child_process"
import { makeClient, makeDemuxer, messageOf } from "./internal/dockerClient.js"
import type { SandboxSettings } from "./Sandbox.js"
import { labels } from "./Sandbox.js"

export interface Agent {
  /** The tool's name (`aider`, `claude-code`). */
  readonly name: string
  /** The executable inside the sandbox (`AIDER_PATH`, `CLAUDE_CODE_PATH`). */
  readonly executable: string
}

export interface AgentVersion {
  readonly name: string
  /** The first line of `--version`; none when the executable is missing or fails. */
  readonly version: Option.Option<string>
}

/** Prints one line per executable ($@): `ok<TAB>first line of --version`, or `missing`. */
const probeScript = [
  "for x in \"$@\"; do",
  "  if command -v \"$x\" >/dev/null 2>&1 && v=$(\"$x\" --version 2>/dev/null </dev/null | head -n 1) && [ -n \"$v\" ]; then",
  "    printf 'ok\\t%s\\n' \"$v\"",
  "  else echo missing; fi",
  "done"
].join("\n")

const parse = (agents: ReadonlyArray<Agent>, output: string): ReadonlyArray<AgentVersion> => {
  const lines = output.split("\n")
  return agents.map((agent, i) => {
    const line = lines[i] ?? ""
    return {
      name: agent.name,
      version: line.startsWith("ok\t") ? Option.some(line.slice(3).trim()) : Option.none()
    }
  })
}

/** `--version` of each agent inside a fresh container of `settings.image`, bounded by `timeout`. */
export const versionsInImage = (
  settings: SandboxSettings,
  agents: ReadonlyArray<Agent>,
  timeout: Duration.DurationInput = Duration.seconds(30)
): Effect.Effect<ReadonlyArray<AgentVersion>, SandboxUnavailable> => {
  const docker = makeClient(settings)
  const fail = (what: string) => (e: unknown) =>
    new SandboxUnavailable({ message: `docker: agent probe: ${what}: ${messageOf(e)}` })
  return Effect.acquireRelease(
    Effect.tryPromise({
      try: () =>
        docker.createContainer({
          Image: settings.image,
          Cmd: ["sh", "-c", probeScript, "devteam-agent-probe", ...agents.map((a) => a.executable)],
          User: "1000:1000",
          // The sweeper removes what a crashed runner left.
          Labels: { [labels.sandbox]: "1", [labels.owner]: settings.owner },
          NetworkDisabled: true,
          HostConfig: {
            Init: true,
            NetworkMode: "none",
            CapDrop: ["ALL"],
            SecurityOpt: ["no-new-privileges"],
            Memory: 512 * 1024 * 1024,
            MemorySwap: 512 * 1024 * 1024,
            PidsLimit: 128
          }
        }),
      catch: fail(`create a container from ${settings.image}`)
    }),
    (container) => Effect.promise(() => container.remove({ force: true }).catch(() => undefined))
  ).pipe(
    Effect.flatMap((container) =>
      Effect.gen(function*() {
        yield* Effect.tryPromise({ try: () => container.start(), catch: fail("start") })
        yield* Effect.tryPromise({ try: () => container.wait(), catch: fail("wait") })
        const logs = yield* Effect.tryPromise({
          try: () => container.logs({ stdout: true, stderr: false, follow: false }),
          catch: fail("logs")
        })
        let out = ""
        const demux = makeDemuxer((stream, text) => {
          if (stream === "stdout") out += text
        })
        demux.push(logs)
        demux.end()
        return parse(agents, out)
      })
    ),
    Effect.scoped,
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () =>
        new SandboxUnavailable({
          message: `docker: agent probe in ${settings.image} took longer than ${Duration.format(timeout)}`
        })
    })
  )
}

/** `--version` of each agent on this machine (the local sandbox), bounded by `timeout`. */
export const versionsOnHost = (
  agents: ReadonlyArray<Agent>,
  timeout: Duration.DurationInput = Duration.seconds(10)
): Effect.Effect<ReadonlyArray<AgentVersion>> =>
  Effect.async<string>((resume, signal) => {
    execFile(
      "sh",
      ["-c", probeScript, "devteam-agent-probe", ...agents.map((a) => a.executable)],
      {
        signal,
        timeout: Duration.toMillis(Duration.decode(timeout)),
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp" }
      },
      (_error, stdout) => resume(Effect.succeed(stdout))
    )
  }).pipe(Effect.map((out) => parse(agents, out)))
