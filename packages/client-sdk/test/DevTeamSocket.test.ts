/**
 * The reconnecting WebSocket client against the real service (the all-in-one process on its
 * embedded database, auth on, file:// remotes, local sandbox, script tool) and real `ws` sockets:
 * following a real execution, a SIGKILL + restart of the service mid-execution (every frame
 * exactly once, in seq order, equal to a fresh replay and to the journal), unauthorised tokens,
 * forbidden projects, undecodable frames (a raw `ws` server: the real one never sends any),
 * backoff timing against a closed port, the browser path (Node's global WebSocket, token in the
 * query) in a child process, and the Effect API.
 */
import {
  connect,
  type ControlFrame,
  type DevTeamSocket,
  DevTeamSocketError,
  type DevTeamSocketOptions,
  type InvalidFrame,
  makeScoped,
  type StateChange,
  stream
} from "@devteam/client-sdk/DevTeamSocket"
import { type JournalFrame } from "@devteam/domain/WsFrame"
import { makeBareRemote } from "@devteam/runtime/testing/GitRemote"
import * as ServiceEntry from "@devteam/runtime/testing/ServiceEntry"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Scope, Stream } from "effect"
import { execFile } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { WebSocket, WebSocketServer } from "ws"
import { adminToken, freePort, JWT_SECRET, makeService, mintToken, repoRoot, type Service } from "./fixtures/Service.js"

const here = Path.dirname(fileURLToPath(import.meta.url))
const sdkSource = Path.resolve(here, "../src/DevTeamSocket.ts")

let service: Service
let admin: string
const scratch = Fs.mkdtempSync(Path.join(Os.tmpdir(), "devteam-sdk-ws-"))

beforeAll(async () => {
  service = await makeService()
  await service.start()
  admin = adminToken()
}, 120_000)

afterAll(async () => {
  await service?.dispose()
  Fs.rmSync(scratch, { recursive: true, force: true })
}, 30_000)

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const waitFor = async (what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(20)
  }
}

const newProjectId = () => `sdk/ws-${randomUUID().slice(0, 8)}`

const taskList = (count: number) =>
  [
    "# Tasks",
    "",
    "Phase 1: Foundations",
    "",
    "- 1.1 Setup (Dependencies: [])",
    ...Array.from({ length: count }, (_, i) => `  - [ ] 1.1.${i + 1} Task number ${i + 1}`),
    ""
  ].join("\n")

/** A bare repository (file path) whose task list has `tasks` tasks. */
const newRepo = (tasks: number): string =>
  makeBareRemote({
    root: Fs.mkdtempSync(Path.join(scratch, "repo-")),
    files: { "README.md": "# Demo\n", "docs/DevTeam/tasks_list.md": taskList(tasks) }
  })

const initialize = async (projectId: string, repoUrl: string, script: string) => {
  const response = await fetch(`${service.baseUrl}/api/devteam/automation/initialize`, {
    method: "POST",
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    body: JSON.stringify({ projectId, repoUrl, tool: "script", script, verify: { commands: ["true"] } })
  })
  const body = await response.text()
  expect(response.status, body).toBe(202)
}

/** Every journal seq of the project, paging with `nextAfter`. */
const journalSeqs = async (projectId: string): Promise<Array<number>> => {
  const seqs: Array<number> = []
  let after: number | null = 0
  while (after !== null) {
    const response = await fetch(
      `${service.baseUrl}/admin/projects/${encodeURIComponent(projectId)}/journal?after=${after}&limit=1000`,
      { headers: { authorization: `Bearer ${admin}` } }
    )
    expect(response.status).toBe(200)
    const page: unknown = await response.json()
    if (typeof page !== "object" || page === null || !("events" in page) || !Array.isArray(page.events)) {
      throw new Error("unexpected journal page")
    }
    for (const event of page.events) {
      if (typeof event === "object" && event !== null && "seq" in event && typeof event.seq === "number") {
        seqs.push(event.seq)
      }
    }
    after = "nextAfter" in page && typeof page.nextAfter === "number" ? page.nextAfter : null
  }
  return seqs
}

/** The service's process: the one listening on its port (found through /proc; Linux). */
const servicePid = (): number => {
  const pids = Fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry)).filter((pid) => {
    try {
      return Fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(ServiceEntry.bundleDir) &&
        Fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(`DEVTEAM_RUNNER_PORT=${service.port}`)
    } catch {
      return false
    }
  })
  expect(pids).toHaveLength(1)
  return Number(pids[0])
}

