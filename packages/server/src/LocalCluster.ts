/**
 * The distributed topology as plain processes on this machine: one gateway and N runners against
 * a shared Postgres (and Redis). It is what `npm run cluster` starts and what the multi-process
 * tests use; each process is the same entry point as in production, selected by ROLE.
 */
import { Data, Effect, Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { createWriteStream, mkdirSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

export class ClusterProcessError extends Data.TaggedError("ClusterProcessError")<{ readonly message: string }> {}

export interface ClusterOptions {
  readonly databaseUrl: string
  readonly redisUrl?: string | undefined
  readonly gatewayPort: number
  readonly runnerPorts: ReadonlyArray<number>
  /** Extra environment for every process (e.g. SANDBOX=local, REPO_ALLOW_FILE=true). */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** Where each process's output goes (one file per process). */
  readonly logDir: string
  /** How long a process may take to become ready. */
  readonly readyTimeoutMs?: number | undefined
  /** Node's arguments that start a process (default: the entry point's source under tsx). */
  readonly nodeArgs?: ReadonlyArray<string> | undefined
}

export interface ClusterProcess {
  readonly name: string
  readonly role: "gateway" | "runner"
  readonly port: number
  /** The current OS process id (changes on restart). */
  readonly pid: () => number | undefined
  /** SIGKILL (no clean shutdown), and wait until the process is gone. */
  readonly kill: (signal?: NodeJS.Signals) => Effect.Effect<void>
  /** Starts the process again after a kill, and waits until it is ready. */
  readonly restart: Effect.Effect<void, ClusterProcessError>
  readonly logFile: string
}

export interface LocalCluster {
  readonly gatewayUrl: string
  readonly gateway: ClusterProcess
  readonly runners: ReadonlyArray<ClusterProcess>
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..")
const entry = join(repoRoot, "packages/server/src/bin.ts")

const waitUntil = (what: string, check: () => Promise<boolean>, timeoutMs: number) =>
  Effect.tryPromise({
    try: async () => {
      const deadline = Date.now() + timeoutMs
      while (Date.now() < deadline) {
        if (await check().catch(() => false)) return
        await new Promise((r) => setTimeout(r, 100))
      }
      throw new Error(`${what} not ready after ${timeoutMs} ms`)
    },
    catch: (error) => new ClusterProcessError({ message: error instanceof Error ? error.message : String(error) })
  })

const makeProcess = (
  name: string,
  role: "gateway" | "runner",
  port: number,
  env: Record<string, string>,
  options: ClusterOptions
): Effect.Effect<ClusterProcess, ClusterProcessError, Scope.Scope> =>
  Effect.gen(function*() {
    const logFile = join(options.logDir, `${name}.log`)
    mkdirSync(options.logDir, { recursive: true })
    let child: ChildProcess | undefined
    let output = ""
    const readyTimeout = options.readyTimeoutMs ?? 60_000

    const start = Effect.gen(function*() {
      output = ""
      const log = createWriteStream(logFile, { flags: "a" })
      const proc = spawn(process.execPath, options.nodeArgs ?? ["--conditions=source", "--import", "tsx", entry], {
        cwd: repoRoot,
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      const collect = (chunk: Buffer) => {
        log.write(chunk)
        output = (output + chunk.toString()).slice(-64 * 1024)
      }
      proc.stdout?.on("data", collect)
      proc.stderr?.on("data", collect)
      proc.on("exit", () => log.end())
      child = proc
      yield* role === "gateway"
        ? waitUntil(`${name} (http://127.0.0.1:${port}/health)`, async () => {
          const res = await fetch(`http://127.0.0.1:${port}/health`)
          return res.status === 200 || res.status === 503
        }, readyTimeout)
        : waitUntil(`${name}`, async () => {
          if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode}: ${output.slice(-2000)}`)
          return output.includes("runner ready")
        }, readyTimeout)
    })

    const kill = (signal: NodeJS.Signals = "SIGKILL") =>
      Effect.async<void>((resume) => {
        const proc = child
        if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return resume(Effect.void)
        proc.once("exit", () => resume(Effect.void))
        proc.kill(signal)
      })

    yield* Effect.addFinalizer(() =>
      kill("SIGTERM").pipe(Effect.timeout("10 seconds"), Effect.orElse(() => kill("SIGKILL")))
    )
    yield* start
    return { name, role, port, pid: () => child?.pid, kill, restart: start, logFile }
  })

/** Starts gateway + runners; everything is stopped when the scope closes. */
export const start = (options: ClusterOptions): Effect.Effect<LocalCluster, ClusterProcessError, Scope.Scope> =>
  Effect.gen(function*() {
    const common: Record<string, string> = {
      DATABASE_URL: options.databaseUrl,
      LOG_FORMAT: "json",
      ...(options.redisUrl === undefined ? {} : { REDIS_URL: options.redisUrl }),
      ...options.env
    }
    // Runners first, so the gateway finds them registered.
    const runners = yield* Effect.forEach(
      options.runnerPorts,
      (port, i) =>
        makeProcess(`runner-${i + 1}`, "runner", port, {
          ...common,
          ROLE: "runner",
          RUNNER_HOST: "127.0.0.1",
          RUNNER_PORT: String(port),
          DATA_DIR: join(options.logDir, `runner-${i + 1}-data`)
        }, options),
      { concurrency: "unbounded" }
    )
    const gateway = yield* makeProcess("gateway", "gateway", options.gatewayPort, {
      ...common,
      ROLE: "gateway",
      DEVTEAM_RUNNER_HOST: "127.0.0.1",
      DEVTEAM_RUNNER_PORT: String(options.gatewayPort),
      DATA_DIR: join(options.logDir, "gateway-data")
    }, options)
    return { gatewayUrl: `http://127.0.0.1:${options.gatewayPort}`, gateway, runners }
  })
