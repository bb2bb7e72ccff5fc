/**
 * The `docker` sandbox (dockerode): one container per project per execution.
 *
 * - created idempotently under a name derived from (projectId, executionId); an existing container
 *   with our labels is reused (a re-activated entity finds the one it started before a crash);
 * - run with an init process (zombie reaping), the workspace bind-mounted at /workspace — its `.git`
 *   read-only: the host runs git there afterwards, and a git dir the sandbox wrote could make it run
 *   commands — and, read only, its egress directory at /run/devteam-egress (no other host path but
 *   the project's download cache), as uid 1000, all capabilities dropped, no-new-privileges,
 *   CPU / memory (no swap) / pids limits and the configured network mode (default `none`);
 * - nothing a command starts outlives it: when an exec ends, its process group and every process
 *   it detached (`setsid`, `nohup … &`) are killed before the exec returns;
 * - egress only through the runner: the container's main process is a forwarder from
 *   127.0.0.1:3128 to the runner's `EgressProxy` on a unix socket in the egress directory, and every
 *   command has HTTPS_PROXY/HTTP_PROXY (…) pointing at it; the pipeline opens a per-step window
 *   with the step's allow-list (`handle.egress.open`);
 * - handed out once the forwarder reports ready (listening, git and node present; see
 *   internal/egressForwarder) — no exec: the report comes over the proxy's socket;
 * - torn down in the scope's finalizer (stop, remove, wait until gone; bounded by 60 s);
 * - a sweeper removes this owner's labelled containers that no live handle holds, at start-up and
 *   every `SANDBOX_SWEEP_INTERVAL`.
 */
import { SandboxUnavailable } from "@devteam/domain/Errors"
import type Docker from "dockerode"
import type { ConfigError } from "effect"
import { Deferred, Duration, Effect, Exit, Layer, Option, Queue, Schedule, Schema, Scope } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import * as EgressProxy from "./EgressProxy.js"
import {
  execWrapper,
  killScript,
  makeClient,
  makeDemuxer,
  messageOf,
  statusOf,
  sweepScript
} from "./internal/dockerClient.js"
import { forwarderPort, forwarderScript, mountPoint, scriptName, socketName } from "./internal/egressForwarder.js"
import { drive, registerSecrets, validEnvName } from "./internal/sandboxExec.js"
import type { RawChunk, StartedProcess } from "./internal/sandboxExec.js"
import { Redactor } from "./Redaction.js"
import type { AcquireOptions, ExecOptions, SandboxHandle, SandboxResources, SandboxSettings } from "./Sandbox.js"
import { isSecretName, labels, proxyEnv, resolveCwd, Sandbox, SandboxConfig } from "./Sandbox.js"
import * as SandboxCache from "./SandboxCache.js"

const WORKDIR = "/workspace"
const TMPDIR = "/tmp/devteam"
const PROXY_URL = `http://127.0.0.1:${forwarderPort}`

/** The host directory holding a container's egress socket and forwarder (bind-mounted read-only). */
export const egressDirOf = (settings: Pick<SandboxSettings, "egressDir">, name: string): string =>
  path.join(settings.egressDir ?? path.join(os.tmpdir(), "devteam-egress"), name)

/** The forwarder's ready report (internal/egressForwarder): the sandbox's health. */
const ForwarderReport = Schema.Union(
  Schema.Struct({ ok: Schema.Literal(true), git: Schema.String, node: Schema.String }),
  Schema.Struct({ ok: Schema.Literal(false), message: Schema.String })
)
type ForwarderReport = typeof ForwarderReport.Type
const decodeReport = Schema.decodeUnknownOption(Schema.parseJson(ForwarderReport))
/** The ready report awaited from the forwarder of the container last started under one name. */
interface Readiness {
  current: Deferred.Deferred<ForwarderReport>
}
const decodeWait = Schema.decodeUnknownOption(Schema.Struct({ StatusCode: Schema.Number }))

const unavailable = (what: string) => (error: unknown) =>
  new SandboxUnavailable({ message: `docker: ${what}: ${messageOf(error)}` })

const tryDocker = <A>(what: string, f: () => Promise<A>) => Effect.tryPromise({ try: f, catch: unavailable(what) })

/**
 * What a container mounts: the work tree and its `.git` (device and inode; none when the workspace
 * is not a repository). A clone moved into place replaces both, and a container still mounts the
 * old ones: it is stale.
 */
