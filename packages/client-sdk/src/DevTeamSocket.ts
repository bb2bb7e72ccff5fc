/**
 * A reconnecting client for `/ws/devteam` that delivers every journal frame exactly once, in seq
 * order, across any number of reconnects.
 *
 * Per project it keeps a cursor (the last journal seq delivered). Every (re)connect subscribes
 * again with `since` = cursor, so the server replays exactly what was missed; frames at or below
 * the cursor are dropped. Reconnects follow an exponential backoff `Schedule` with equal jitter
 * (`Backoff.schedule`);
 * the attempt counter resets once a connection has opened and received its first message. A
 * client-side `ping` every `heartbeatIntervalMs` detects half-open connections (nothing received
 * for two intervals → the connection is dropped and re-established).
 *
 * Works in Node (the `ws` package, loaded lazily; the token goes in an `Authorization` header)
 * and in browsers (the global `WebSocket`; the token goes in the `token` query parameter, since
 * browsers cannot set headers).
 *
 * Unauthorised: with a static token, an HTTP 401 before the upgrade (seen with `ws` only) or a
 * close with 1008 ends the socket for good (state `closed`, iterators reject with
 * `DevTeamSocketError("Unauthorized")`). With a token function the socket keeps retrying with
 * backoff, calling the function before every attempt (the token may have been refreshed).
 * Browsers cannot see the status of a refused upgrade: there a 401 looks like any other failed
 * connection and is retried with backoff.
 *
 * The token never appears in a state change, an error or an event.
 *
 * Plain callbacks and async iterators (`connect`), or Effect (`makeScoped`, `stream`).
 */
import { ServerFrame } from "@devteam/domain/WsFrame"
import type { ErrorFrame, JournalFrame, PongFrame, ReplayCompleteFrame, SubscribedFrame } from "@devteam/domain/WsFrame"
import { Data, Effect, Either, ParseResult, Schema, type Scope, Stream } from "effect"
import { type BackoffPolicy, delayFor, normalize, stepper } from "./Backoff.js"

export type { JournalFrame } from "@devteam/domain/WsFrame"

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed"

export interface StateChange {
  readonly state: ConnectionState
  /**
   * `connecting` / `open`: the attempt number of this connection (0 = the first connect since
   * the last healthy connection, n = the n-th reconnect); `reconnecting`: the attempt about to
   * be made after `delayMs`.
   */
  readonly attempt: number
  /** `reconnecting`: how long until the next attempt. */
  readonly delayMs?: number
  /** The WebSocket close code, when there was one. */
  readonly code?: number
  /** Why the connection dropped / closed (never contains the token). */
  readonly reason?: string
}

export interface InvalidFrame {
  /** The frame's text (binary frames: decoded as UTF-8 when possible), truncated to 1000 chars. */
  readonly raw: string
  readonly message: string
}

export type ControlFrame =
  | typeof SubscribedFrame.Type
  | typeof ReplayCompleteFrame.Type
  | typeof ErrorFrame.Type
  | typeof PongFrame.Type

export interface DevTeamSocketEventMap {
  readonly frame: JournalFrame
  readonly control: ControlFrame
  readonly state: StateChange
  readonly "invalid-frame": InvalidFrame
}

/** A handler parameter checked bivariantly, so that both `ws`'s and the DOM's handlers fit. */
type Handler<E> = { bivarianceHack(event: E): void }["bivarianceHack"]

/** The part of a WebSocket this client uses: satisfied by the `ws` package and the browser's. */
export interface WebSocketLike {
  readonly readyState: number
  onopen: Handler<unknown> | null
  onmessage: Handler<{ readonly data: unknown }> | null
  onclose: Handler<{ readonly code: number; readonly reason: string }> | null
  onerror: Handler<unknown> | null
  send(data: string): void
  close(code?: number, reason?: string): void
}

export interface WebSocketConstructor {
  new(
    url: string,
    protocols?: string | Array<string>,
    options?: { readonly headers?: { [key: string]: string } }
  ): WebSocketLike
}

export interface ProjectSubscription {
  readonly projectId: string
  /** Replay every frame with seq > since first; without it, live only. */
  readonly since?: number
}

