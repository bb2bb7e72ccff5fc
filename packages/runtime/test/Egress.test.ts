/**
 * Egress through the runner's proxy, on the real Docker engine (network none, no bridge) with the
 * locally built image. Two real HTTP servers on this host stand in for the outside world (no
 * internet here): `allowed.test` (on the step's allow-list) and `other.test` (off it), both mapped
 * to 127.0.0.1 by the proxy's host map. A command in the sandbox reaches the first through the
 * proxy (plain HTTP and CONNECT), gets the proxy's refusal for the second (which records no
 * connection), and cannot reach anything without the proxy. The local sandbox gets the same
 * variables and proxy, unenforced.
 */
import type { EgressConnection } from "@devteam/domain/Egress"
import { HostPort } from "@devteam/domain/Egress"
import * as DockerSandbox from "@devteam/runtime/DockerSandbox"
import { Sandbox } from "@devteam/runtime/Sandbox"
import type { SandboxHandle } from "@devteam/runtime/Sandbox"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Exit, Layer, Scope } from "effect"
import * as fs from "node:fs/promises"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import {
  dockerSettings,
  ensureImage,
  localLayer,
  newIds,
  redactor,
  tempWorkspace,
  uniqueOwner
} from "./fixtures/sandboxes.js"

/** A real HTTP server on 127.0.0.1 that counts the TCP connections it accepted. */
const countingServer = (name: string) =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: http.Server; readonly port: number; readonly connections: () => number }>(
      (resume) => {
        let connections = 0
        const server = http.createServer((_req, res) => {
          const body = Buffer.from(`hello from ${name}`)
          res.writeHead(200, { "content-type": "text/plain", "content-length": body.length })
          res.end(body)
        })
        server.on("connection", () => {
          connections += 1
        })
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          resume(Effect.succeed({
            server,
            port: typeof address === "object" && address !== null ? address.port : 0,
            connections: () => connections
          }))
        })
      }
    ),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

/**
 * A client run inside the sandbox: `http TARGET PATH` sends an absolute-URI request to the proxy
 * named by HTTP_PROXY; `connect TARGET PATH` opens a CONNECT tunnel and sends a request through it.
 * Prints `STATUS BODY` (or `error CODE`).
 */
const client = `
const http = require("http")
const proxy = new URL(process.env.HTTP_PROXY)
const [mode, target, path] = process.argv.slice(1)
const fail = (e) => { console.log("error " + (e.code || e.message)); process.exitCode = 1 }
if (mode === "http") {
  http.get({ host: proxy.hostname, port: proxy.port, path: "http://" + target + path, headers: { host: target } }, (res) => {
    let body = ""
    res.on("data", (d) => { body += d })
    res.on("end", () => console.log(res.statusCode + " " + body.trim()))
  }).on("error", fail)
} else {
  const req = http.request({ host: proxy.hostname, port: proxy.port, method: "CONNECT", path: target })
  req.on("connect", (res, socket, head) => {
    let data = head.toString()
    socket.on("data", (d) => { data += d })
    socket.on("end", () => {
      if (res.statusCode !== 200) console.log(res.statusCode + " " + data.trim())
      else console.log("200 " + data.split("\\r\\n\\r\\n").slice(1).join("").trim())
    })
    if (res.statusCode === 200) socket.write("GET " + path + " HTTP/1.1\\r\\nHost: " + target + "\\r\\nConnection: close\\r\\n\\r\\n")
  })
  req.on("error", fail)
  req.end()
}
`

const run = (handle: SandboxHandle, mode: "http" | "connect", target: string, path = "/hello") =>
  handle.exec({ command: ["node", "-e", client, mode, target, path], timeout: "30 seconds" })

const hostHosts = { "allowed.test": "127.0.0.1", "other.test": "127.0.0.1" }

const dockerWithHosts = Layer.unwrapEffect(Effect.sync(() => {
  ensureImage()
  return DockerSandbox.layerWith({ ...dockerSettings(uniqueOwner("egress")), egressHosts: hostHosts }).pipe(
    Layer.provide(redactor)
  )
}))

