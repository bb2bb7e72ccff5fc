/**
 * Byte-exact tunnels through the sandbox's egress path, with a reader that stalls now and then:
 * the runner's egress proxy (CONNECT), on a unix socket as the docker sandbox's forwarder reaches
 * it and on a loopback port as the local sandbox's commands do, and the in-container forwarder
 * (run here with node, as in the container). A real server stands in for the outside host: it
 * sends a payload and closes at once, the way a server ends a download. A tunnel must deliver
 * every byte even though the far side is gone when the reader gets to the last ones: closing one
 * side of a tunnel when the other closes must not drop what is still buffered for the reader.
 *
 * The loss this guards against depends on timing (the server's end arriving while the last bytes
 * wait for the stalled reader): on a unix socket it hit about one download in three, so each case
 * runs several. Live clock: real sockets and timers.
 */
import { HostPort } from "@devteam/domain/Egress"
import * as EgressProxy from "@devteam/runtime/EgressProxy"
import { tempDir } from "@devteam/runtime/testing/GitRemote"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { forwarderScript } from "../src/internal/egressForwarder.js"

const PAYLOAD = randomBytes(16 * 1024 * 1024)
const DOWNLOADS = 12
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
 * Writes `request` on a connection to `to` (a loopback port or a unix socket), then reads it to its
 * end, pausing after every chunk (2 ms after every fifth, else until the next timer round): what
 * arrived after `headEnd` when given (a proxy's response head), else all of it.
 */
const stallingRead = (to: number | string, request: string, headEnd?: string) =>
  Effect.async<Buffer>((resume) => {
    const send = () => socket.write(request)
    const socket = typeof to === "string" ? net.connect(to, send) : net.connect(to, "127.0.0.1", send)
    const chunks: Array<Buffer> = []
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk)
      socket.pause()
      setTimeout(() => socket.resume(), chunks.length % 5 === 0 ? 2 : 0)
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

describe("egress tunnels deliver every byte to a stalling reader after the far side closed", () => {
  const throughProxy = (listenOn: "unix socket" | "loopback port") =>
    Effect.gen(function*() {
      const server = yield* downloadServer({ port: 0 })
      const dir = yield* tempDir("devteam-egress-proxy-")
      const proxy = yield* EgressProxy.make({
        listen: listenOn === "unix socket" ? { socketPath: path.join(dir, "egress.sock") } : { loopbackPort: 0 },
        hosts: { "download.test": "127.0.0.1" },
        sandbox: "tunnel-test",
        enforced: false
      })
      const target = new HostPort({ host: "download.test", port: portOf(server.server) })
      const window = yield* proxy.open({ step: "IMPLEMENT", allow: [target] })
      const to = "port" in proxy.address ? proxy.address.port : proxy.address.socketPath
      for (let i = 0; i < DOWNLOADS; i++) {
        const received = yield* stallingRead(
          to,
          `CONNECT download.test:${target.port} HTTP/1.1\r\nHost: download.test:${target.port}\r\n\r\n`,
          "\r\n\r\n"
        )
        assert.strictEqual(received.length, PAYLOAD.length, `download ${i + 1}`)
        assert.strictEqual(digest(received), digest(PAYLOAD))
      }
      const summary = yield* window.summary
      assert.strictEqual(summary.connections, DOWNLOADS)
      assert.strictEqual(summary.bytesDown, DOWNLOADS * PAYLOAD.length)
    })

  it.scopedLive(
    "the runner's proxy (CONNECT) on a unix socket: the bytes, and the window's count of them",
    () => throughProxy("unix socket"),
    { timeout: 90_000 }
  )

  it.scopedLive(
    "the runner's proxy (CONNECT) on a loopback port: the bytes, and the window's count of them",
    () => throughProxy("loopback port"),
    { timeout: 90_000 }
  )

  it.scopedLive("the in-container forwarder (TCP port → unix socket)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("devteam-forwarder-")
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
      for (let i = 0; i < DOWNLOADS; i++) {
        const received = yield* stallingRead(port, "GET / HTTP/1.1\r\n\r\n")
        assert.strictEqual(received.length, PAYLOAD.length, `download ${i + 1}`)
        assert.strictEqual(digest(received), digest(PAYLOAD))
      }
    }), { timeout: 90_000 })
})