export interface DevTeamSocketOptions {
  /** `http(s)://host:port[/prefix]` (→ `ws(s)://…/ws/devteam`); `ws(s)://` URLs are accepted too. */
  readonly baseUrl: string
  /** A JWT, or a function called before every (re)connect. */
  readonly token?: string | (() => string | Promise<string>) | undefined
  readonly projects?: ReadonlyArray<string | ProjectSubscription>
  /** Default: `globalThis.WebSocket` when defined, else the `ws` package (imported lazily). */
  readonly WebSocket?: WebSocketConstructor
  /** Default: `"header"` with the `ws` package, `"query"` otherwise (browsers cannot set headers). */
  readonly tokenTransport?: "header" | "query"
  readonly backoff?: Partial<BackoffPolicy>
  /** Source of jitter in `[0, 1)` (tests). */
  readonly random?: () => number
  /** Client ping period (default 15 s); nothing received for two periods → reconnect. */
  readonly heartbeatIntervalMs?: number
  /** How long an attempt may take to open (default 10 s). */
  readonly connectTimeoutMs?: number
  /** Called when a listener throws (default: `console.error`); the socket carries on. */
  readonly onListenerError?: (error: unknown) => void
}

export class DevTeamSocketError extends Data.TaggedError("DevTeamSocketError")<{
  readonly reason: "Unauthorized" | "Closed"
  readonly message: string
  readonly code?: number
}> {}

