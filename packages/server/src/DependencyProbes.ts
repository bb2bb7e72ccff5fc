/**
 * The real checks behind `/health`. Each is interruptible (the health timeout kills a hung probe).
 */
import type { SandboxSettings } from "@devteam/runtime/Sandbox"
import * as SandboxAgents from "@devteam/runtime/SandboxAgents"
import * as SandboxLayer from "@devteam/runtime/SandboxLayer"
import * as SandboxPolicy from "@devteam/runtime/SandboxPolicy"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { Scope } from "effect"
import { Deferred, Duration, Effect, Option, Ref, Schedule } from "effect"
import { execFile } from "node:child_process"
import { mkdir, rm, writeFile } from "node:fs/promises"
import { request } from "node:http"
import { connect } from "node:net"
import { join } from "node:path"
import type { DependencyCheck } from "./HealthCheck.js"

/** Runs a program with an abort signal tied to fiber interruption; succeeds with its stdout. */
const run = (file: string, args: ReadonlyArray<string>) =>
  Effect.async<string, Error>((resume, signal) => {
    execFile(
      file,
      [...args],
      { signal, timeout: 5_000, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } },
      (error, stdout) => resume(error === null ? Effect.succeed(stdout) : Effect.fail(error))
    )
  })

/** A dependency this process does not use: reported as `disabled`, never a reason to degrade. */
export const notUsed = (detail: string): DependencyCheck => ({
  required: false,
  check: Effect.succeed({ status: "disabled" as const, detail })
})

export const git: DependencyCheck = {
  required: true,
  check: run("git", ["--version"]).pipe(
    Effect.map((out) => ({ status: "available" as const, detail: out.trim() })),
    Effect.orElseSucceed(() => ({ status: "unavailable" as const, detail: "git not found on PATH" }))
  )
}

/** How often the coding agents are probed again where IMPLEMENT runs them. */
export const agentProbeInterval = Duration.minutes(10)

/**
 * The coding agents where IMPLEMENT runs them: inside the configured image (docker sandbox) or on
 * this machine (local sandbox). Probed at start-up and every `agentProbeInterval` in the
 * background (a container start takes longer than a health check may), the last answer served.
 * The status is aider's (the `aider` dependency of the contract); the detail names every agent.
 * Not required: the script tool works without any.
 */
export const agents = (
  settings: SandboxSettings,
  agentList: ReadonlyArray<SandboxAgents.Agent>
): Effect.Effect<DependencyCheck, never, Scope.Scope> =>
  Effect.gen(function*() {
    const latest = yield* Ref.make(Option.none<{ status: "available" | "unavailable"; detail: string }>())
    const first = yield* Deferred.make<void>()
    const probe = Effect.gen(function*() {
      const kind = yield* SandboxLayer.resolveKind(settings)
      const where = kind === "docker"
        ? `in image ${settings.image}`
        : "on the runner host (local sandbox: no isolation, egress allow-lists not enforced)"
      const versions = yield* (kind === "docker"
        ? SandboxAgents.versionsInImage(settings, agentList)
        : SandboxAgents.versionsOnHost(agentList))
      const aiderFound = versions.some((v) => v.name === "aider" && Option.isSome(v.version))
      const detail = `${
        versions.map((v) => `${v.name}: ${Option.getOrElse(v.version, () => "not runnable")}`).join("; ")
      } (${where})`
      return { status: aiderFound ? "available" as const : "unavailable" as const, detail }
    }).pipe(
      Effect.catchAll((e) => Effect.succeed({ status: "unavailable" as const, detail: e.message })),
      Effect.flatMap((result) => Ref.set(latest, Option.some(result))),
      Effect.zipRight(Deferred.succeed(first, undefined))
    )
    yield* probe.pipe(Effect.repeat(Schedule.spaced(agentProbeInterval)), Effect.forkScoped)
    return {
      required: false,
      // Until the first probe has answered, the health check's own timeout bounds the wait.
      check: Deferred.await(first).pipe(
        Effect.zipRight(Ref.get(latest)),
        Effect.map(Option.getOrElse(() => ({ status: "unavailable" as const, detail: "not probed yet" })))
      )
    }
  })

