/**
 * The egress proxy of one sandbox, owned by the runner: the only way out for a sandbox's commands.
 *
 * - HTTP CONNECT (TLS tunnels) and plain-HTTP absolute-URI requests; nothing else (a request for
 *   a relative URI gets 400).
 * - Only the `host:port` pairs of the open window's allow-list pass; every other request gets a
 *   403 whose body names the destination, the step and how to allow it (the tool prints it, and
 *   the step's log shows it through `onConnection`). With no window open everything is refused.
 * - The proxy resolves names itself (the sandbox resolves none), through the system resolver or
 *   the fixed `hosts` map; the allow-list applies to the name the command asked for.
 * - Every connection is logged (structured: sandbox, step, target, allowed, bytes up/down,
 *   duration) and kept for the window's summary.
 *
 * Hand-written on Node's http server rather than a proxy library: what is needed is small (the
 * server parses CONNECT and absolute URIs natively; a tunnel is two piped sockets), and the
 * per-connection allow-list check and byte accounting are the whole point — the proxy packages
 * on npm are general forwarders whose hooks would carry all of that anyway.
 */
import type { EgressConnection as EgressConnectionType, HostPort } from "@devteam/domain/Egress"
import { EgressConnection, formatHostPort, parseHostPort, summarize } from "@devteam/domain/Egress"
import { SandboxUnavailable } from "@devteam/domain/Errors"
import type { Scope } from "effect"
import { Effect, Runtime } from "effect"
import * as fs from "node:fs/promises"
import * as http from "node:http"
import * as net from "node:net"
import { readyPath } from "./internal/egressForwarder.js"
import type { EgressWindow, EgressWindowOptions } from "./Sandbox.js"

export type Listen =
  | { readonly socketPath: string }
  | { readonly loopbackPort: number }

export interface EgressProxyOptions {
  readonly listen: Listen
  /** Fixed addresses for names (not resolved); the allow-list still applies to the name. */
  readonly hosts?: Readonly<Record<string, string>>
  /** For the logs: which sandbox this proxy serves. */
  readonly sandbox: string
  /** Whether the sandbox cannot bypass the proxy (goes into every summary). */
  readonly enforced: boolean
  /** The in-container forwarder's ready report (its body; see internal/egressForwarder). */
  readonly onForwarderReady?: (body: string) => void
}

export interface EgressProxy {
  /** The TCP port (loopback) or socket path it listens on. */
  readonly address: { readonly port: number } | { readonly socketPath: string }
  readonly open: (options: EgressWindowOptions) => Effect.Effect<EgressWindow, never, Scope.Scope>
}

interface WindowState {
  readonly step: string
  readonly allow: ReadonlySet<string>
  readonly allowList: ReadonlyArray<HostPort>
  readonly connections: Array<EgressConnectionType>
  readonly sockets: Set<net.Socket>
  readonly onConnection: EgressWindowOptions["onConnection"]
  /** Allowed connections not yet recorded, and who waits for there to be none. */
  pending: number
  readonly idle: Array<() => void>
}

const hopByHop = new Set([
  "connection",
  "keep-alive",
  "proxy-authorization",
  "proxy-authenticate",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade"
])

const stripHopByHop = (headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders => {
  const out: http.OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(headers)) {
    if (!hopByHop.has(name) && value !== undefined) out[name] = value
  }
  return out
}

const allowHint = (step: string): string =>
  step === "IMPLEMENT" || step === "VERIFY"
    ? `the operator can allow it with EGRESS_ALLOW_${step}=host:port (or list it in EGRESS_PROJECT_ALLOW so that a project can add it)`
    : "commands of this step may not reach any host"

/** The 403 text a refused command sees. */
export const refusalText = (target: string, step: string | undefined, allow: ReadonlyArray<HostPort>): string =>
  step === undefined
    ? `devteam egress proxy: ${target} refused: no step of this sandbox may reach the network right now\n`
    : `devteam egress proxy: ${target} is not on the allow-list of step ${step} (allowed: ${
      allow.length === 0 ? "nothing" : allow.map(formatHostPort).join(", ")
    }); ${allowHint(step)}\n`

