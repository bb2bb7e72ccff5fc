/**
 * Sandbox bootstrap / teardown: docker create+start+health (`acquire`, with its egress proxy and
 * forwarder) and stop+remove+gone (the scope's finalizer) over ≥ 20 runs, one exec round trip, and
 * the local sandbox for comparison. Targets (quality.md): bootstrap p50 ≤ 500 ms, teardown p50 ≤ 2 s.
 *
 * Egress overhead: the same container without the proxy (dockerode directly: create, start, the
 * health exec, remove — what `acquire` did before egress control), interleaved with the runs above;
 * and through the proxy from inside a sandbox (in-container timing): CONNECT latency to a
 * local server (p50/p99) against a direct loopback connect on the host, and the throughput of
 * a 64 MiB download through a CONNECT tunnel.
 * Needs the test image (scripts/build-sandbox-image.sh) and a Docker engine.
 */
import { HostPort } from "@devteam/domain/Egress"
import * as DockerSandbox from "@devteam/runtime/DockerSandbox"
import * as LocalSandbox from "@devteam/runtime/LocalSandbox"
import * as Redaction from "@devteam/runtime/Redaction"
import type { Sandbox } from "@devteam/runtime/Sandbox"
import { testImage } from "@devteam/runtime/Sandbox"
import Docker from "dockerode"
import { Duration, Effect, Exit, Option, Scope } from "effect"
import { execFileSync } from "node:child_process"
import { chmodSync, mkdtempSync, rmSync } from "node:fs"
import * as net from "node:net"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { summarize } from "./stats.js"

const runs = Number(process.env.BENCH_SANDBOX_RUNS ?? 25)
const image = testImage

/** create + start + `git --version && node --version` + remove, without the egress proxy. */
const bareContainer = (docker: Docker, workspacePath: string) =>
  Effect.promise(async () => {
    const t0 = performance.now()
    const container = await docker.createContainer({
      Image: image,
      Cmd: ["sleep", "infinity"],
      User: "1000:1000",
      WorkingDir: "/workspace",
      NetworkDisabled: true,
      HostConfig: {
        Init: true,
        Mounts: [{ Type: "bind", Source: workspacePath, Target: "/workspace", ReadOnly: false }],
        NetworkMode: "none",
        CapDrop: ["ALL"],
        SecurityOpt: ["no-new-privileges"],
        LogConfig: { Type: "none", Config: {} }
      }
    })
    await container.start()
    const exec = await container.exec({
      Cmd: ["sh", "-c", "git --version && node --version"],
      AttachStdout: true,
      AttachStderr: true
    })
    const stream = await exec.start({ hijack: true, stdin: false })
    await new Promise<void>((resolve) => {
      stream.on("end", resolve)
      stream.on("close", resolve)
      stream.resume()
    })
    const bootstrap = performance.now() - t0
    await container.remove({ force: true })
    return bootstrap
  })

const measure = (sandbox: Sandbox["Type"], workspacePath: string, bare?: Docker) =>
  Effect.gen(function*() {
    const bootstrap: Array<number> = []
    const teardown: Array<number> = []
    const exec: Array<number> = []
    const bareBootstrap: Array<number> = []
    for (let i = 0; i < runs; i++) {
      if (bare !== undefined) bareBootstrap.push(yield* bareContainer(bare, workspacePath))
      const scope = yield* Scope.make()
      const t0 = performance.now()
      const handle = yield* sandbox.acquire({
        projectId: `bench/sandbox-${i}`,
        executionId: crypto.randomUUID(),
        workspacePath
      }).pipe(Scope.extend(scope))
      const t1 = performance.now()
      const result = yield* handle.exec({ command: ["true"], timeout: "30 seconds" })
      if (result.exitCode !== 0) return yield* Effect.die(new Error(`exec failed: ${result.stderr}`))
      const t2 = performance.now()
      yield* Scope.close(scope, Exit.void)
      const t3 = performance.now()
      bootstrap.push(t1 - t0)
      exec.push(t2 - t1)
      teardown.push(t3 - t2)
    }
    return {
      bootstrapMs: summarize(bootstrap),
      teardownMs: summarize(teardown),
      execMs: summarize(exec),
      ...(bare === undefined ? {} : { bootstrapWithoutEgressProxyMs: summarize(bareBootstrap) })
    }
  })

/** Runs in the sandbox: N sequential CONNECTs through the proxy; prints each one's ms as JSON. */
const connectScript = `
const http = require("http")
const [target, n] = [process.argv[1], Number(process.argv[2])]
const times = []
const one = () => {
  const t = process.hrtime.bigint()
  const req = http.request({ host: "127.0.0.1", port: 3128, method: "CONNECT", path: target })
  req.on("connect", (res, socket) => {
    if (res.statusCode !== 200) { console.error("status " + res.statusCode); process.exit(1) }
    times.push(Number(process.hrtime.bigint() - t) / 1e6)
    socket.destroy()
    if (times.length < n) one(); else console.log(JSON.stringify(times))
  })
  req.end()
}
one()
`

/** Runs in the sandbox: one CONNECT, then reads until the server ends; prints bytes and ms. */
const downloadScript = `
const http = require("http")
const req = http.request({ host: "127.0.0.1", port: 3128, method: "CONNECT", path: process.argv[1] })
req.on("connect", (res, socket, head) => {
  let bytes = head.length
  const t = process.hrtime.bigint()
  socket.on("data", (d) => { bytes += d.length })
  socket.on("end", () => console.log(JSON.stringify({ bytes, ms: Number(process.hrtime.bigint() - t) / 1e6 })))
})
req.end()
`

