/**
 * Byte-exact tunnels through the sandbox's egress path, with a slow reader: the runner's egress
 * proxy (CONNECT) and the in-container forwarder (run here with node, as in the container). A
 * real TCP server stands in for the outside host: it sends a payload and closes at once, the way
 * a server ends a download. A tunnel must deliver every byte even though the far side is long
 * gone when the reader gets to the last ones: closing one side of a tunnel when the other closes
 * must not drop what is still buffered for the reader. Live clock: real sockets and timers.
 */
import { HostPort } from "@devteam/domain/Egress"
import * as EgressProxy from "@devteam/runtime/EgressProxy"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { forwarderScript } from "../src/internal/egressForwarder.js"

const PAYLOAD = randomBytes(3 * 1024 * 1024)
const digest = (b: Buffer) => createHash("sha256").update(b).digest("hex")

/** A server that writes `PAYLOAD` to each connection and ends it (on a port, or a unix socket). */
const downloadServer = (listen: { readonly port: 0 } | { readonly path: string }) =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: net.Server; readonly sockets: Set<net.Socket> }>((resume) => {
      const sockets = new Set<net.Socket>()
      const server = net.createServer((socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
        socket.on("error", () => undefined)
        socket.end(PAYLOAD)
      })
      const ready = () => resume(Effect.succeed({ server, sockets }))
      if ("path" in listen) server.listen(listen.path, ready)
      else server.listen(0, "127.0.0.1", ready)
    }),
    ({ server, sockets }) =>
      Effect.sync(() => {
        server.close()
        for (const socket of sockets) socket.destroy()
      })
  )

/** A port nothing listens on now (the forwarder takes its port as an argument). */
const freePort = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = portOf(server)
    server.close(() => resume(Effect.succeed(port)))
  })
})

const portOf = (server: net.Server) => {
  const address = server.address()
  return typeof address === "object" && address !== null ? address.port : 0
}

/**
 * Writes `request` on a connection to `port`, then reads it to its end slowly (a pause after
 * every chunk): what arrived after `headEnd` when given (a proxy's response head), else all of it.
 */
const slowRead = (port: number, request: string, headEnd?: string) =>
  Effect.async<Buffer>((resume) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(request))
    const chunks: Array<Buffer> = []
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk)
      socket.pause()
      setTimeout(() => socket.resume(), 15)
    })
    socket.on("error", (e) => resume(Effect.die(e)))
    socket.on("close", () => {
      const all = Buffer.concat(chunks)
      if (headEnd === undefined) return resume(Effect.succeed(all))
      const at = all.indexOf(headEnd)
      resume(
        at < 0
          ? Effect.dieMessage(`no response head: ${all.subarray(0, 200).toString()}`)
          : Effect.succeed(all.subarray(at + headEnd.length))
      )
    })
  }).pipe(Effect.timeout("60 seconds"))

describe("egress tunnels deliver every byte to a slow reader after the far side closed", () => {
  it.scopedLive(
    "the runner's proxy (CONNECT): the bytes, and the window's count of them",
    () =>
      Effect.gen(function*() {
        const server = yield* downloadServer({ port: 0 })
        const proxy = yield* EgressProxy.make({
          listen: { loopbackPort: 0 },
          hosts: { "download.test": "127.0.0.1" },
          sandbox: "tunnel-test",
          enforced: false
        })
        const target = new HostPort({ host: "download.test", port: portOf(server.server) })
        const window = yield* proxy.open({ step: "IMPLEMENT", allow: [target] })
        const proxyPort = "port" in proxy.address ? proxy.address.port : 0
        const received = yield* slowRead(
          proxyPort,
          `CONNECT download.test:${target.port} HTTP/1.1\r\nHost: download.test:${target.port}\r\n\r\n`,
          "\r\n\r\n"
        )
        assert.strictEqual(received.length, PAYLOAD.length)
        assert.strictEqual(digest(received), digest(PAYLOAD))
        const summary = yield* window.summary
        assert.strictEqual(summary.connections, 1)
        assert.strictEqual(summary.bytesDown, PAYLOAD.length)
      }),
    { timeout: 90_000 }
  )

  it.scopedLive("the in-container forwarder (TCP port → unix socket)", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "devteam-forwarder-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const socketPath = path.join(dir, "egress.sock")
      // the forwarder's ready report arrives on the same socket: answered like any connection
      yield* downloadServer({ path: socketPath })
      const script = path.join(dir, "forward.cjs")
      fs.writeFileSync(script, forwarderScript)
      const port = yield* freePort
      const child = yield* Effect.acquireRelease(
        Effect.sync(() =>
          spawn(process.execPath, [script, String(port), socketPath, path.join(dir, "tmp")], { stdio: "ignore" })
        ),
        (c) => Effect.sync(() => c.kill("SIGTERM"))
      )
      // listening once the port answers
      yield* Effect.async<void>((resume) => {
        const attempt = () => {
          const probe = net.connect(port, "127.0.0.1", () => {
            probe.destroy()
            resume(Effect.void)
          })
          probe.on("error", () => setTimeout(attempt, 50))
        }
        attempt()
      }).pipe(Effect.timeout("20 seconds"))
      assert.isNull(child.exitCode)
      const received = yield* slowRead(port, "GET / HTTP/1.1\r\n\r\n")
      assert.strictEqual(received.length, PAYLOAD.length)
      assert.strictEqual(digest(received), digest(PAYLOAD))
    }), { timeout: 90_000 })
})