const connectTimeoutMs = 30_000
const readyBodyLimit = 4096

const messageOf = (error: unknown): string =>
  error instanceof Error ? ("code" in error && typeof error.code === "string" ? error.code : error.message) : String(
    error
  )

/** Starts the proxy; it stops (and every connection through it is closed) when the scope closes. */
export const make = (options: EgressProxyOptions): Effect.Effect<EgressProxy, SandboxUnavailable, Scope.Scope> =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<never>()
    const runFork = Runtime.runFork(runtime)
    let current: WindowState | undefined
    const allSockets = new Set<net.Socket>()

    const track = (socket: net.Socket, window: WindowState | undefined) => {
      allSockets.add(socket)
      window?.sockets.add(socket)
      socket.once("close", () => {
        allSockets.delete(socket)
        window?.sockets.delete(socket)
      })
    }

    /** Records a finished connection: window summary, structured log, the step's callback. */
    const record = (window: WindowState | undefined, c: EgressConnectionType) => {
      if (window !== undefined) {
        window.connections.push(c)
        if (c.allowed) window.pending -= 1
        if (window.pending === 0) { for (const wake of window.idle.splice(0)) wake() }
      }
      const fields = {
        sandbox: options.sandbox,
        step: c.step,
        target: c.target,
        kind: c.kind,
        allowed: c.allowed,
        bytesUp: c.bytesUp,
        bytesDown: c.bytesDown,
        duration: c.duration,
        ...(c.error === undefined ? {} : { error: c.error })
      }
      const log = c.allowed
        ? Effect.logInfo(`egress: ${c.kind} ${c.target}${c.error === undefined ? "" : ` failed (${c.error})`}`)
        : Effect.logWarning(`egress: refused ${c.kind} ${c.target} (step ${c.step})`)
      runFork(
        log.pipe(
          Effect.annotateLogs(fields),
          Effect.zipRight(window?.onConnection === undefined ? Effect.void : window.onConnection(c)),
          Effect.ignore
        )
      )
    }

    const isAllowed = (window: WindowState | undefined, target: HostPort): boolean =>
      window !== undefined && window.allow.has(formatHostPort(target))

    const addressOf = (host: string): string => options.hosts?.[host] ?? host

    const onConnect = (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
      const startedAt = performance.now()
      const window = current
      const step = window?.step ?? "none"
      track(client, window)
      client.on("error", () => client.destroy())
      const parsed = parseHostPort(req.url ?? "", 0)
      if (typeof parsed === "string" || parsed.port === 0) {
        client.end(
          "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nCONNECT needs host:port\n"
        )
        return
      }
      const target = formatHostPort(parsed)
      if (!isAllowed(window, parsed)) {
        const body = refusalText(target, window?.step, window?.allowList ?? [])
        client.end(
          `HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${
            Buffer.byteLength(body)
          }\r\nConnection: close\r\n\r\n${body}`
        )
        record(
          window,
          new EgressConnection({ step, target, kind: "CONNECT", allowed: false, bytesUp: 0, bytesDown: 0, duration: 0 })
        )
        return
      }
      if (window !== undefined) window.pending += 1
      let bytesUp = head.length
      let bytesDown = 0
      let error: string | undefined
      let established = false
      const upstream = net.connect({ host: addressOf(parsed.host), port: parsed.port })
      // A destination that never answers fails the tunnel after a while (then idle tunnels are fine).
      upstream.setTimeout(
        connectTimeoutMs,
        () => upstream.destroy(new Error(`no answer within ${connectTimeoutMs} ms`))
      )
      track(upstream, window)
      // Recorded once both sockets have closed: the tunnel is over only when its last bytes are out.
      let openSockets = 2
      const closed = () => {
        openSockets -= 1
        if (openSockets > 0) return
        record(
          window,
          new EgressConnection({
            step,
            target,
            kind: "CONNECT",
            allowed: true,
            bytesUp,
            bytesDown,
            duration: Math.round(performance.now() - startedAt),
            ...(error === undefined ? {} : { error })
          })
        )
      }
      upstream.once("connect", () => {
        established = true
        upstream.setTimeout(0)
        client.write("HTTP/1.1 200 Connection Established\r\n\r\n")
        if (head.length > 0) upstream.write(head)
        client.on("data", (b: Buffer) => {
          bytesUp += b.length
        })
        upstream.on("data", (b: Buffer) => {
          bytesDown += b.length
        })
        // each side's end is passed on once what was read from it is written (pipe ends the other)
        client.pipe(upstream)
        upstream.pipe(client)
      })
      upstream.on("error", (e) => {
        error = messageOf(e)
        if (!established) {
          const body = `devteam egress proxy: cannot reach ${target}: ${error}\n`
          client.end(
            `HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${
              Buffer.byteLength(body)
            }\r\nConnection: close\r\n\r\n${body}`
          )
        }
      })
      // A side that closed after its end has had the end passed on: the other side still sends
      // what is buffered for it (the last bytes of a download, when the server closes at once)
      // and closes when its peer does. Destroying it here dropped those bytes. A side that closed
      // without its end (reset, an error, destroyed) takes the other down: nothing more will come.
      upstream.on("close", () => {
        if (established && !upstream.readableEnded) client.destroy()
        closed()
      })
      client.on("close", () => {
        if (!established || !client.readableEnded) upstream.destroy()
        closed()
      })
    }

    /** The forwarder's ready report: a relative URI, so it can never be a proxied request. */
    const onReady = (req: http.IncomingMessage, res: http.ServerResponse, notify: (body: string) => void) => {
      let body = ""
      req.setEncoding("utf8")
      req.on("data", (chunk: string) => {
        body += chunk
        if (body.length > readyBodyLimit) req.destroy()
      })
      req.on("end", () => {
        notify(body)
        res.writeHead(204)
        res.end()
      })
    }

    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (req.method === "POST" && req.url === readyPath && options.onForwarderReady !== undefined) {
        return onReady(req, res, options.onForwarderReady)
      }
      const startedAt = performance.now()
      const window = current
      const step = window?.step ?? "none"
      const url = URL.canParse(req.url ?? "") ? new URL(req.url ?? "") : undefined
      if (url === undefined || url.protocol !== "http:") {
        res.writeHead(400, { "content-type": "text/plain" })
        res.end("devteam egress proxy: only CONNECT host:port and absolute http:// URIs are proxied\n")
        return
      }
      const host = url.hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase()
      const port = url.port === "" ? 80 : Number(url.port)
      const target = formatHostPort({ host, port })
      const parsed = parseHostPort(target, 80)
      if (typeof parsed === "string" || !isAllowed(window, parsed)) {
        const body = refusalText(target, window?.step, window?.allowList ?? [])
        res.writeHead(403, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(body) })
        res.end(body)
        record(
          window,
          new EgressConnection({ step, target, kind: "HTTP", allowed: false, bytesUp: 0, bytesDown: 0, duration: 0 })
        )
        return
      }
      if (window !== undefined) window.pending += 1
      let bytesUp = 0
      let bytesDown = 0
      let error: string | undefined
      let done = false
      const finish = () => {
        if (done) return
        done = true
        record(
          window,
          new EgressConnection({
            step,
            target,
            kind: "HTTP",
            allowed: true,
            bytesUp,
            bytesDown,
            duration: Math.round(performance.now() - startedAt),
            ...(error === undefined ? {} : { error })
          })
        )
      }
      const upstream = http.request({
        host: addressOf(host),
        port,
        method: req.method ?? "GET",
        path: `${url.pathname}${url.search}`,
        headers: { ...stripHopByHop(req.headers), host: url.host },
        agent: false
      })
      upstream.on("socket", (s) => track(s, window))
      req.on("data", (b: Buffer) => {
        bytesUp += b.length
      })
      req.pipe(upstream)
      upstream.on("response", (up) => {
        res.writeHead(up.statusCode ?? 502, up.statusMessage, stripHopByHop(up.headers))
        up.on("data", (b: Buffer) => {
          bytesDown += b.length
        })
        up.pipe(res)
        up.on("end", finish)
        up.on("error", (e) => {
          error = messageOf(e)
          res.destroy()
          finish()
        })
      })
      upstream.on("error", (e) => {
        error = messageOf(e)
        if (!res.headersSent) {
          const body = `devteam egress proxy: cannot reach ${target}: ${error}\n`
          res.writeHead(502, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(body) })
          res.end(body)
        } else {
          res.destroy()
        }
        finish()
      })
      res.on("close", () => {
        if (!done) {
          upstream.destroy()
          error ??= "closed by the client"
          finish()
        }
      })
    }

    const server = http.createServer(onRequest)
    server.on("connect", onConnect)
    server.on("connection", (socket: net.Socket) => track(socket, undefined))
    server.on("clientError", (_error, socket) => socket.destroy())

    const listen = options.listen
    const address = yield* Effect.acquireRelease(
      Effect.async<{ readonly port: number } | { readonly socketPath: string }, SandboxUnavailable>((resume) => {
        const fail = (e: unknown) =>
          resume(Effect.fail(new SandboxUnavailable({ message: `egress proxy: cannot listen: ${messageOf(e)}` })))
        const start = async () => {
          if ("socketPath" in listen) await fs.rm(listen.socketPath, { force: true })
          server.once("error", fail)
          const onListening = () => {
            server.off("error", fail)
            if ("socketPath" in listen) {
              // The sandbox's user (another uid) must be able to connect.
              fs.chmod(listen.socketPath, 0o666).then(
                () => resume(Effect.succeed({ socketPath: listen.socketPath })),
                fail
              )
            } else {
              const a = server.address()
              resume(Effect.succeed({ port: typeof a === "object" && a !== null ? a.port : 0 }))
            }
          }
          if ("socketPath" in listen) server.listen(listen.socketPath, onListening)
          else server.listen(listen.loopbackPort, "127.0.0.1", onListening)
        }
        start().catch(fail)
      }),
      () =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
          for (const s of allSockets) s.destroy()
          server.closeAllConnections()
        }).pipe(
          Effect.zipRight(
            "socketPath" in listen ? Effect.promise(() => fs.rm(listen.socketPath, { force: true })) : Effect.void
          )
        )
    )

    const open = (window: EgressWindowOptions): Effect.Effect<EgressWindow, never, Scope.Scope> =>
      Effect.acquireRelease(
        Effect.sync(() => {
          const state: WindowState = {
            step: window.step,
            allow: new Set(window.allow.map(formatHostPort)),
            allowList: window.allow,
            connections: [],
            sockets: new Set(),
            onConnection: window.onConnection,
            pending: 0,
            idle: []
          }
          current = state
          return state
        }),
        (state) =>
          Effect.sync(() => {
            if (current === state) current = undefined
            // What was opened for this step does not outlive it (a kept-alive tunnel).
            for (const s of state.sockets) s.destroy()
          })
      ).pipe(
        Effect.map((state) => ({
          summary: Effect.gen(function*() {
            // The step's commands have ended; their last connections close a moment later. Wait
            // for them (bounded), then close what is left so that every connection is counted.
            const idle = Effect.async<void>((resume) => {
              if (state.pending === 0) resume(Effect.void)
              else state.idle.push(() => resume(Effect.void))
            })
            const settled = yield* idle.pipe(Effect.timeoutOption("2 seconds"))
            if (settled._tag === "None") {
              for (const s of state.sockets) s.destroy()
              yield* idle.pipe(Effect.timeoutOption("2 seconds"))
            }
            return summarize(state.step, state.allowList, options.enforced, state.connections)
          })
        }))
      )

    return { address, open }
  })