const acquire = Effect.gen(function*() {
  const sandbox = yield* Sandbox
  const workspacePath = yield* tempWorkspace()
  return yield* sandbox.acquire({ ...newIds(), workspacePath })
})

/** This host's first non-loopback IPv4 address, if it has one. */
const externalAddress = Object.values(os.networkInterfaces()).flat().find((i) =>
  i !== undefined && i.family === "IPv4" && !i.internal
)?.address

describe("Egress (docker, real engine)", () => {
  layer(dockerWithHosts, { timeout: "180 seconds", excludeTestServices: true })((it) => {
    it.scoped("an allowed host is reached through the proxy (plain HTTP and CONNECT); another is refused and sees no connection", () =>
      Effect.gen(function*() {
        const allowed = yield* countingServer("allowed")
        const other = yield* countingServer("other")
        const handle = yield* acquire
        assert.isTrue(handle.egress.enforced)
        assert.strictEqual(handle.egress.proxyUrl, "http://127.0.0.1:3128")
        const seen: Array<EgressConnection> = []
        const windowScope = yield* Scope.make()
        const window = yield* handle.egress.open({
          step: "IMPLEMENT",
          allow: [new HostPort({ host: "allowed.test", port: allowed.port })],
          onConnection: (c) => Effect.sync(() => seen.push(c))
        }).pipe(Scope.extend(windowScope))

        const plain = yield* run(handle, "http", `allowed.test:${allowed.port}`)
        assert.strictEqual(plain.stdout, "200 hello from allowed", plain.stderr)
        const tunnel = yield* run(handle, "connect", `allowed.test:${allowed.port}`)
        assert.strictEqual(tunnel.stdout, "200 hello from allowed", tunnel.stderr)
        assert.strictEqual(allowed.connections(), 2)

        const refusedPlain = yield* run(handle, "http", `other.test:${other.port}`)
        const refusedTunnel = yield* run(handle, "connect", `other.test:${other.port}`)
        for (const refused of [refusedPlain, refusedTunnel]) {
          assert.match(
            refused.stdout,
            new RegExp(
              `^403 devteam egress proxy: other\\.test:${other.port} is not on the allow-list of step IMPLEMENT`
            )
          )
          assert.include(refused.stdout, `allowed: allowed.test:${allowed.port}`)
          assert.include(refused.stdout, "EGRESS_ALLOW_IMPLEMENT")
        }
        assert.strictEqual(other.connections(), 0, "the refused server saw no connection")

        const summary = yield* window.summary
        assert.strictEqual(summary.step, "IMPLEMENT")
        assert.isTrue(summary.enforced)
        assert.deepStrictEqual(summary.allowList, [`allowed.test:${allowed.port}`])
        assert.strictEqual(summary.connections, 4)
        assert.strictEqual(summary.denied, 2)
        const byTarget = new Map(summary.targets.map((t) => [`${t.allowed}:${t.target}`, t]))
        const reached = byTarget.get(`true:allowed.test:${allowed.port}`)
        assert.strictEqual(reached?.connections, 2)
        assert.strictEqual(reached?.failed, 0)
        assert.isAbove(reached?.bytesDown ?? 0, 2 * "hello from allowed".length)
        assert.isAbove(reached?.bytesUp ?? 0, 0)
        assert.strictEqual(byTarget.get(`false:other.test:${other.port}`)?.connections, 2)
        // the step's log hears of every connection, the refused ones too
        assert.strictEqual(seen.filter((c) => !c.allowed).length, 2)
        assert.strictEqual(seen.filter((c) => c.allowed).length, 2)

        // the window closes: the same host is refused again
        yield* Scope.close(windowScope, Exit.void)
        const closed = yield* run(handle, "http", `allowed.test:${allowed.port}`)
        assert.match(closed.stdout, /^403 devteam egress proxy: allowed\.test:\d+ refused: no step of this sandbox/)
        assert.strictEqual(allowed.connections(), 2)
      }))

    it.scoped("without the proxy nothing is reachable: no route, no name resolution", () =>
      Effect.gen(function*() {
        const allowed = yield* countingServer("allowed")
        const handle = yield* acquire
        yield* handle.egress.open({
          step: "VERIFY",
          allow: [new HostPort({ host: "allowed.test", port: allowed.port })]
        })
        const targets = ["1.1.1.1", ...(externalAddress === undefined ? [] : [externalAddress])]
        for (const address of targets) {
          const direct = yield* handle.exec({
            command: [
              "node",
              "-e",
              `require('net').connect(${allowed.port}, '${address}').on('connect', () => { console.log('connected'); process.exit(0) })` +
              ".on('error', (e) => { console.log(e.code); process.exit(1) })"
            ],
            timeout: "20 seconds"
          })
          assert.strictEqual(direct.stdout, "ENETUNREACH", `direct connection to ${address}`)
        }
        const lookup = yield* handle.exec({
          command: [
            "node",
            "-e",
            "require('dns').lookup('registry.npmjs.org', (e) => { console.log(e ? e.code : 'resolved') })"
          ],
          timeout: "20 seconds"
        })
        assert.notStrictEqual(lookup.stdout, "resolved")
        assert.strictEqual(allowed.connections(), 0)
      }))

    it.effect("the proxy's socket directory exists while the sandbox does and is removed with it", () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const sandbox = yield* Sandbox
        const workspacePath = yield* tempWorkspace().pipe(Scope.extend(scope))
        const ids = newIds()
        yield* sandbox.acquire({ ...ids, workspacePath }).pipe(Scope.extend(scope))
        const dir = DockerSandbox.egressDirOf(
          {},
          DockerSandbox.containerName(ids.projectId, ids.executionId, workspacePath)
        )
        const socket = yield* Effect.promise(() => fs.stat(path.join(dir, "egress.sock")))
        assert.isTrue(socket.isSocket())
        assert.strictEqual(socket.mode & 0o777, 0o666, "connectable by the sandbox's user")
        yield* Scope.close(scope, Exit.void)
        const gone = yield* Effect.promise(() => fs.stat(dir).then(() => false, () => true))
        assert.isTrue(gone, `${dir} removed`)
      }))

    it.scoped("every command gets the proxy variables; the egress directory is read-only", () =>
      Effect.gen(function*() {
        const handle = yield* acquire
        const write = yield* handle.exec({
          command: ["sh", "-c", "echo x > /run/devteam-egress/forward.cjs"],
          timeout: "20 seconds"
        })
        assert.notStrictEqual(write.exitCode, 0)
        const env = yield* handle.exec({
          command: ["sh", "-c", "echo $HTTPS_PROXY $no_proxy $npm_config_https_proxy"],
          timeout: "20 seconds"
        })
        assert.strictEqual(env.stdout, "http://127.0.0.1:3128 localhost,127.0.0.1 http://127.0.0.1:3128")
      }))
  })
})