interface TreeIdentity {
  readonly tree: string
  readonly gitDir: string | undefined
}

const treeIdentity = (workspacePath: string): Effect.Effect<TreeIdentity, SandboxUnavailable> =>
  Effect.gen(function*() {
    const tree = yield* tryDocker("workspace", () => fs.stat(workspacePath, { bigint: true }))
    const gitDir = yield* Effect.promise(() =>
      fs.lstat(path.join(workspacePath, ".git"), { bigint: true }).then((s) => s, () => undefined)
    )
    // The engine would follow a link and mount its target (any host path) into the container.
    if (gitDir !== undefined && !gitDir.isDirectory()) {
      return yield* new SandboxUnavailable({
        message: `workspace ${workspacePath}: .git is not a directory; it is not mounted into a sandbox`
      })
    }
    return {
      tree: `${tree.dev}:${tree.ino}`,
      gitDir: gitDir === undefined ? undefined : `${gitDir.dev}:${gitDir.ino}`
    }
  })

/** Whether `now` is still what a container created at `mounted` mounts (a `.git` that appeared since is not). */
const sameTree = (mounted: TreeIdentity, now: TreeIdentity): boolean =>
  mounted.tree === now.tree && (mounted.gitDir === undefined || mounted.gitDir === now.gitDir)

/**
 * The container name for one project's execution on one workspace: stable, so a crash-restarted
 * step reuses it, and specific to the mounted workspace, so after a failover a runner with another
 * workspace directory never reuses a container that mounts the dead runner's work tree.
 */
export const containerName = (projectId: string, executionId: string, workspacePath: string): string =>
  `devteam-sbx-${
    createHash("sha256").update(`${projectId}\n${executionId}\n${workspacePath}`).digest("hex").slice(0, 24)
  }`

/** Runs a helper command in the container to its end (at most 5 s): whether it exited 0. */
const runHelper = (container: Docker.Container, cmd: Array<string>): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const exec = yield* tryDocker("helper exec", () =>
      container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true }))
    const stream = yield* tryDocker("helper exec start", () =>
      exec.start({ hijack: true, stdin: false }))
    yield* Effect.async<void>((resume) => {
      stream.on("end", () => resume(Effect.void))
      stream.on("close", () => resume(Effect.void))
      stream.on("error", () => resume(Effect.void))
      stream.resume()
    })
    const info = yield* tryDocker("helper exec inspect", () => exec.inspect())
    return info.ExitCode === 0
  }).pipe(
    Effect.timeout(Duration.seconds(5)),
    Effect.orElseSucceed(() => false)
  )

const startExec = (
  container: Docker.Container,
  argv: ReadonlyArray<string>,
  cwd: string,
  env: ReadonlyArray<string>,
  docker: Docker
): Effect.Effect<StartedProcess, SandboxUnavailable> =>
  Effect.gen(function*() {
    const pidfile = `${TMPDIR}/exec-${crypto.randomUUID()}.pid`
    const exec = yield* tryDocker("exec create", () =>
      container.exec({
        Cmd: ["sh", "-c", execWrapper, "devteam-exec", pidfile, ...argv],
        Env: [...env],
        WorkingDir: cwd,
        AttachStdout: true,
        AttachStderr: true,
        AttachStdin: false,
        Tty: false
      }))
    const output = yield* Queue.unbounded<RawChunk | null>()
    const ended = yield* Deferred.make<void>()
    const stream = yield* tryDocker("exec start", () => exec.start({ hijack: true, stdin: false }))
    const demux = makeDemuxer((s, text) => Queue.unsafeOffer(output, { stream: s, text }))
    let closed = false
    const close = () => {
      if (closed) return
      closed = true
      demux.end()
      Queue.unsafeOffer(output, null)
      Deferred.unsafeDone(ended, Exit.void)
    }
    stream.on("data", (b: Buffer) => demux.push(b))
    stream.on("end", close)
    stream.on("close", close)
    stream.on("error", close)
    const exitCode = Effect.gen(function*() {
      yield* Deferred.await(ended)
      const code = yield* tryDocker("exec inspect", () => exec.inspect()).pipe(
        Effect.flatMap((i) =>
          !i.Running && i.ExitCode !== null
            ? Effect.succeed(i.ExitCode)
            : Effect.fail(new SandboxUnavailable({ message: "docker: exec did not report an exit code" }))
        ),
        Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 })
      )
      // Killed by a signal: maybe the wrapper itself (a command can kill its parent), before its sweep.
      if (code >= 128) yield* runHelper(container, ["sh", "-c", sweepScript, "devteam-sweep"])
      return code
    })
    const kill = killGroup(container, pidfile, docker)
    const wasOomKilled = (startedAt: number) => oomEventSince(docker, container.id, startedAt)
    return { output, exit: exitCode, kill, wasOomKilled }
  })

