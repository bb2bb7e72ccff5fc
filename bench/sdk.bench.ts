/**
 * The client SDK against the real all-in-one service (embedded database, local sandbox, script
 * tool): Promise client round trips next to plain fetch, WebSocket replay throughput, and how long
 * the socket takes to be back after the service is killed and restarted (default backoff).
 */
import * as DevTeamSocket from "@devteam/client-sdk/DevTeamSocket"
import { createDevTeamClient } from "@devteam/client-sdk/PromiseClient"
import { makeBareRemote } from "@devteam/runtime/testing/GitRemote"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { WebSocket } from "ws"
import { summarize } from "./stats.js"

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..")

const freePort = () =>
  new Promise<number>((done, fail) => {
    const server = createServer()
    server.once("error", fail)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => done(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms))

const taskList = (n: number) =>
  `# Tasks\n\nPhase 1: Work\n\n- 1.1 Work (Dependencies: [])\n${
    Array.from({ length: n }, (_, i) => `  - [ ] 1.1.${i + 1} Task ${i + 1}\n`).join("")
  }`

export const run = async (): Promise<Record<string, unknown>> => {
  const root = mkdtempSync(join(tmpdir(), "devteam-bench-sdk-"))
  const port = await freePort()
  const baseUrl = `http://127.0.0.1:${port}`
  let child: ChildProcess | undefined
  // local-only mode: no token (loopback)
  const { AUTH_JWT_SECRET: _secret, ...inherited } = process.env
  const start = async () => {
    child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", "packages/server/src/bin.ts"], {
      cwd: repoRoot,
      stdio: "ignore",
      env: {
        ...inherited,
        ROLE: "all",
        DATABASE_URL: "",
        REDIS_URL: "",
        DATA_DIR: join(root, "data"),
        DEVTEAM_RUNNER_HOST: "127.0.0.1",
        DEVTEAM_RUNNER_PORT: String(port),
        SANDBOX: "local",
        REPO_ALLOW_FILE: "true",
        SCRIPT_TOOL_COMMAND: "echo \"$DEVTEAM_TASK_ID\" >> \"done-$DEVTEAM_TASK_ID.txt\"",
        LOG_LEVEL: "warn"
      }
    })
    for (let i = 0; i < 900; i++) {
      const up = await fetch(`${baseUrl}/health`).then((r) => r.status === 200, () => false)
      if (up) return
      await sleep(100)
    }
    throw new Error("the service did not start")
  }
  const kill = () =>
    new Promise<void>((done) => {
      const proc = child
      if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return done()
      proc.once("exit", () => done())
      proc.kill("SIGKILL")
    })
  try {
    await start()
    const client = createDevTeamClient({ baseUrl })
    const remote = makeBareRemote({
      root: join(root, "remotes"),
      files: { "README.md": "# Bench\n", "docs/DevTeam/tasks_list.md": taskList(5) }
    })
    const projectId = "bench/sdk"
    const started = await client.initialize({ projectId, repoUrl: remote, tool: "script" })
    const socket = DevTeamSocket.connect({ baseUrl, projects: [{ projectId, since: 0 }], WebSocket })
    for await (const frame of socket.frames({ projectId })) {
      if (frame.type === "execution-completed" && frame.executionId === started.executionId) break
    }
    await socket.close()

    // REST round trips: the Promise client (schema encode/decode, correlation id) next to fetch
    const promiseMs: Array<number> = []
    const fetchMs: Array<number> = []
    const path = `${baseUrl}/api/devteam/automation/status/${encodeURIComponent(projectId)}`
    for (let i = 0; i < 50; i++) await client.status(projectId)
    for (let i = 0; i < 400; i++) {
      const t0 = performance.now()
      await client.status(projectId)
      promiseMs.push(performance.now() - t0)
      const t1 = performance.now()
      await (await fetch(path)).json()
      fetchMs.push(performance.now() - t1)
    }

    // replay of the whole journal (since 0), decoded and de-duplicated by the socket
    const replay: Array<{ frames: number; ms: number }> = []
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now()
      const s = DevTeamSocket.connect({ baseUrl, projects: [{ projectId, since: 0 }], WebSocket })
      let frames = 0
      let replayed = false
      s.on("control", (c) => {
        if (c.type === "replay-complete") replayed = true
      })
      s.on("frame", () => void frames++)
      while (!replayed) await sleep(1)
      replay.push({ frames, ms: performance.now() - t0 })
      await s.close()
    }

    // back after a SIGKILL + restart, with the default backoff (500 ms doubling, jitter, 30 s cap)
    const reconnects: Array<number> = []
    for (let i = 0; i < 3; i++) {
      const s = DevTeamSocket.connect({ baseUrl, projects: [projectId], WebSocket })
      while (s.state() !== "open") await sleep(5)
      await kill()
      await start()
      const ready = performance.now()
      while (s.state() !== "open") await sleep(5)
      reconnects.push(performance.now() - ready)
      await s.close()
    }

    const frames = replay[0]?.frames ?? 0
    return {
      what: "SDK against the all-in-one service on this machine",
      statusRoundTripMs: { promiseClient: summarize(promiseMs), plainFetch: summarize(fetchMs) },
      replay: {
        frames,
        ms: summarize(replay.map((r) => r.ms)),
        framesPerSecondP50: Math.round(frames / ((summarize(replay.map((r) => r.ms)).p50 || 1) / 1000))
      },
      reconnectAfterRestartMs: summarize(reconnects)
    }
  } finally {
    await kill()
    rmSync(root, { recursive: true, force: true })
  }
}