describe("Egress (local sandbox)", () => {
  layer(localLayer, { timeout: "60 seconds", excludeTestServices: true })((it) => {
    it.scoped("sets the same variables to its loopback proxy, which applies the allow-list but is not enforced", () =>
      Effect.gen(function*() {
        const allowed = yield* countingServer("allowed")
        const handle = yield* acquire
        assert.isFalse(handle.egress.enforced)
        assert.match(handle.egress.proxyUrl, /^http:\/\/127\.0\.0\.1:\d+$/)
        const window = yield* handle.egress.open({
          step: "VERIFY",
          allow: [new HostPort({ host: "127.0.0.1", port: allowed.port })]
        })
        const ok = yield* run(handle, "http", `127.0.0.1:${allowed.port}`)
        assert.strictEqual(ok.stdout, "200 hello from allowed")
        const refused = yield* run(handle, "connect", `localhost:${allowed.port}`)
        assert.match(refused.stdout, /^403 .*localhost:\d+ is not on the allow-list of step VERIFY/)
        const summary = yield* window.summary
        assert.isFalse(summary.enforced)
        assert.strictEqual(summary.connections, 2)
        assert.strictEqual(summary.denied, 1)
        const health = yield* Effect.flatMap(Sandbox, (s) => s.health())
        assert.isFalse(health.egressEnforced)
        assert.include(health.message, "not enforced")
      }))
  })
})