const downloadBytes = 64 * 1024 * 1024

/** Two loopback servers: one that only accepts, one that sends `downloadBytes` and ends. */
const servers = Effect.acquireRelease(
  Effect.promise(async () => {
    const listen = (onConnection: (socket: net.Socket) => void) =>
      new Promise<net.Server>((resolve) => {
        const server = net.createServer(onConnection)
        server.listen(0, "127.0.0.1", () => resolve(server))
      })
    const chunk = Buffer.alloc(1024 * 1024, 120)
    const accept = await listen((socket) => socket.on("error", () => socket.destroy()))
    const download = await listen((socket) => {
      socket.on("error", () => socket.destroy())
      let sent = 0
      const pump = () => {
        while (sent < downloadBytes) {
          sent += chunk.length
          if (!socket.write(chunk)) {
            socket.once("drain", pump)
            return
          }
        }
        socket.end()
      }
      pump()
    })
    const portOf = (s: net.Server) => {
      const a = s.address()
      return typeof a === "object" && a !== null ? a.port : 0
    }
    return { accept, download, acceptPort: portOf(accept), downloadPort: portOf(download) }
  }),
  (s) =>
    Effect.sync(() => {
      s.accept.close()
      s.download.close()
    })
)

const hostConnectMs = (port: number, n: number) =>
  Effect.promise(async () => {
    const times: Array<number> = []
    for (let i = 0; i < n; i++) {
      const t = performance.now()
      await new Promise<void>((resolve, reject) => {
        const socket = net.connect(port, "127.0.0.1", () => {
          times.push(performance.now() - t)
          socket.destroy()
          resolve()
        })
        socket.on("error", reject)
      })
    }
    return times
  })

const connects = Number(process.env.BENCH_EGRESS_CONNECTS ?? 200)

const measureEgress = (sandbox: Sandbox["Type"], workspacePath: string) =>
  Effect.gen(function*() {
    const s = yield* servers
    const handle = yield* sandbox.acquire({
      projectId: "bench/egress",
      executionId: crypto.randomUUID(),
      workspacePath
    })
    const window = yield* handle.egress.open({
      step: "VERIFY",
      allow: [
        new HostPort({ host: "bench.test", port: s.acceptPort }),
        new HostPort({ host: "bench.test", port: s.downloadPort })
      ]
    })
    const connect = yield* handle.exec({
      command: ["node", "-e", connectScript, `bench.test:${s.acceptPort}`, String(connects)],
      timeout: "120 seconds"
    })
    if (connect.exitCode !== 0) return yield* Effect.die(new Error(`connect bench failed: ${connect.stderr}`))
    const viaProxy: Array<number> = JSON.parse(connect.stdout)
    const downloads: Array<number> = []
    for (let i = 0; i < 3; i++) {
      const download = yield* handle.exec({
        command: ["node", "-e", downloadScript, `bench.test:${s.downloadPort}`],
        timeout: "120 seconds"
      })
      const { bytes, ms }: { bytes: number; ms: number } = JSON.parse(download.stdout)
      if (bytes !== downloadBytes) return yield* Effect.die(new Error(`downloaded ${bytes} bytes`))
      downloads.push(bytes / (1024 * 1024) / (ms / 1000))
    }
    const summary = yield* window.summary
    return {
      connectViaProxyMs: summarize(viaProxy),
      connectDirectOnHostMs: summarize(yield* hostConnectMs(s.acceptPort, connects)),
      downloadThroughTunnelMiBps: summarize(downloads),
      proxyConnectionsCounted: summary.connections
    }
  }).pipe(Effect.scoped)

export const run = async (): Promise<Record<string, unknown>> => {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..")
  execFileSync(join(root, "scripts/build-sandbox-image.sh"), [image], { stdio: "inherit" })
  const workspacePath = mkdtempSync(join(tmpdir(), "devteam-bench-sandbox-"))
  chmodSync(workspacePath, 0o777)
  try {
    const program = Effect.gen(function*() {
      const docker = yield* DockerSandbox.make({
        egressHosts: { "bench.test": "127.0.0.1" },
        kind: Option.some("docker"),
        image,
        resources: { cpus: 1, memoryMiB: 2048, pidsLimit: 512, network: "none" },
        dockerHost: Option.fromNullable(process.env.DOCKER_HOST),
        dockerSocket: "/var/run/docker.sock",
        owner: `bench-${process.pid}`,
        sweepInterval: Duration.hours(1),
        startTimeout: Duration.seconds(60)
      })
      const local = yield* LocalSandbox.make
      // One warm-up, not counted (first exec of the image, page cache).
      yield* Effect.scoped(
        docker.acquire({ projectId: "bench/warmup", executionId: crypto.randomUUID(), workspacePath })
      )
      const bare = new Docker({ socketPath: "/var/run/docker.sock" })
      return {
        docker: yield* measure(docker, workspacePath, bare),
        egress: yield* measureEgress(docker, workspacePath),
        local: yield* measure(local, workspacePath)
      }
    }).pipe(Effect.provide(Redaction.layerWith([])))
    const figures = await Effect.runPromise(program)
    return {
      runs,
      image,
      ...figures,
      targets: { bootstrapP50Ms: 500, teardownP50Ms: 2000 }
    }
  } finally {
    rmSync(workspacePath, { recursive: true, force: true })
  }
}
