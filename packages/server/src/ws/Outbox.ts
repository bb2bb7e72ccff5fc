/**
 * The bounded outbound buffer of one WebSocket connection.
 *
 * Frames go straight to the socket while the bytes handed to it and not yet written out stay under
 * `highWaterBytes`; beyond that the client is behind and frames wait here, where:
 *
 * - an `execution-update` replaces the project's previous queued frame when that one is an
 *   `execution-update` of the same execution (latest wins: it carries the whole status);
 * - an `execution-log` is merged into the project's previous queued `execution-log` of the same
 *   execution, task and step (lines concatenated, seq of the newer one) up to a size cap;
 * - nothing else is ever dropped, merged or reordered; per project the queue stays in seq order.
 *
 * When the queue still exceeds `maxBufferedBytes` or `maxBufferedFrames`, the outbox reports
 * overflow and the connection closes with 1013 instead of growing memory.
 */
import { encodeFrame, type JournalFrame } from "@devteam/domain/WsFrame"

export interface OutboxLimits {
  readonly highWaterBytes: number
  readonly maxBufferedBytes: number
  readonly maxBufferedFrames: number
  /** Largest merged execution-log message (characters). */
  readonly maxMergedLogChars: number
}

export interface OutboxSink {
  /** Sends one text message; `done` runs once it is written out (or failed). */
  readonly send: (data: string, done: () => void) => void
  /** The queue went over its bounds. */
  readonly overflow: (reason: string) => void
}

interface Item {
  readonly projectId: string | undefined
  frame: JournalFrame | undefined
  json: string
  dropped: boolean
}

export interface OutboxStats {
  readonly queuedFrames: number
  readonly queuedBytes: number
  readonly inFlightBytes: number
  readonly coalesced: number
  readonly merged: number
}

export interface Outbox {
  /** Queues a journal frame (coalescing/merging it when the client is behind). */
  readonly pushFrame: (projectId: string, frame: JournalFrame, json: string) => void
  /** Queues a control frame (never coalesced). */
  readonly pushControl: (json: string) => void
  /** Drops every queued frame of a project (unsubscribe). */
  readonly purge: (projectId: string) => void
  /** Calls `f` once the queue has drained to at most `frames` frames (immediately if it has). */
  readonly whenBelow: (frames: number, f: () => void) => () => void
  readonly stats: () => OutboxStats
  /** Stops sending and forgets everything (connection closed). */
  readonly close: () => void
}

const mergeLogs = (
  older: JournalFrame,
  newer: JournalFrame,
  maxChars: number
): JournalFrame | undefined => {
  if (older.type !== "execution-log" || newer.type !== "execution-log") return undefined
  if (older.executionId !== newer.executionId) return undefined
  if (older.payload.taskId !== newer.payload.taskId || older.payload.step !== newer.payload.step) return undefined
  const message = `${older.payload.message}\n${newer.payload.message}`
  if (message.length > maxChars) return undefined
  const rank = { debug: 0, info: 1, warn: 2, error: 3 } as const
  const level = rank[newer.payload.level] > rank[older.payload.level] ? newer.payload.level : older.payload.level
  const lines = older.payload.lines !== undefined && newer.payload.lines !== undefined
    ? [...older.payload.lines, ...newer.payload.lines]
    : undefined
  return {
    ...newer,
    payload: {
      ...newer.payload,
      level,
      message,
      ...(lines === undefined ? {} : { lines })
    }
  }
}

export const make = (sink: OutboxSink, limits: OutboxLimits): Outbox => {
  let queue: Array<Item> = []
  let head = 0
  let queuedFrames = 0
  let queuedBytes = 0
  let inFlight = 0
  let coalesced = 0
  let merged = 0
  let closed = false
  /** The last queued (unsent) journal item per project: the only one a new frame may replace. */
  const lastQueued = new Map<string, Item>()
  const waiters = new Set<{ readonly frames: number; readonly f: () => void }>()

  const notify = () => {
    for (const waiter of waiters) {
      if (queuedFrames <= waiter.frames) {
        waiters.delete(waiter)
        waiter.f()
      }
    }
  }

  const pump = () => {
    while (!closed && head < queue.length && inFlight < limits.highWaterBytes) {
      const item = queue[head]
      head++
      if (item === undefined || item.dropped) continue
      queuedFrames--
      queuedBytes -= item.json.length
      if (item.projectId !== undefined && lastQueued.get(item.projectId) === item) lastQueued.delete(item.projectId)
      const bytes = item.json.length
      inFlight += bytes
      sink.send(item.json, () => {
        inFlight -= bytes
        pump()
      })
    }
    if (head === queue.length) {
      queue = []
      head = 0
    } else if (head > 1024 && head * 2 > queue.length) {
      queue = queue.slice(head)
      head = 0
    }
    if (waiters.size > 0) notify()
  }

  const checkBounds = () => {
    if (closed) return
    if (queuedFrames > limits.maxBufferedFrames) {
      sink.overflow(`more than ${limits.maxBufferedFrames} frames waiting`)
    } else if (queuedBytes + inFlight > limits.maxBufferedBytes) {
      sink.overflow(`more than ${limits.maxBufferedBytes} bytes waiting`)
    }
  }

  const enqueue = (item: Item) => {
    queue.push(item)
    queuedFrames++
    queuedBytes += item.json.length
    pump()
    checkBounds()
  }

  const pushFrame = (projectId: string, frame: JournalFrame, json: string) => {
    if (closed) return
    const last = lastQueued.get(projectId)
    if (last !== undefined && !last.dropped && last.frame !== undefined) {
      let replacement: { frame: JournalFrame; json: string } | undefined
      if (
        frame.type === "execution-update" && last.frame.type === "execution-update" &&
        last.frame.executionId === frame.executionId
      ) {
        replacement = { frame, json }
        coalesced++
      } else {
        const combined = mergeLogs(last.frame, frame, limits.maxMergedLogChars)
        if (combined !== undefined) {
          replacement = { frame: combined, json: encodeFrame(combined).json }
          merged++
        }
      }
      if (replacement !== undefined) {
        queuedBytes += replacement.json.length - last.json.length
        last.frame = replacement.frame
        last.json = replacement.json
        checkBounds()
        return
      }
    }
    const item: Item = { projectId, frame, json, dropped: false }
    enqueue(item)
    // still queued after pump: later frames of the project may coalesce into it
    if (!closed && queue[queue.length - 1] === item && head < queue.length) lastQueued.set(projectId, item)
  }

  return {
    pushFrame,
    pushControl: (json) => {
      if (closed) return
      enqueue({ projectId: undefined, frame: undefined, json, dropped: false })
    },
    purge: (projectId) => {
      lastQueued.delete(projectId)
      for (let i = head; i < queue.length; i++) {
        const item = queue[i]
        if (item !== undefined && !item.dropped && item.projectId === projectId) {
          item.dropped = true
          queuedFrames--
          queuedBytes -= item.json.length
        }
      }
      notify()
    },
    whenBelow: (frames, f) => {
      if (closed || queuedFrames <= frames) {
        f()
        return () => {}
      }
      const waiter = { frames, f }
      waiters.add(waiter)
      return () => {
        waiters.delete(waiter)
      }
    },
    stats: () => ({ queuedFrames, queuedBytes, inFlightBytes: inFlight, coalesced, merged }),
    close: () => {
      closed = true
      queue = []
      head = 0
      queuedFrames = 0
      queuedBytes = 0
      lastQueued.clear()
      const pending = [...waiters]
      waiters.clear()
      for (const waiter of pending) waiter.f()
    }
  }
}