/**
 * Kills an exec's process group (and the orphans) from inside the container. When that is
 * impossible (a fork bomb holds every pid, so no helper process can start), the container is
 * restarted: its processes all die, the workspace and the container stay.
 */
const killGroup = (container: Docker.Container, pidfile: string, docker: Docker): Effect.Effect<void> =>
  Effect.gen(function*() {
    const killed = yield* runHelper(container, ["sh", "-c", killScript, "devteam-kill", pidfile])
    if (!killed) {
      yield* Effect.logWarning("could not kill an exec's process group from inside; restarting the container")
      yield* tryDocker("restart", () => container.restart({ t: 0 })).pipe(Effect.ignoreLogged)
      yield* tryDocker("mkdir tmp", () => ensureTmp(container, docker)).pipe(Effect.ignoreLogged)
    }
  })

const ensureTmp = async (container: Docker.Container, _docker: Docker) => {
  const exec = await container.exec({ Cmd: ["mkdir", "-p", TMPDIR], AttachStdout: false, AttachStderr: false })
  await exec.start({ Detach: true })
}

const decodeEvent = Schema.decodeUnknownOption(
  Schema.parseJson(Schema.Struct({ Action: Schema.String, timeNano: Schema.Number }))
)

/** Whether the engine reported an OOM kill in the container since `startedAt` (ms). */
const oomEventSince = (docker: Docker, containerId: string, startedAt: number): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    // The engine's OOM event can trail the exit by a moment.
    yield* Effect.sleep("100 millis")
    const stream = yield* tryDocker("events", () =>
      docker.getEvents({
        since: Math.floor(startedAt / 1000) - 1,
        // A future `until` makes the engine wait for it: at most the rest of this second.
        until: Math.ceil(Date.now() / 1000),
        filters: { container: [containerId], event: ["oom"] }
      }))
    const body = yield* Effect.async<string>((resume) => {
      let text = ""
      stream.on("data", (b: Buffer) => {
        text += b.toString("utf8")
      })
      stream.on("end", () => resume(Effect.succeed(text)))
      stream.on("error", () => resume(Effect.succeed(text)))
    })
    // The query has whole-second bounds: keep the events of this exec only (by their nanosecond time).
    return body.split("\n").some((line) => {
      const event = decodeEvent(line)
      return Option.isSome(event) && event.value.Action === "oom" && event.value.timeNano / 1e6 >= startedAt - 5
    })
  }).pipe(
    Effect.timeout(Duration.seconds(5)),
    Effect.orElseSucceed(() => false)
  )

