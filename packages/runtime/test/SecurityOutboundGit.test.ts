/**
 * Security (issue 20, finding 4 "server-side requests to anywhere"), with real git against real
 * listeners on 127.0.0.1:
 * - by default the service connects to no loopback address in any spelling: validate, prep and
 *   sync are refused before git runs, and the listener records no request;
 * - with REPO_ALLOW_PRIVATE the connection is pinned to the address that was checked (a name only
 *   the policy's resolver knows still reaches the server: git never resolves it again);
 * - a failed validation or clone does not echo what the remote answered (an HTTP body);
 * - validations against a tarpit run at most REPO_MAX_CONCURRENT at once and end after
 *   REPO_VALIDATE_TIMEOUT, leaving no git process behind.
 */
import { TaskId } from "@devteam/domain/Ids"
import * as GitWorkspace from "@devteam/runtime/GitWorkspace"
import type * as OutboundPolicy from "@devteam/runtime/OutboundPolicy"
import * as Redaction from "@devteam/runtime/Redaction"
import * as RepositoryProbe from "@devteam/runtime/RepositoryProbe"
import * as GitHttpServer from "@devteam/runtime/testing/GitHttpServer"
import { makeBareRemote, tempDir } from "@devteam/runtime/testing/GitRemote"
import type { WorkspaceConfig } from "@devteam/runtime/Workspace"
import * as WorkspaceLocks from "@devteam/runtime/WorkspaceLocks"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Option } from "effect"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Net from "node:net"
import * as Path from "node:path"

const config = (workspaceDir: string, overrides: Partial<WorkspaceConfig> = {}): WorkspaceConfig => ({
  workspaceDir,
  allowFile: false,
  gitUsername: Option.none(),
  credentials: [],
  authorName: "DevTeam Test Runner",
  authorEmail: "runner@test.invalid",
  commandTimeout: Duration.seconds(60),
  ...overrides
})

/** The workspace and the repository probe on one configuration, working under `root`/`dir`. */
const parts = (root: string, overrides: Partial<WorkspaceConfig> = {}, dir = "ws") =>
  Effect.gen(function*() {
    const settings = config(Path.join(root, dir), overrides)
    const workspace = yield* GitWorkspace.make(settings)
    const probe = yield* RepositoryProbe.make(settings)
    return { workspace, probe }
  }).pipe(Effect.provide([Redaction.layerWith([]), WorkspaceLocks.layer]))

/** A fresh root with a bare repository `name` served anonymously over HTTP on 127.0.0.1. */
const servedRepository = (name: string) =>
  Effect.gen(function*() {
    const root = yield* tempDir()
    makeBareRemote({ root: Path.join(root, "served"), name })
    const server = yield* GitHttpServer.make({
      root: Path.join(root, "served"),
      username: "x",
      password: "y",
      anonymous: true
    })
    return { root, server, port: server.baseUrl.split(":").pop() ?? "" }
  })

const id = TaskId.make("1.1.1")

/** Every git process whose command line mentions `text`. */
const gitProcesses = (text: string): Array<string> =>
  Fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p)).flatMap((pid) => {
    try {
      const line = Fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ")
      return line.includes("git") && line.includes(text) ? [line] : []
    } catch {
      return []
    }
  })

/** A plain HTTP server (no git) on 127.0.0.1 answering every request with `status` and `body`. */
const plainServer = (status: number, body: string) =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: Http.Server; readonly port: number; hits: number }>((resume) => {
      const state = { server: Http.createServer(), port: 0, hits: 0 }
      state.server.on("request", (_request, response) => {
        state.hits++
        response.writeHead(status, { "content-type": "text/plain" })
        response.end(body)
      })
      state.server.listen(0, "127.0.0.1", () => {
        const address = state.server.address()
        state.port = address !== null && typeof address === "object" ? address.port : 0
        resume(Effect.succeed(state))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
      })
  )

/** Accepts connections and never answers; counts the most open at once. */
const tarpit = Effect.acquireRelease(
  Effect.async<{ readonly server: Net.Server; readonly port: number; open: number; most: number; total: number }>(
    (resume) => {
      const sockets = new Set<Net.Socket>()
      const state = { server: Net.createServer(), port: 0, open: 0, most: 0, total: 0 }
      state.server.on("connection", (socket) => {
        sockets.add(socket)
        state.total++
        state.open++
        state.most = Math.max(state.most, state.open)
        socket.on("error", () => undefined)
        socket.on("close", () => {
          sockets.delete(socket)
          state.open--
        })
      })
      state.server.on("close", () => sockets.forEach((s) => s.destroy()))
      state.server.listen(0, "127.0.0.1", () => {
        const address = state.server.address()
        state.port = address !== null && typeof address === "object" ? address.port : 0
        resume(Effect.succeed(state))
      })
    }
  ),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
      server.emit("close")
    })
)