interface Recorder {
  readonly frames: Array<JournalFrame>
  readonly states: Array<StateChange & { readonly at: number }>
  readonly controls: Array<ControlFrame>
  readonly invalid: Array<InvalidFrame>
}

const record = (socket: DevTeamSocket): Recorder => {
  const recorder: Recorder = { frames: [], states: [], controls: [], invalid: [] }
  socket.on("frame", (frame) => recorder.frames.push(frame))
  socket.on("state", (change) => recorder.states.push({ ...change, at: performance.now() }))
  socket.on("control", (frame) => recorder.controls.push(frame))
  socket.on("invalid-frame", (frame) => recorder.invalid.push(frame))
  return recorder
}

const completed = (frames: ReadonlyArray<JournalFrame>) => frames.some((f) => f.type === "execution-completed")

const seqsOf = (frames: ReadonlyArray<JournalFrame>) => frames.map((f) => f.seq)

const expectStrictlyAscending = (seqs: ReadonlyArray<number>) => {
  for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1] ?? -1)
}

const options = (overrides: Partial<DevTeamSocketOptions> = {}): DevTeamSocketOptions => ({
  baseUrl: service.baseUrl,
  token: admin,
  WebSocket,
  backoff: { initialDelayMs: 100, maxDelayMs: 1000 },
  ...overrides
})

/**
 * A project whose execution has completed, followed live by a socket with since=0 (test 1 runs
 * it; tests that only need a finished project reuse it).
 */
let followed: Promise<{ readonly projectId: string; readonly frames: ReadonlyArray<JournalFrame> }> | undefined
const followExecution = () => {
  followed ??= (async () => {
    const projectId = newProjectId()
    const repo = newRepo(4)
    const socket = connect(options({ projects: [{ projectId, since: 0 }] }))
    const recorder = record(socket)
    try {
      await waitFor("open", () => socket.state() === "open", 10_000)
      await initialize(
        projectId,
        repo,
        "sleep 0.4; mkdir -p out && echo $DEVTEAM_TASK_ID >> out/t-$DEVTEAM_TASK_ID.txt"
      )
      await waitFor("execution-completed", () => completed(recorder.frames), 60_000)
      const journal = await journalSeqs(projectId)
      await waitFor("the journal's last frame", () => (socket.lastSeq(projectId) ?? 0) >= (journal.at(-1) ?? 0))
      return { projectId, frames: [...recorder.frames], journal, states: recorder.states }
    } finally {
      await socket.close()
    }
  })()
  return followed
}

// ---------------------------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------------------------