const createOptions = (
  name: string,
  options: AcquireOptions,
  image: string,
  resources: SandboxResources,
  owner: string,
  egressDir: string,
  cacheDir: string,
  mountsGitDir: boolean
): Docker.ContainerCreateOptions => ({
  name,
  Image: image,
  // The container's main process is the egress forwarder (restarted with the container).
  // (One V8 worker thread: 4 of the container's pids instead of 7. Without the image's extra CA
  // bundle, which node parses at start-up — ~40% of its start — and a forwarder never uses.)
  Cmd: [
    "env",
    "-u",
    "NODE_EXTRA_CA_CERTS",
    "node",
    "--v8-pool-size=1",
    `${mountPoint}/${scriptName}`,
    String(forwarderPort),
    `${mountPoint}/${socketName}`,
    TMPDIR
  ],
  User: "1000:1000",
  WorkingDir: WORKDIR,
  // Every exec inherits these: the proxy is the only way out. `.git` is read-only: git's reads do
  // not try to refresh the index (GIT_OPTIONAL_LOCKS), and an install does not try to set up hooks (HUSKY).
  Env: [
    "HOME=/home/runner",
    "LANG=C.UTF-8",
    "GIT_OPTIONAL_LOCKS=0",
    "HUSKY=0",
    ...Object.entries(proxyEnv(PROXY_URL)).map(([k, v]) => `${k}=${v}`)
  ],
  Labels: {
    [labels.sandbox]: "1",
    [labels.owner]: owner,
    [labels.project]: options.projectId,
    [labels.execution]: options.executionId
  },
  // Network mode `none` isolates (loopback only, no route out). `NetworkDisabled` is not set: it
  // leaves /etc/hosts empty, so `localhost` does not resolve and test runners that listen on it
  // (vitest, many HTTP test suites) fail to start.
  HostConfig: {
    Init: true,
    Mounts: [
      { Type: "bind", Source: options.workspacePath, Target: WORKDIR, ReadOnly: false },
      // The host runs git in the work tree afterwards: what a command could write into `.git`
      // (config drivers, hooks, includes) would run on the host. (Mounted over the one above.)
      ...(mountsGitDir
        ? [{
          Type: "bind" as const,
          Source: path.join(options.workspacePath, ".git"),
          Target: `${WORKDIR}/.git`,
          ReadOnly: true
        }]
        : []),
      // The egress proxy's socket (connectable through a read-only mount) and the forwarder.
      { Type: "bind", Source: egressDir, Target: mountPoint, ReadOnly: true },
      // The project's download cache (VERIFY's installs), kept across executions.
      { Type: "bind", Source: cacheDir, Target: SandboxCache.containerPath, ReadOnly: false }
    ],
    NanoCpus: Math.round(resources.cpus * 1e9),
    Memory: resources.memoryMiB * 1024 * 1024,
    MemorySwap: resources.memoryMiB * 1024 * 1024,
    PidsLimit: resources.pidsLimit,
    NetworkMode: resources.network,
    CapDrop: ["ALL"],
    SecurityOpt: ["no-new-privileges"],
    LogConfig: { Type: "none", Config: {} },
    RestartPolicy: { Name: "no" }
  }
})