const dockerSocket = (): string => {
  const host = process.env.DOCKER_HOST
  return host !== undefined && host.startsWith("unix://") ? host.slice("unix://".length) : "/var/run/docker.sock"
}

/**
 * `GET /_ping` on the Docker engine's socket; the detail says where pipeline commands run
 * (`SandboxPolicy`): in containers, on the host (SANDBOX=local or the local-only fallback), or nowhere.
 */
export const docker = (policy: SandboxPolicy.SandboxPolicy): DependencyCheck => ({
  required: false,
  check: Effect.async<boolean>((resume, signal) => {
    const req = request({ socketPath: dockerSocket(), path: "/_ping", method: "GET", signal }, (res) => {
      res.resume()
      resume(Effect.succeed(res.statusCode === 200))
    })
    req.on("error", () => resume(Effect.succeed(false)))
    req.end()
  }).pipe(
    Effect.map((up) => {
      const status = up ? "available" as const : "unavailable" as const
      switch (SandboxPolicy.choose(policy, up)) {
        case "docker":
          return { status, detail: up ? "docker engine answers" : "SANDBOX=docker but no docker engine answers" }
        case "local":
          return {
            status,
            detail: `${
              Option.isSome(policy.sandbox)
                ? "SANDBOX=local: pipeline commands run on the host as the service's user (no isolation)"
                : SandboxPolicy.fallbackMessage
            }; egress allow-lists are not enforced there (the proxy variables are set, a command can ignore them)`
          }
        case "refused":
          return { status, detail: SandboxPolicy.refusedMessage }
      }
    })
  )
})

/** `PING` over a raw connection: the answer must be `+PONG`. */
export const redis = (url: string | undefined): DependencyCheck => ({
  required: false,
  check: url === undefined
    ? Effect.succeed({ status: "disabled" as const, detail: "REDIS_URL unset: in-process event bus" })
    : Effect.async<boolean>((resume, signal) => {
      const parsed = new URL(url)
      const socket = connect({ host: parsed.hostname, port: Number(parsed.port || 6379), signal })
      socket.setTimeout(1_000)
      socket.on("connect", () => socket.write("PING\r\n"))
      socket.on("data", (data) => {
        socket.destroy()
        resume(Effect.succeed(data.toString().startsWith("+PONG") || data.toString().startsWith("-NOAUTH")))
      })
      socket.on("timeout", () => {
        socket.destroy()
        resume(Effect.succeed(false))
      })
      socket.on("error", () => resume(Effect.succeed(false)))
    }).pipe(Effect.map((up) => ({ status: up ? "available" as const : "unavailable" as const, detail: "redis" })))
})

/** Writes and removes a probe file under DATA_DIR. */
export const filesystem = (dataDir: string): DependencyCheck => ({
  required: true,
  check: Effect.tryPromise(async () => {
    await mkdir(dataDir, { recursive: true })
    const probe = join(dataDir, `.health-${process.pid}`)
    await writeFile(probe, "ok")
    await rm(probe, { force: true })
  }).pipe(
    // no path: /health is unauthenticated, and the layout of the host is nobody's business
    Effect.as({ status: "writable" as const, detail: "DATA_DIR is writable" }),
    Effect.orElseSucceed(() => ({ status: "unavailable" as const, detail: "DATA_DIR is not writable" }))
  )
})

/** A dependency this build does not wire yet: reported honestly as disabled. */
export const disabled = (detail: string): DependencyCheck => ({
  required: false,
  check: Effect.succeed({ status: "disabled" as const, detail })
})

/** `SELECT 1` through the service's own SqlClient (Postgres, or the embedded PGlite). */
export const postgres = (
  sql: SqlClient.SqlClient,
  database: { readonly kind: string; readonly location: string }
): DependencyCheck => ({
  required: true,
  check: sql`SELECT 1 AS ok`.pipe(
    Effect.as({ status: "available" as const, detail: database.kind }),
    Effect.orElseSucceed(() => ({
      status: "unavailable" as const,
      detail: `${database.kind} does not answer`
    }))
  )
})