export interface DevTeamSocket {
  readonly state: () => ConnectionState
  /** Follows a project (again): `since` replays every frame after it; without it, from the cursor or live. */
  readonly subscribe: (projectId: string, options?: { readonly since?: number }) => void
  readonly unsubscribe: (projectId: string) => void
  /** The last journal seq delivered for the project (or the `since` it resumes from). */
  readonly lastSeq: (projectId: string) => number | undefined
  /** Adds a listener; returns the function that removes it. */
  readonly on: <K extends keyof DevTeamSocketEventMap>(
    event: K,
    listener: (value: DevTeamSocketEventMap[K]) => void
  ) => () => void
  /**
   * Journal frames from now on (optionally of one project), buffered without bound until read.
   * Ends after `close()`; rejects with `DevTeamSocketError` when the socket closes for good
   * (e.g. unauthorised).
   */
  readonly frames: (options?: { readonly projectId?: string }) => AsyncIterableIterator<JournalFrame>
  /** Closes for good (idempotent): no reconnect afterwards; resolves once the socket is closed. */
  readonly close: () => Promise<void>
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const PATH = "/ws/devteam"
const MAX_RAW = 1000
const SUBSCRIPTION_FAILED = "subscription failed"
/** Close code this client uses when it drops a connection itself (heartbeat, connect timeout). */
const CLIENT_DROP = 4000

const truncate = (text: string, max = MAX_RAW) => (text.length > max ? `${text.slice(0, max)}…` : text)

/** The `/ws/devteam` URL for a base URL (without the token). */
export const socketUrl = (baseUrl: string): URL => {
  const url = new URL(baseUrl)
  switch (url.protocol) {
    case "http:":
      url.protocol = "ws:"
      break
    case "https:":
      url.protocol = "wss:"
      break
    case "ws:":
    case "wss:":
      break
    default:
      throw new TypeError(`baseUrl must be an http(s):// or ws(s):// URL, got ${url.protocol}`)
  }
  const path = url.pathname.replace(/\/+$/, "")
  url.pathname = path.endsWith(PATH) ? path : `${path}${PATH}`
  url.search = ""
  url.hash = ""
  return url
}

const isObject = (value: unknown): value is object => typeof value === "object" && value !== null

const messageOf = (value: unknown): string | undefined => {
  if (value instanceof Error) return value.message
  if (isObject(value)) {
    if ("message" in value && typeof value.message === "string" && value.message !== "") return value.message
    if ("error" in value && value.error instanceof Error) return value.error.message
  }
  return undefined
}

const isWsPackage = (ctor: WebSocketConstructor): boolean => {
  const proto: unknown = Reflect.get(ctor, "prototype")
  return isObject(proto) && "terminate" in proto && typeof proto.terminate === "function"
}

const globalWebSocket = (): WebSocketConstructor | undefined => {
  const candidate: unknown = Reflect.get(globalThis, "WebSocket")
  return typeof candidate === "function" && globalThis.WebSocket === candidate ? globalThis.WebSocket : undefined
}

const loadWs = async (): Promise<WebSocketConstructor> => {
  const module = await import("ws")
  // a browser bundle maps `ws` to an empty module
  if (typeof module.WebSocket !== "function") throw new Error("the ws package is not available")
  return module.WebSocket
}

const decodeFrame = Schema.decodeUnknownEither(Schema.parseJson(ServerFrame))

const binaryText = (data: unknown): string => {
  try {
    if (data instanceof ArrayBuffer) return new TextDecoder().decode(new Uint8Array(data))
    if (ArrayBuffer.isView(data)) {
      return new TextDecoder().decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    }
    if (Array.isArray(data)) return data.map(binaryText).join("")
  } catch {
    // not decodable as text
  }
  return ""
}

const isControl = (frame: ServerFrame): frame is ControlFrame =>
  frame.type === "subscribed" || frame.type === "replay-complete" || frame.type === "error" ||
  frame.type === "pong"

// ---------------------------------------------------------------------------------------------
// Frame iterators
// ---------------------------------------------------------------------------------------------

interface Waiter {
  readonly resolve: (result: IteratorResult<JournalFrame, undefined>) => void
  readonly reject: (error: unknown) => void
}

interface Sink {
  readonly projectId: string | undefined
  readonly push: (frame: JournalFrame) => void
  readonly end: (error: DevTeamSocketError | undefined) => void
}

const makeSink = (
  projectId: string | undefined,
  detach: (sink: Sink) => void
): { readonly sink: Sink; readonly iterator: AsyncIterableIterator<JournalFrame> } => {
  let buffer: Array<JournalFrame> = []
  let head = 0
  const waiters: Array<Waiter> = []
  let ended = false
  let failure: DevTeamSocketError | undefined

  const take = (): JournalFrame | undefined => {
    const frame = buffer[head]
    if (frame === undefined) return undefined
    head++
    if (head > 1024 && head * 2 > buffer.length) {
      buffer = buffer.slice(head)
      head = 0
    }
    return frame
  }

  const settle = () => {
    while (waiters.length > 0) {
      const frame = take()
      if (frame !== undefined) {
        waiters.shift()?.resolve({ done: false, value: frame })
        continue
      }
      if (!ended) return
      const waiter = waiters.shift()
      if (failure !== undefined) {
        const error = failure
        failure = undefined
        waiter?.reject(error)
      } else {
        waiter?.resolve({ done: true, value: undefined })
      }
    }
  }

  const sink: Sink = {
    projectId,
    push: (frame) => {
      if (ended) return
      buffer.push(frame)
      settle()
    },
    end: (error) => {
      if (ended) return
      ended = true
      failure = error
      settle()
    }
  }

  const finish = (): Promise<IteratorResult<JournalFrame, undefined>> => {
    detach(sink)
    ended = true
    failure = undefined
    buffer = []
    head = 0
    settle()
    return Promise.resolve({ done: true, value: undefined })
  }

  const iterator: AsyncIterableIterator<JournalFrame> = {
    next: () =>
      new Promise<IteratorResult<JournalFrame, undefined>>((resolve, reject) => {
        waiters.push({ resolve, reject })
        settle()
      }),
    return: finish,
    throw: (error?: unknown) => {
      void finish()
      return Promise.reject(error)
    },
    [Symbol.asyncIterator]: () => iterator
  }
  return { sink, iterator }
}

// ---------------------------------------------------------------------------------------------
// The socket
// ---------------------------------------------------------------------------------------------

interface Project {
  cursor: number | undefined
  /** `subscribe` messages sent on this connection and not yet answered (frames are ignored meanwhile). */
  pending: number
  /** Consecutive "subscription failed" answers (resubscribe backoff). */
  failures: number
  retry: ReturnType<typeof setTimeout> | undefined
}

interface Connection {
  socket: WebSocketLike | undefined
  open: boolean
  received: boolean
  lastReceived: number
  error: string | undefined
  connectTimer: ReturnType<typeof setTimeout> | undefined
  heartbeat: ReturnType<typeof setInterval> | undefined
  errorTimer: ReturnType<typeof setTimeout> | undefined
  done: boolean
}

const noop = () => {}

/** Opens a reconnecting socket (it connects in the background; follow `on("state")`). */
export const connect = (options: DevTeamSocketOptions): DevTeamSocket => {
  const endpoint = socketUrl(options.baseUrl)
  const policy = normalize(options.backoff)
  const random = options.random ?? Math.random
  const heartbeatMs = Math.max(10, options.heartbeatIntervalMs ?? 15_000)
  const connectTimeoutMs = Math.max(10, options.connectTimeoutMs ?? 10_000)
  const onListenerError = options.onListenerError ?? ((error: unknown) => {
    console.error("DevTeamSocket: a listener threw", error)
  })
  const tokenIsFunction = typeof options.token === "function"

  const projects = new Map<string, Project>()
  for (const entry of options.projects ?? []) {
    const subscription = typeof entry === "string" ? { projectId: entry } : entry
    projects.set(subscription.projectId, { cursor: subscription.since, pending: 0, failures: 0, retry: undefined })
  }

  const listeners: { [K in keyof DevTeamSocketEventMap]: Set<(value: DevTeamSocketEventMap[K]) => void> } = {
    frame: new Set(),
    control: new Set(),
    state: new Set(),
    "invalid-frame": new Set()
  }
  const sinks = new Set<Sink>()

  let state: ConnectionState = "connecting"
  let attempt = 0
  /** The reconnect schedule's state: one step per reconnect, reset by a healthy connection. */
  const reconnectDelays = stepper(policy, random)
  let current: Connection | undefined
  let retryTimer: ReturnType<typeof setTimeout> | undefined
  let closed = false
  let fatal: DevTeamSocketError | undefined
  let closing: Promise<void> | undefined
  /** The last token used, only to scrub it from any text this client passes on. */
  let lastToken: string | undefined
  let ctor: WebSocketConstructor | undefined = options.WebSocket ?? globalWebSocket()

  const scrub = (text: string): string =>
    lastToken !== undefined && lastToken.length > 0 ? text.split(lastToken).join("[token]") : text

  const emit = <K extends keyof DevTeamSocketEventMap>(event: K, value: DevTeamSocketEventMap[K]) => {
    for (const listener of [...listeners[event]]) {
      try {
        listener(value)
      } catch (error) {
        try {
          onListenerError(error)
        } catch {
          // the reporter itself failed: nothing more to do
        }
      }
    }
  }

  const setState = (change: StateChange) => {
    state = change.state
    emit("state", change)
  }

  const send = (connection: Connection, message: Record<string, unknown>) => {
    if (!connection.open || connection.done || connection.socket === undefined) return
    try {
      connection.socket.send(JSON.stringify(message))
    } catch {
      // the socket is going away; its close event follows
    }
  }

  const subscribeOn = (connection: Connection, projectId: string, project: Project) => {
    project.pending++
    send(
      connection,
      project.cursor === undefined
        ? { type: "subscribe", projectId }
        : { type: "subscribe", projectId, since: project.cursor }
    )
  }

  const clearProjectTimers = () => {
    for (const project of projects.values()) {
      if (project.retry !== undefined) clearTimeout(project.retry)
      project.retry = undefined
    }
  }

  /** Forgets a connection: timers off, handlers replaced by no-ops, the socket closed. */
  const abandon = (connection: Connection) => {
    connection.done = true
    connection.open = false
    if (connection.connectTimer !== undefined) clearTimeout(connection.connectTimer)
    if (connection.heartbeat !== undefined) clearInterval(connection.heartbeat)
    if (connection.errorTimer !== undefined) clearTimeout(connection.errorTimer)
    const socket = connection.socket
    if (socket === undefined) return
    // no-op handlers rather than null: `ws` throws on an "error" event nobody listens to
    socket.onopen = noop
    socket.onmessage = noop
    socket.onerror = noop
    socket.onclose = noop
    try {
      // `ws`: terminate at once (a half-open peer would never complete the closing handshake)
      const terminate: unknown = Reflect.get(socket, "terminate")
      if (typeof terminate === "function") Reflect.apply(terminate, socket, [])
      else if (socket.readyState === 0 || socket.readyState === 1) socket.close(CLIENT_DROP, "dropped by the client")
    } catch {
      // already closing
    }
  }

  const fail = (error: DevTeamSocketError, code: number | undefined) => {
    fatal = error
    closed = true
    if (retryTimer !== undefined) clearTimeout(retryTimer)
    clearProjectTimers()
    if (current !== undefined) abandon(current)
    current = undefined
    setState({ state: "closed", attempt, ...(code === undefined ? {} : { code }), reason: error.message })
    for (const sink of [...sinks]) sink.end(error)
    sinks.clear()
  }

  /** The connection is gone (closed, failed, timed out): reconnect after a backoff, or give up. */
  const lost = (connection: Connection, code: number | undefined, rawReason: string) => {
    if (connection !== current || connection.done) return
    abandon(connection)
    current = undefined
    clearProjectTimers()
    if (closed) return
    const reason = scrub(rawReason)
    const http401 = connection.error !== undefined && /Unexpected server response: 401\b/.test(connection.error)
    const unauthorized = http401 || code === 1008
    if (unauthorized && !tokenIsFunction) {
      fail(
        new DevTeamSocketError({
          reason: "Unauthorized",
          message: http401
            ? "unauthorized: the server refused the token (HTTP 401)"
            : `unauthorized: the server closed the connection (1008${reason === "" ? "" : `: ${reason}`})`,
          code: http401 ? 401 : 1008
        }),
        code
      )
      return
    }
    attempt++
    const delayMs = reconnectDelays.next()
    setState({
      state: "reconnecting",
      attempt,
      delayMs,
      ...(code === undefined ? {} : { code }),
      ...(reason === "" ? {} : { reason })
    })
    retryTimer = setTimeout(() => {
      retryTimer = undefined
      void open()
    }, delayMs)
  }

  const onJournalFrame = (frame: JournalFrame) => {
    const project = projects.get(frame.projectId)
    if (project === undefined || project.pending > 0) return
    if (project.cursor !== undefined && frame.seq <= project.cursor) return
    project.cursor = frame.seq
    project.failures = 0
    for (const sink of [...sinks]) {
      if (sink.projectId === undefined || sink.projectId === frame.projectId) sink.push(frame)
    }
    emit("frame", frame)
  }

  const onControlFrame = (connection: Connection, frame: ControlFrame) => {
    switch (frame.type) {
      case "subscribed": {
        const project = projects.get(frame.projectId)
        if (project !== undefined) {
          project.pending = Math.max(0, project.pending - 1)
          // live-only: resume from the server's position after a reconnect
          if (project.cursor === undefined) project.cursor = frame.payload.lastSeq
        }
        break
      }
      case "replay-complete": {
        const project = projects.get(frame.projectId)
        if (project !== undefined) project.failures = 0
        break
      }
      case "error": {
        const projectId = frame.payload.projectId
        const project = projectId === undefined ? undefined : projects.get(projectId)
        if (projectId !== undefined && project !== undefined) {
          // the server answered a subscribe with an error instead of `subscribed`
          project.pending = Math.max(0, project.pending - 1)
          if (frame.payload.message.startsWith(SUBSCRIPTION_FAILED) && project.retry === undefined) {
            project.failures++
            project.retry = setTimeout(() => {
              project.retry = undefined
              if (connection === current && !connection.done && projects.get(projectId) === project) {
                subscribeOn(connection, projectId, project)
              }
            }, delayFor(project.failures, policy, random))
          }
        }
        break
      }
      case "pong":
        break
    }
    emit("control", frame)
  }

  const onMessage = (connection: Connection, data: unknown) => {
    if (connection !== current || connection.done) return
    connection.lastReceived = Date.now()
    if (!connection.received) {
      connection.received = true
      attempt = 0
      reconnectDelays.reset()
    }
    if (typeof data !== "string") {
      emit("invalid-frame", {
        raw: truncate(binaryText(data)),
        message: "binary frame: the server sends JSON text frames"
      })
      return
    }
    const decoded = decodeFrame(data)
    if (Either.isLeft(decoded)) {
      emit("invalid-frame", {
        raw: truncate(data),
        message: truncate(ParseResult.TreeFormatter.formatErrorSync(decoded.left))
      })
      return
    }
    const frame = decoded.right
    if (isControl(frame)) onControlFrame(connection, frame)
    else onJournalFrame(frame)
  }

  const onOpen = (connection: Connection) => {
    if (connection !== current || connection.done) return
    if (connection.connectTimer !== undefined) clearTimeout(connection.connectTimer)
    connection.connectTimer = undefined
    connection.open = true
    connection.lastReceived = Date.now()
    setState({ state: "open", attempt })
    if (connection !== current || connection.done) return
    for (const [projectId, project] of projects) {
      project.pending = 0
      subscribeOn(connection, projectId, project)
    }
    connection.heartbeat = setInterval(() => {
      if (connection !== current || connection.done) return
      if (Date.now() - connection.lastReceived >= 2 * heartbeatMs) {
        lost(connection, undefined, `heartbeat timeout: nothing received for ${2 * heartbeatMs} ms`)
        return
      }
      send(connection, { type: "ping" })
    }, heartbeatMs)
  }

  const resolveToken = async (): Promise<string | undefined> => {
    const token = options.token
    return typeof token === "function" ? await token() : token
  }

  const open = async (): Promise<void> => {
    if (closed) return
    const connection: Connection = {
      socket: undefined,
      open: false,
      received: false,
      lastReceived: 0,
      error: undefined,
      connectTimer: undefined,
      heartbeat: undefined,
      errorTimer: undefined,
      done: false
    }
    current = connection
    setState({ state: "connecting", attempt })

    let token: string | undefined
    try {
      token = await resolveToken()
    } catch (error) {
      lost(connection, undefined, `the token function failed: ${messageOf(error) ?? String(error)}`)
      return
    }
    if (connection !== current || connection.done) return
    if (token !== undefined && token !== "") lastToken = token

    if (ctor === undefined) {
      try {
        ctor = await loadWs()
      } catch (error) {
        if (connection !== current || connection.done) return
        fail(
          new DevTeamSocketError({
            reason: "Closed",
            message: `no WebSocket implementation: pass options.WebSocket (${scrub(messageOf(error) ?? "")})`
          }),
          undefined
        )
        return
      }
      if (connection !== current || connection.done) return
    }
    const WebSocketImpl = ctor
    const transport = options.tokenTransport ?? (isWsPackage(WebSocketImpl) ? "header" : "query")
    const url = new URL(endpoint)
    const bearer = token === undefined || token === "" ? undefined : token
    if (bearer !== undefined && transport === "query") url.searchParams.set("token", bearer)

    let socket: WebSocketLike
    try {
      socket = bearer !== undefined && transport === "header"
        ? new WebSocketImpl(url.toString(), [], { headers: { Authorization: `Bearer ${bearer}` } })
        : new WebSocketImpl(url.toString())
    } catch (error) {
      lost(connection, undefined, `cannot open the WebSocket: ${messageOf(error) ?? "unknown error"}`)
      return
    }
    connection.socket = socket
    socket.onopen = () => onOpen(connection)
    socket.onmessage = (event) => onMessage(connection, event.data)
    socket.onerror = (event) => {
      if (connection !== current || connection.done) return
      connection.error = messageOf(event) ?? connection.error ?? "WebSocket error"
      // a close event follows an error; should one never come, treat the error as the end
      if (connection.errorTimer === undefined) {
        connection.errorTimer = setTimeout(
          () => lost(connection, undefined, connection.error ?? "WebSocket error"),
          2000
        )
      }
    }
    socket.onclose = (event) => {
      const reason = event.reason !== "" ? event.reason : connection.error ?? `connection closed (${event.code})`
      lost(connection, event.code, reason)
    }
    connection.connectTimer = setTimeout(() => {
      if (!connection.open) lost(connection, undefined, `connect timeout after ${connectTimeoutMs} ms`)
    }, connectTimeoutMs)
  }

  const close = (): Promise<void> => {
    if (closing !== undefined) return closing
    const wasClosed = closed
    closed = true
    if (retryTimer !== undefined) clearTimeout(retryTimer)
    retryTimer = undefined
    clearProjectTimers()
    const connection = current
    current = undefined
    if (!wasClosed) {
      setState({ state: "closed", attempt, reason: "closed by the client" })
      for (const sink of [...sinks]) sink.end(undefined)
      sinks.clear()
    }
    closing = new Promise<void>((resolve) => {
      const socket = connection?.socket
      if (connection === undefined || socket === undefined || connection.done) {
        if (connection !== undefined) abandon(connection)
        return resolve()
      }
      connection.done = true
      if (connection.connectTimer !== undefined) clearTimeout(connection.connectTimer)
      if (connection.heartbeat !== undefined) clearInterval(connection.heartbeat)
      if (connection.errorTimer !== undefined) clearTimeout(connection.errorTimer)
      let settled = false
      const finish = () => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        socket.onopen = noop
        socket.onmessage = noop
        socket.onerror = noop
        socket.onclose = noop
        resolve()
      }
      // a peer that never answers the closing handshake: give up waiting after a while
      const timer = setTimeout(() => {
        const terminate: unknown = Reflect.get(socket, "terminate")
        if (typeof terminate === "function") Reflect.apply(terminate, socket, [])
        finish()
      }, 2000)
      socket.onopen = noop
      socket.onmessage = noop
      socket.onerror = noop
      socket.onclose = finish
      try {
        if (socket.readyState === 3) finish()
        else socket.close(1000, "client closed")
      } catch {
        finish()
      }
    })
    return closing
  }