/** The docker Sandbox service for the given settings. */
export const make = (settings: SandboxSettings): Effect.Effect<Sandbox["Type"], never, Redactor> =>
  Effect.gen(function*() {
    const redactor = yield* Redactor
    const docker = makeClient(settings)
    // Containers held by live handles of this process (name → holders); the sweeper spares them.
    const active = new Map<string, number>()
    // Containers this process created, with the work tree each mounts: any other with our name is an
    // earlier incarnation's.
    const createdHere = new Map<string, TreeIdentity>()
    // The egress proxy of each container (name → proxy, its scope and holders) and the ready report
    // of the forwarder last started behind it.
    const proxies = new Map<string, {
      proxy: EgressProxy.EgressProxy
      readiness: Readiness
      scope: Scope.CloseableScope
      holders: number
    }>()

    const startEgress = (name: string, resources: SandboxResources) =>
      Effect.gen(function*() {
        const existing = proxies.get(name)
        if (existing !== undefined) {
          existing.holders += 1
          return existing
        }
        const dir = egressDirOf(settings, name)
        yield* tryDocker("egress directory", async () => {
          await fs.mkdir(dir, { recursive: true, mode: 0o755 })
          await fs.chmod(dir, 0o755)
          await fs.writeFile(path.join(dir, scriptName), forwarderScript, { mode: 0o644 })
        })
        const scope = yield* Scope.make()
        const readiness: Readiness = { current: yield* Deferred.make<ForwarderReport>() }
        const proxy = yield* EgressProxy.make({
          listen: { socketPath: path.join(dir, socketName) },
          ...(settings.egressHosts === undefined ? {} : { hosts: settings.egressHosts }),
          sandbox: name,
          enforced: resources.network === "none",
          // The first report counts (a restarted container's forwarder reports again).
          onForwarderReady: (body) => {
            const report = decodeReport(body)
            if (Option.isSome(report)) Deferred.unsafeDone(readiness.current, Exit.succeed(report.value))
          }
        }).pipe(Scope.extend(scope), Effect.onError(() => Scope.close(scope, Exit.void)))
        const entry = { proxy, readiness, scope, holders: 1 }
        proxies.set(name, entry)
        return entry
      })

    const stopEgress = (name: string) =>
      Effect.suspend(() => {
        const entry = proxies.get(name)
        if (entry === undefined) return Effect.void
        entry.holders -= 1
        if (entry.holders > 0) return Effect.void
        proxies.delete(name)
        return Scope.close(entry.scope, Exit.void).pipe(
          Effect.zipRight(Effect.promise(() => fs.rm(egressDirOf(settings, name), { recursive: true, force: true })))
        )
      })

    const waitGone = (container: Docker.Container) =>
      Effect.tryPromise({ try: () => container.inspect(), catch: (e) => e }).pipe(
        Effect.matchEffect({
          onFailure: (e) => statusOf(e) === 404 ? Effect.void : Effect.fail(e),
          onSuccess: () => Effect.fail("still present" as const)
        }),
        Effect.retry(Schedule.spaced("50 millis")),
        Effect.timeout(Duration.seconds(60))
      )

    const remove = (container: Docker.Container) =>
      Effect.gen(function*() {
        yield* Effect.tryPromise(() => container.stop({ t: 0 })).pipe(Effect.ignore)
        yield* Effect.tryPromise({ try: () => container.remove({ force: true, v: true }), catch: (e) => e }).pipe(
          Effect.catchAll((e) => statusOf(e) === 404 || statusOf(e) === 409 ? Effect.void : Effect.fail(e))
        )
        yield* waitGone(container)
      })

    const ensureStarted = (
      name: string,
      options: AcquireOptions,
      resources: SandboxResources,
      tree: TreeIdentity,
      readiness: Readiness
    ) =>
      Effect.gen(function*() {
        const cacheDir = yield* SandboxCache.projectCacheDir(options.projectId)
        const create = Effect.tryPromise({
          try: () =>
            docker.createContainer(
              createOptions(
                name,
                options,
                settings.image,
                resources,
                settings.owner,
                egressDirOf(settings, name),
                cacheDir,
                tree.gitDir !== undefined
              )
            ),
          catch: (e) => e
        })
        const created = yield* create.pipe(
          Effect.catchAll((e) =>
            statusOf(e) === 409
              ? Effect.succeed(undefined)
              : Effect.fail(unavailable(`create container from image ${settings.image}`)(e))
          )
        )
        let container = created ?? docker.getContainer(name)
        let info = yield* tryDocker("inspect", () => container.inspect())
        const found = info.Config.Labels ?? {}
        if (found[labels.sandbox] !== "1" || found[labels.project] !== options.projectId) {
          return yield* new SandboxUnavailable({
            message: `docker: container ${name} exists but is not this project's sandbox`
          })
        }
        const mounted = createdHere.get(name)
        const stale = created === undefined &&
          (mounted === undefined || mounted.tree !== tree.tree || mounted.gitDir !== tree.gitDir)
        if (stale) {
          // Left by an earlier incarnation of this runner (a crash, a kill): the command of the
          // step being re-run now may still be running in it. Or it mounts a work tree that was
          // replaced since (cloned again). Start over in a fresh container.
          yield* Effect.logInfo(
            `sandbox: replacing container ${name} ${
              mounted === undefined ? "left by an earlier runner process" : "that mounts a replaced work tree"
            }`
          )
          yield* remove(container).pipe(Effect.mapError(unavailable("remove a stale container")))
          container = yield* create.pipe(Effect.mapError(unavailable(`create container from image ${settings.image}`)))
          info = yield* tryDocker("inspect", () => container.inspect())
        }
        if (created !== undefined || stale) createdHere.set(name, tree)
        container = docker.getContainer(info.Id)
        if (!info.State.Running) {
          // Its forwarder reports once listening: not the report of one it replaced (same proxy).
          if (yield* Deferred.isDone(readiness.current)) readiness.current = yield* Deferred.make<ForwarderReport>()
          yield* Effect.tryPromise({ try: () => container.start(), catch: (e) => e }).pipe(
            Effect.catchAll((e) => statusOf(e) === 304 ? Effect.void : Effect.fail(unavailable("start container")(e)))
          )
        }
        return container
      })

    const unhealthy = (detail: string) =>
      new SandboxUnavailable({
        message:
          `docker: sandbox health check failed (git and node must be on PATH in ${settings.image}, the egress forwarder must listen): ${detail}`
      })

    /** The container's main process ended (the forwarder failed): no report will come. */
    const exited = (container: Docker.Container) =>
      Effect.tryPromise({
        try: (signal): Promise<unknown> => container.wait({ condition: "not-running", abortSignal: signal }),
        catch: (e) => e
      }).pipe(
        Effect.matchEffect({
          onSuccess: (r) =>
            Effect.fail(
              unhealthy(
                `the container's main process (the egress forwarder) exited with code ${
                  Option.getOrElse(Option.map(decodeWait(r), (w) => String(w.StatusCode)), () => "?")
                }`
              )
            ),
          // The engine cannot tell: the report or the timeout decides.
          onFailure: () => Effect.never
        })
      )

    /** Waits for the forwarder's ready report, failing fast when the container stops. */
    const forwarderReady = (container: Docker.Container, ready: Deferred.Deferred<ForwarderReport>) =>
      Effect.gen(function*() {
        const report = (yield* Deferred.isDone(ready))
          ? yield* Deferred.await(ready)
          : yield* Effect.raceFirst(Deferred.await(ready), exited(container)).pipe(
            Effect.timeoutFail({
              duration: settings.startTimeout,
              onTimeout: () =>
                unhealthy(
                  `the egress forwarder did not report ready on 127.0.0.1:${forwarderPort} within ${
                    Duration.format(settings.startTimeout)
                  }`
                )
            })
          )
        if (!report.ok) return yield* unhealthy(report.message)
      })

    const acquire = Effect.fn("Sandbox.acquire")(function*(options: AcquireOptions) {
      yield* Effect.annotateLogsScoped({ projectId: options.projectId, executionId: options.executionId })
      const workspacePath = options.workspacePath
      const isDir = yield* Effect.promise(() => fs.stat(workspacePath).then((s) => s.isDirectory(), () => false))
      if (!path.isAbsolute(workspacePath) || !isDir) {
        return yield* new SandboxUnavailable({
          message: `workspace ${workspacePath} is not an existing absolute directory`
        })
      }
      const resources: SandboxResources = { ...settings.resources, ...options.resources }
      if (resources.network === "host") {
        return yield* new SandboxUnavailable({ message: "host networking is not allowed for sandboxes" })
      }
      const name = containerName(options.projectId, options.executionId, workspacePath)
      const tree = yield* treeIdentity(workspacePath)
      // Before the container (which mounts its directory); stopped after it is gone.
      const { proxy, readiness } = yield* Effect.acquireRelease(startEgress(name, resources), () => stopEgress(name))
      const container = yield* Effect.acquireRelease(
        ensureStarted(name, options, resources, tree, readiness).pipe(
          // Interruptible so the start timeout can fire; a container left half-started is reused
          // by the next acquire (same name) or removed by the sweeper.
          Effect.interruptible,
          Effect.timeoutFail({
            duration: settings.startTimeout,
            onTimeout: () => new SandboxUnavailable({ message: "docker: sandbox did not start in time" })
          }),
          Effect.tap(() => Effect.sync(() => active.set(name, (active.get(name) ?? 0) + 1)))
        ),
        () =>
          Effect.suspend(() => {
            const holders = (active.get(name) ?? 1) - 1
            if (holders > 0) {
              active.set(name, holders)
              return Effect.void
            }
            // By name: the container a holder started may have been replaced since (a replaced work tree).
            return remove(docker.getContainer(name)).pipe(
              Effect.timeout(Duration.seconds(60)),
              Effect.ensuring(Effect.sync(() => active.delete(name))),
              Effect.tapError((e) => Effect.logWarning("sandbox teardown failed; the sweeper will retry", e)),
              Effect.ignore,
              Effect.withSpan("Sandbox.teardown")
            )
          })
      )
      yield* forwarderReady(container, readiness.current)
      const exec = (opts: ExecOptions) =>
        Effect.gen(function*() {
          // The work tree was cloned again since the container started: it would work in the old one.
          if (!sameTree(tree, yield* treeIdentity(workspacePath))) {
            return yield* new SandboxUnavailable({
              message: "the workspace was replaced (cloned again) since the sandbox started: a new sandbox is needed"
            })
          }
          const cwd = yield* resolveCwd(WORKDIR, opts.cwd, path.posix.join)
          const env = Object.entries(opts.env ?? {}).filter(([k]) => validEnvName(k)).map(([k, v]) => `${k}=${v}`)
          yield* registerSecrets(redactor, opts.env, isSecretName)
          return yield* drive(startExec(container, opts.command, cwd, env, docker), opts, redactor)
        }).pipe(Effect.withSpan("Sandbox.exec", { attributes: { kind: "docker", command: opts.command[0] ?? "" } }))
      const handle: SandboxHandle = {
        kind: "docker",
        id: container.id,
        workspacePath,
        workdir: WORKDIR,
        tmpdir: TMPDIR,
        cacheDir: SandboxCache.containerPath,
        exec,
        egress: { proxyUrl: PROXY_URL, enforced: resources.network === "none", open: proxy.open }
      }
      return handle
    })

    const sweep = () =>
      Effect.gen(function*() {
        const list = yield* tryDocker("list containers", () =>
          docker.listContainers({
            all: true,
            filters: { label: [`${labels.sandbox}=1`, `${labels.owner}=${settings.owner}`] }
          }))
        const orphans = list.filter((c) => !c.Names.some((n) => active.has(n.replace(/^\//, ""))))
        yield* Effect.forEach(
          orphans,
          (c) =>
            remove(docker.getContainer(c.Id)).pipe(
              Effect.zipRight(Effect.forEach(c.Names, (n) => {
                const orphanName = n.replace(/^\//, "")
                return proxies.has(orphanName)
                  ? Effect.void
                  : Effect.promise(() => fs.rm(egressDirOf(settings, orphanName), { recursive: true, force: true }))
              })),
              Effect.ignore
            ),
          { concurrency: 4, discard: true }
        )
        if (orphans.length > 0) yield* Effect.logInfo(`sandbox sweeper removed ${orphans.length} orphaned container(s)`)
        return orphans.length
      }).pipe(
        Effect.tapError((e) => Effect.logWarning("sandbox sweep failed", e)),
        Effect.orElseSucceed(() => 0),
        Effect.withSpan("Sandbox.sweep")
      )

    const healthCheck = () =>
      Effect.gen(function*() {
        yield* tryDocker("ping", () => docker.ping())
        yield* tryDocker(`image ${settings.image}`, () => docker.getImage(settings.image).inspect())
        return {
          kind: "docker" as const,
          available: true,
          isolation: true,
          message: `docker sandbox: image ${settings.image}, network ${settings.resources.network}${
            settings.resources.network === "none"
              ? ", egress only through the runner's proxy (per-step allow-lists)"
              : " (a direct route out: egress allow-lists are not enforced)"
          }`,
          image: settings.image,
          egressEnforced: settings.resources.network === "none"
        }
      }).pipe(
        Effect.timeout(Duration.seconds(5)),
        Effect.catchAll((e) =>
          Effect.succeed({
            kind: "docker" as const,
            available: false,
            isolation: true,
            message: e._tag === "TimeoutException" ? "docker: engine did not answer within 5 s" : e.message,
            image: settings.image
          })
        )
      )

    return { kind: "docker", acquire, sweep, health: healthCheck } satisfies Sandbox["Type"]
  })

/** Whether a Docker engine answers at the configured address (within `timeout`). */
export const engineAnswers = (
  settings: Pick<SandboxSettings, "dockerHost" | "dockerSocket">,
  timeout: Duration.DurationInput = "2 seconds"
): Effect.Effect<boolean> =>
  Effect.tryPromise(() => makeClient(settings).ping()).pipe(
    Effect.as(true),
    Effect.timeout(timeout),
    Effect.orElseSucceed(() => false)
  )

/** `make` plus the sweeper, run at start-up and every `sweepInterval` for the life of the scope. */
export const makeScoped = (settings: SandboxSettings): Effect.Effect<Sandbox["Type"], never, Redactor | Scope.Scope> =>
  Effect.gen(function*() {
    const sandbox = yield* make(settings)
    yield* sandbox.sweep().pipe(Effect.repeat(Schedule.spaced(settings.sweepInterval)), Effect.forkScoped)
    return sandbox
  })

/** The docker sandbox from `SandboxConfig`, with its sweeper. */
export const layer: Layer.Layer<Sandbox, ConfigError.ConfigError, Redactor> = Layer.scoped(
  Sandbox,
  Effect.flatMap(SandboxConfig, makeScoped)
)

/** The docker sandbox for explicit settings (tests, benchmarks), with its sweeper. */
export const layerWith = (settings: SandboxSettings): Layer.Layer<Sandbox, never, Redactor> =>
  Layer.scoped(Sandbox, makeScoped(settings))