describe("DevTeamSocket against the real service", () => {
  it("follows a real execution: every journal frame once, ascending, until execution-completed", async () => {
    const result = await followExecution()
    const journal = await journalSeqs(result.projectId)
    const seqs = seqsOf(result.frames)
    expect(seqs.length).toBeGreaterThan(20)
    expect(seqs).toEqual(journal)
    expectStrictlyAscending(seqs)
    const done = result.frames.find((f) => f.type === "execution-completed")
    expect(done?.type === "execution-completed" ? done.payload : undefined).toMatchObject({
      status: "COMPLETED",
      completedTasks: 4,
      totalTasks: 4
    })
    expect(result.frames.every((f) => f.projectId === result.projectId)).toBe(true)
  }, 90_000)

  it("survives a SIGKILL + restart of the service mid-execution: every frame exactly once, in seq order", async () => {
    const projectId = newProjectId()
    const repo = newRepo(4)
    const socket = connect(options({ projects: [{ projectId, since: 0 }] }))
    const recorder = record(socket)
    let killAt: number | undefined
    let killed: Promise<void> | undefined
    // kill while task 1.1.3 runs its tool (after the frames of tasks 1.1.1 and 1.1.2)
    socket.on("frame", (frame) => {
      if (
        killed === undefined && frame.type === "execution-update" && frame.payload.taskId === "1.1.3" &&
        frame.payload.step === "IMPLEMENT" && frame.payload.event === "StepStarted"
      ) {
        killAt = frame.seq
        killed = service.kill("SIGKILL")
      }
    })
    try {
      await waitFor("open", () => socket.state() === "open", 10_000)
      await initialize(projectId, repo, "sleep 1; mkdir -p out && echo $DEVTEAM_TASK_ID >> out/t-$DEVTEAM_TASK_ID.txt")
      await waitFor("the kill point (task 1.1.3 IMPLEMENT)", () => killed !== undefined, 60_000)
      await killed
      await waitFor("reconnecting", () => recorder.states.some((s) => s.state === "reconnecting"), 10_000)
      expect(completed(recorder.frames)).toBe(false)
      await service.start()
      await waitFor("execution-completed after the restart", () => completed(recorder.frames), 60_000)

      // a fresh replay from a second socket, after completion
      const replaySocket = connect(options({ projects: [{ projectId, since: 0 }] }))
      const replay = record(replaySocket)
      try {
        await waitFor("the replay", () => (replaySocket.lastSeq(projectId) ?? 0) >= (socket.lastSeq(projectId) ?? 1))
      } finally {
        await replaySocket.close()
      }
      const journal = await journalSeqs(projectId)
      await waitFor("the journal's last frame", () => (socket.lastSeq(projectId) ?? 0) >= (journal.at(-1) ?? 0))

      const seqs = seqsOf(recorder.frames)
      expectStrictlyAscending(seqs)
      expect(new Set(seqs).size).toBe(seqs.length)
      expect(seqs).toEqual(journal)
      expect(recorder.frames).toEqual(replay.frames)
      expect(killAt).toBeDefined()
      expect(seqs.some((seq) => seq > (killAt ?? Infinity))).toBe(true)

      // open → reconnecting → (connecting → reconnecting)* → connecting → open
      const names = recorder.states.map((s) => s.state)
      const firstOpen = names.indexOf("open")
      const drop = names.indexOf("reconnecting")
      expect(firstOpen).toBeGreaterThanOrEqual(0)
      expect(drop).toBeGreaterThan(firstOpen)
      expect(names.slice(drop)).toContain("open")
      expect(names.at(-1)).toBe("open")
      const done = recorder.frames.find((f) => f.type === "execution-completed")
      expect(done?.type === "execution-completed" ? done.payload : undefined).toMatchObject({
        status: "COMPLETED",
        completedTasks: 4
      })
    } finally {
      await socket.close()
    }
    expect(socket.state()).toBe("closed")
  }, 120_000)

  it(
    "half-open connection (service SIGSTOPped): heartbeat and connect timeout drop it; resumes without duplicates after SIGCONT",
    async () => {
      const { frames, projectId } = await followExecution()
      const pid = servicePid()
      const socket = connect(options({
        projects: [{ projectId, since: 0 }],
        heartbeatIntervalMs: 150,
        connectTimeoutMs: 400,
        backoff: { initialDelayMs: 50, maxDelayMs: 200 }
      }))
      const recorder = record(socket)
      let answeredSinceOpen = false
      socket.on("state", (change) => {
        if (change.state === "open") answeredSinceOpen = false
      })
      socket.on("control", (frame) => {
        if (frame.type === "replay-complete") answeredSinceOpen = true
      })
      let stopped = false
      try {
        await waitFor("the replay", () => socket.lastSeq(projectId) === frames.at(-1)?.seq, 10_000)
        // the process stops answering, its sockets stay open: only the client's heartbeat can tell
        process.kill(pid, "SIGSTOP")
        stopped = true
        await waitFor("a heartbeat timeout", () => recorder.states.some((s) => /heartbeat/.test(s.reason ?? "")), 5_000)
        await waitFor(
          "a connect timeout",
          () => recorder.states.some((s) => /connect timeout/.test(s.reason ?? "")),
          5_000
        )
        process.kill(pid, "SIGCONT")
        stopped = false
        // Settled: open, and this connection's resubscribe (since = cursor) answered with
        // replay-complete. A resumed process first works off its backlog (the connections the
        // kernel queued while it was stopped), so on a loaded machine another heartbeat drop may
        // come before that; every reconnect resubscribes from the cursor.
        const settled = () => recorder.states.at(-1)?.state === "open" && answeredSinceOpen
        await waitFor("open again, the resubscribe answered", settled, 30_000).catch((error: unknown) => {
          const states = recorder.states.map((s) => `${s.state}${s.reason === undefined ? "" : ` (${s.reason})`}`)
          const controls = recorder.controls.map((c) => c.type)
          throw new Error(`${String(error)}; states: ${states.join(", ")}; controls: ${controls.join(", ")}`)
        })
        // the resubscribes replayed nothing: each frame exactly once
        expect(recorder.frames).toEqual(frames)
        const drop = recorder.states.find((s) => s.state === "reconnecting")
        expect(drop?.reason).toMatch(/heartbeat timeout/)
      } finally {
        if (stopped) process.kill(pid, "SIGCONT")
        await socket.close()
      }
    },
    60_000
  )

  it("static bad token: closed for good after one attempt, frames() rejects with Unauthorized", async () => {
    const bad = mintToken({ sub: "intruder", roles: ["admin"] }, { secret: `${JWT_SECRET}-wrong` })
    const socket = connect(options({ token: bad, projects: [newProjectId()] }))
    const recorder = record(socket)
    const iterator = socket.frames()
    const rejected = iterator.next().then(() => undefined, (error: unknown) => error)
    await waitFor("closed", () => socket.state() === "closed", 5_000)
    await sleep(1_500)
    expect(recorder.states.filter((s) => s.state === "connecting")).toHaveLength(1)
    expect(recorder.states.filter((s) => s.state === "reconnecting")).toHaveLength(0)
    const last = recorder.states.at(-1)
    expect(last?.state).toBe("closed")
    expect(last?.reason).toMatch(/unauthori[sz]ed/i)
    expect(last?.reason).not.toContain(bad)
    const error = await rejected
    expect(error).toBeInstanceOf(DevTeamSocketError)
    expect(error instanceof DevTeamSocketError ? error.reason : undefined).toBe("Unauthorized")
    expect(error instanceof DevTeamSocketError ? error.message : "").not.toContain(bad)
    // a later iterator rejects straight away too
    await expect(socket.frames().next()).rejects.toBeInstanceOf(DevTeamSocketError)
    await socket.close()
  })

  it("token function: called before every attempt; a refreshed token gets through", async () => {
    const bad = mintToken({ sub: "expired", roles: ["admin"] }, { secret: `${JWT_SECRET}-old` })
    let calls = 0
    const socket = connect(options({
      token: async () => {
        calls++
        await sleep(1)
        return calls === 1 ? bad : admin
      },
      backoff: { initialDelayMs: 50, maxDelayMs: 200 }
    }))
    const recorder = record(socket)
    try {
      await waitFor("open", () => socket.state() === "open", 10_000)
      expect(calls).toBe(2)
      const names = recorder.states.map((s) => s.state)
      expect(names).toEqual(["connecting", "reconnecting", "connecting", "open"])
      expect(recorder.states[1]?.reason ?? "").toContain("401")
      expect(recorder.states[1]?.reason ?? "").not.toContain(bad)
    } finally {
      await socket.close()
    }
  })

  it(
    "an expiring token: the server closes with 1008 at expiry; a token function reconnects and resumes, a fixed one stops",
    async () => {
      const { frames, projectId } = await followExecution()
      // exp has a one-second resolution: at least a second of validity
      const shortLived = () => mintToken({ sub: "sdk-expiring", roles: ["admin"] }, { expiresInSeconds: 2 })
      let calls = 0
      const refreshing = connect(options({
        token: () => {
          calls++
          return shortLived()
        },
        projects: [{ projectId, since: 0 }],
        backoff: { initialDelayMs: 50, maxDelayMs: 200 }
      }))
      const fixed = connect(options({ token: shortLived(), projects: [{ projectId, since: 0 }] }))
      const recorder = record(refreshing)
      const fixedRecorder = record(fixed)
      try {
        await waitFor("a close at expiry", () => recorder.states.some((s) => s.code === 1008), 6_000)
        await waitFor("open again", () => recorder.states.at(-1)?.state === "open", 5_000)
        expect(calls).toBeGreaterThanOrEqual(2)
        expect(recorder.states.find((s) => s.code === 1008)?.reason).toContain("token expired")
        await waitFor("the fixed token's socket closed for good", () => fixed.state() === "closed", 6_000)
        expect(fixedRecorder.states.at(-1)?.reason ?? "").toContain("expired")
        // nothing lost or repeated on either side of the reconnect
        await sleep(200)
        expect(recorder.frames).toEqual(frames)
        expect(fixedRecorder.frames).toEqual(frames)
      } finally {
        await refreshing.close()
        await fixed.close()
      }
    },
    30_000
  )

  it("a token for another project: the server's error control frame is surfaced, no frames", async () => {
    const projectId = newProjectId()
    const other = mintToken({ sub: "someone", projects: ["other/project"] })
    const thrown: Array<unknown> = []
    const socket = connect(options({
      token: other,
      projects: [{ projectId, since: 0 }],
      onListenerError: (error) => thrown.push(error)
    }))
    // a listener that throws breaks nothing: the error is reported, the others still run
    socket.on("control", () => {
      throw new Error("listener bug")
    })
    const recorder = record(socket)
    try {
      await waitFor("an error frame", () => recorder.controls.some((c) => c.type === "error"), 10_000)
      const error = recorder.controls.find((c) => c.type === "error")
      expect(error?.type === "error" ? error.payload : undefined).toMatchObject({ projectId })
      expect(error?.type === "error" ? error.payload.message : "").toMatch(/not allowed/)
      await sleep(300)
      expect(recorder.frames).toEqual([])
      expect(socket.state()).toBe("open")
      expect(thrown.length).toBeGreaterThanOrEqual(1)
      expect(thrown[0]).toBeInstanceOf(Error)
    } finally {
      await socket.close()
    }
  })

  it("undecodable frames are reported as invalid-frame events; the connection stays up", async () => {
    // A raw `ws` server: the real service never sends undecodable frames, so this is the only
    // way to exercise the client's handling of them.
    const server = new WebSocketServer({ port: 0, host: "127.0.0.1" })
    await new Promise<void>((resolve) => server.once("listening", () => resolve()))
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    const projectId = "sdk/fake"
    const ts = new Date().toISOString()
    const valid = {
      type: "execution-update",
      seq: 7,
      ts,
      projectId,
      customerId: "sdk",
      executionId: null,
      payload: { taskId: null, status: "QUEUED", progress: 0, event: "ExecutionInitialized" }
    }
    let authorization: string | undefined
    server.on("connection", (peer, request) => {
      authorization = request.headers.authorization
      peer.on("message", (data) => {
        if (!data.toString().includes("subscribe")) return
        peer.send(JSON.stringify({ type: "subscribed", ts, projectId, payload: { projectId, lastSeq: 7 } }))
        peer.send("this is { not json")
        peer.send(JSON.stringify({ ...valid, seq: -3 }))
        peer.send(Buffer.from(JSON.stringify(valid)), { binary: true })
        peer.send(JSON.stringify(valid))
      })
    })
    const socket = connect(options({ baseUrl: `http://127.0.0.1:${port}`, projects: [{ projectId, since: 6 }] }))
    const recorder = record(socket)
    try {
      await waitFor("the valid frame", () => recorder.frames.length === 1, 10_000)
      expect(recorder.invalid).toHaveLength(3)
      expect(recorder.invalid[0]?.raw).toBe("this is { not json")
      expect(recorder.invalid[1]?.raw).toContain("\"seq\":-3")
      expect(recorder.invalid[1]?.message).toMatch(/seq/)
      expect(recorder.invalid[2]?.message).toMatch(/binary/)
      expect(recorder.frames[0]).toEqual(valid)
      expect(socket.lastSeq(projectId)).toBe(7)
      expect(socket.state()).toBe("open")
      expect(recorder.states.map((s) => s.state)).toEqual(["connecting", "open"])
      expect(authorization).toBe(`Bearer ${admin}`)
    } finally {
      await socket.close()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })

  it("backs off within the policy against a port nobody listens on, then connects once it listens", async () => {
    const port = await freePort()
    const policy = { initialDelayMs: 50, maxDelayMs: 400, factor: 2 }
    const socket = connect(options({ baseUrl: `http://127.0.0.1:${port}`, backoff: policy }))
    const recorder = record(socket)
    let server: WebSocketServer | undefined
    try {
      await waitFor("6 reconnects", () => recorder.states.filter((s) => s.state === "reconnecting").length >= 6, 10_000)
      const reconnecting = recorder.states.filter((s) => s.state === "reconnecting")
      reconnecting.forEach((s, i) => {
        expect(s.attempt).toBe(i + 1)
        const d = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** i)
        expect(s.delayMs).toBeGreaterThanOrEqual(d / 2)
        expect(s.delayMs).toBeLessThanOrEqual(d)
        expect(s.reason ?? "").toMatch(/ECONNREFUSED/)
      })
      // the time between consecutive attempts is at least the announced delay
      const connecting = recorder.states.filter((s) => s.state === "connecting")
      for (let i = 1; i < Math.min(connecting.length, reconnecting.length + 1); i++) {
        const gap = (connecting[i]?.at ?? 0) - (connecting[i - 1]?.at ?? 0)
        expect(gap).toBeGreaterThanOrEqual((reconnecting[i - 1]?.delayMs ?? 0) - 5)
      }
      // now something listens: the next attempt opens
      server = new WebSocketServer({ port, host: "127.0.0.1" })
      await waitFor("open", () => socket.state() === "open", 5_000)
    } finally {
      await socket.close()
      if (server !== undefined) {
        const s = server
        await new Promise<void>((resolve) => s.close(() => resolve()))
      }
    }
  })

  it("browser path: Node's global WebSocket (no WebSocket option), token in the query", async () => {
    const { frames, projectId } = await followExecution()
    const script = Path.join(scratch, "browser-client.mts")
    Fs.writeFileSync(
      script,
      `import { connect } from ${JSON.stringify(pathToFileURL(sdkSource).href)}
const [baseUrl, projectId] = process.argv.slice(2)
const token = process.env.DEVTEAM_TOKEN
const Original = globalThis.WebSocket
const urls = []
globalThis.WebSocket = class extends Original {
  constructor(url, protocols) {
    urls.push(new URL(String(url)))
    super(url, protocols)
  }
}
const socket = connect({ baseUrl, token, projects: [{ projectId, since: 0 }] })
const seqs = []
const states = []
socket.on("state", (s) => states.push(s.state))
for await (const frame of socket.frames()) {
  seqs.push(frame.seq)
  if (frame.type === "execution-completed") break
}
await socket.close()
console.log(JSON.stringify({
  seqs,
  states,
  globalWebSocket: typeof Original === "function",
  tokenInQuery: urls.map((u) => u.searchParams.get("token") === token),
  paths: urls.map((u) => u.pathname)
}))
`
    )
    const output = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        [
          "--experimental-websocket",
          "--no-warnings",
          "--conditions=source",
          "--import",
          "tsx",
          script,
          service.baseUrl,
          projectId
        ],
        { cwd: repoRoot, timeout: 60_000, env: { ...process.env, DEVTEAM_TOKEN: admin } },
        (error, stdout, stderr) => (error === null ? resolve(stdout) : reject(new Error(`${error.message}\n${stderr}`)))
      )
    )
    const line = output.trim().split("\n").at(-1) ?? ""
    expect(line).not.toContain(admin)
    const result: unknown = JSON.parse(line)
    const expected = seqsOf(frames)
    const upToCompleted = expected.slice(
      0,
      expected.indexOf(frames.find((f) => f.type === "execution-completed")?.seq ?? -1) + 1
    )
    expect(result).toEqual({
      seqs: upToCompleted,
      states: ["connecting", "open", "closed"],
      globalWebSocket: true,
      tokenInQuery: [true],
      paths: ["/ws/devteam"]
    })
  }, 90_000)

  it("Effect API: stream() replays a finished project; makeScoped closes with its scope", async () => {
    const { frames, projectId } = await followExecution()
    const collected = await Effect.runPromise(
      stream(options({ projects: [{ projectId, since: 0 }] })).pipe(
        Stream.takeUntil((frame) => frame.type === "execution-completed"),
        Stream.runCollect
      )
    )
    const got = Chunk.toReadonlyArray(collected)
    const lastIndex = frames.findIndex((f) => f.type === "execution-completed")
    expect(got).toEqual(frames.slice(0, lastIndex + 1))

    const states: Array<string> = []
    const socket = await Effect.runPromise(Effect.gen(function*() {
      const scope = yield* Scope.make()
      const socket = yield* Scope.extend(makeScoped(options({ projects: [projectId] })), scope)
      socket.on("state", (s) => states.push(s.state))
      yield* Effect.promise(() => waitFor("open", () => socket.state() === "open", 10_000))
      yield* Scope.close(scope, Exit.void)
      return socket
    }))
    expect(socket.state()).toBe("closed")
    expect(states).toEqual(["connecting", "open", "closed"])

    // a stream over a refused token fails with the typed error
    const refused = await Effect.runPromise(Effect.either(Stream.runDrain(stream(options({ token: "not-a-jwt" })))))
    expect(refused._tag).toBe("Left")
    expect(refused._tag === "Left" ? refused.left.reason : undefined).toBe("Unauthorized")
  }, 90_000)
})