  const socket: DevTeamSocket = {
    state: () => state,
    subscribe: (projectId, subscribeOptions) => {
      if (closed) return
      const existing = projects.get(projectId)
      if (existing?.retry !== undefined) clearTimeout(existing.retry)
      const project: Project = {
        cursor: subscribeOptions?.since ?? existing?.cursor,
        pending: existing?.pending ?? 0,
        failures: 0,
        retry: undefined
      }
      projects.set(projectId, project)
      if (current !== undefined && current.open) subscribeOn(current, projectId, project)
    },
    unsubscribe: (projectId) => {
      const project = projects.get(projectId)
      if (project === undefined) return
      if (project.retry !== undefined) clearTimeout(project.retry)
      projects.delete(projectId)
      if (current !== undefined) send(current, { type: "unsubscribe", projectId })
    },
    lastSeq: (projectId) => projects.get(projectId)?.cursor,
    on: (event, listener) => {
      listeners[event].add(listener)
      return () => {
        listeners[event].delete(listener)
      }
    },
    frames: (frameOptions) => {
      const { iterator, sink } = makeSink(frameOptions?.projectId, (s) => sinks.delete(s))
      if (closed) sink.end(fatal)
      else sinks.add(sink)
      return iterator
    },
    close
  }

  // connect on the next tick, so that listeners added right after `connect` see every state
  queueMicrotask(() => void open())
  return socket
}

// ---------------------------------------------------------------------------------------------
// Effect API
// ---------------------------------------------------------------------------------------------

const toSocketError = (error: unknown): DevTeamSocketError =>
  error instanceof DevTeamSocketError
    ? error
    : new DevTeamSocketError({ reason: "Closed", message: messageOf(error) ?? "the socket failed" })

/** A socket closed when the scope closes. */
export const makeScoped = (options: DevTeamSocketOptions): Effect.Effect<DevTeamSocket, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => connect(options)),
    (socket) => Effect.promise(() => socket.close())
  )

/**
 * The journal frames of `options.projects`, exactly once and in seq order across reconnects; the
 * socket lives as long as the stream. Fails with `DevTeamSocketError` when it closes for good.
 */
export const stream = (options: DevTeamSocketOptions): Stream.Stream<JournalFrame, DevTeamSocketError> =>
  Stream.unwrapScoped(
    Effect.map(makeScoped(options), (socket) => Stream.fromAsyncIterable(socket.frames(), toSocketError))
  )