describe("Security: the service's own outbound connections (real git)", () => {
  it.scopedLive("by default no loopback spelling is reached: validate, prep and sync are refused, the listener sees nothing", () =>
    Effect.gen(function*() {
      const { port, root, server: listener } = yield* servedRepository("evil.git")
      const { probe, workspace } = yield* parts(root)
      const urls = [
        listener.url("evil.git"),
        `http://localhost:${port}/evil.git`,
        `http://2130706433:${port}/evil.git`,
        `http://0x7f.1:${port}/evil.git`,
        `http://0177.0.0.1:${port}/evil.git`,
        `http://[::ffff:127.0.0.1]:${port}/evil.git`,
        `http://[::1]:${port}/evil.git`,
        "http://169.254.169.254/latest/meta-data/iam",
        "http://[fd00:ec2::254]/latest"
      ]
      for (const repoUrl of urls) {
        const validated = yield* Effect.flip(probe.validate({ repoUrl }))
        assert.strictEqual(validated._tag, "InvalidRepoUrl", repoUrl)
        assert.include(validated.message, "not allowed", repoUrl)
        const prepared = yield* Effect.flip(workspace.prepare({ repoUrl, taskId: id, title: "t" }))
        assert.strictEqual(prepared._tag, "InvalidRepoUrl", repoUrl)
        assert.strictEqual((yield* Effect.flip(workspace.sync({ repoUrl })))._tag, "InvalidRepoUrl", repoUrl)
        assert.strictEqual((yield* Effect.flip(probe.defaultBranch({ repoUrl })))._tag, "InvalidRepoUrl", repoUrl)
      }
      assert.deepStrictEqual(listener.requests, [], "no request reached the listener")
      assert.isFalse(Fs.existsSync(Path.join(root, "ws")), "nothing was cloned or even started")

      // the allow-list: a host not on it is refused even when its address would be allowed
      const listed = yield* parts(root, {
        outbound: {
          allowedHosts: [{ host: "git.example.com", wildcard: false, port: Option.none() }],
          allowPrivate: true
        }
      }, "ws2")
      const offList = yield* Effect.flip(listed.probe.validate({ repoUrl: listener.url("evil.git") }))
      assert.include(offList.message, "REPO_ALLOWED_HOSTS")
      assert.deepStrictEqual(listener.requests, [])
    }))

  it.scopedLive("with REPO_ALLOW_PRIVATE git is pinned to the checked address (it never resolves the name again)", () =>
    Effect.gen(function*() {
      const { port, root, server } = yield* servedRepository("project.git")
      // `.test` names resolve nowhere: only the policy's resolver knows this one
      const lookups: Array<string> = []
      const resolve: OutboundPolicy.Resolver = (host) => {
        lookups.push(host)
        return host === "repo.devteam.test" ? Effect.succeed(["127.0.0.1"]) : Effect.fail(new Error("ENOTFOUND"))
      }
      const { probe, workspace } = yield* parts(root, { outbound: { allowedHosts: [], allowPrivate: true, resolve } })
      const repoUrl = `http://repo.devteam.test:${port}/project.git`
      const validated = yield* probe.validate({ repoUrl })
      assert.isTrue(validated.reachable, validated.message)
      const prepared = yield* workspace.prepare({ repoUrl, taskId: id, title: "t" })
      assert.isTrue(prepared.cloned)
      yield* workspace.sync({ repoUrl })
      assert.isAtLeast(server.requests.length, 3)
      assert.isTrue(lookups.every((h) => h === "repo.devteam.test"))
      // the pin is not stored: the work tree's remote is the name, as given
      const gitConfig = Fs.readFileSync(Path.join(prepared.repoPath, ".git", "config"), "utf8")
      assert.include(gitConfig, repoUrl)
      assert.notInclude(gitConfig, "curloptResolve")
    }))

  it.scopedLive("a failed validation or clone does not echo the remote's body", () =>
    Effect.gen(function*() {
      const root = yield* tempDir()
      const secretBody = "INTERNAL-ONLY: db password is hunter2\nsecond line of the body"
      const { probe, workspace } = yield* parts(root, { outbound: { allowedHosts: [], allowPrivate: true } })
      for (const status of [200, 404, 500]) {
        const plain = yield* plainServer(status, secretBody)
        const repoUrl = `http://127.0.0.1:${plain.port}/internal/admin`
        const validated = yield* probe.validate({ repoUrl })
        assert.isFalse(validated.reachable)
        assert.notInclude(validated.message ?? "", "hunter2", `status ${status}`)
        assert.notInclude(validated.message ?? "", "INTERNAL-ONLY", `status ${status}`)
        const cloned = yield* Effect.flip(workspace.prepare({ repoUrl, taskId: id, title: "t" }))
        assert.notInclude(cloned.message, "hunter2", `status ${status}`)
        assert.isAbove(plain.hits, 0, "git did ask the server")
      }
    }))

  it.scopedLive("validations against a tarpit: at most REPO_MAX_CONCURRENT at once, ended by REPO_VALIDATE_TIMEOUT, no git left", () =>
    Effect.gen(function*() {
      const root = yield* tempDir()
      const pit = yield* tarpit
      const { probe } = yield* parts(root, {
        outbound: { allowedHosts: [], allowPrivate: true },
        maxConcurrentRemote: 2,
        probeTimeout: Duration.seconds(2)
      })
      const repoUrl = `http://127.0.0.1:${pit.port}/slow/repo.git`
      const results = yield* Effect.forEach(
        Array.from({ length: 8 }, () => repoUrl),
        (url) => probe.validate({ repoUrl: url }),
        { concurrency: "unbounded" }
      )
      for (const result of results) {
        assert.isFalse(result.reachable)
        assert.include(result.message ?? "", "REPO_VALIDATE_TIMEOUT")
      }
      assert.isAtMost(pit.most, 2, "never more than REPO_MAX_CONCURRENT connections at once")
      assert.isAtLeast(pit.total, 1)
      for (let i = 0; i < 100 && gitProcesses(`127.0.0.1:${pit.port}`).length > 0; i++) yield* Effect.sleep("20 millis")
      assert.deepStrictEqual(gitProcesses(`127.0.0.1:${pit.port}`), [], "no git process outlives its validation")
    }))
})
