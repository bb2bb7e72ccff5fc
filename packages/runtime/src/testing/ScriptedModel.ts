/**
 * A scripted model provider for tests: a real HTTP server on 127.0.0.1 that speaks
 *
 * - the Anthropic Messages API (`POST /v1/messages`, streamed as server-sent events —
 *   `message_start`, `content_block_start/delta/stop` with `text_delta` and `input_json_delta` for
 *   `tool_use` blocks, `message_delta` with the usage, `message_stop` — or as one JSON message;
 *   `POST /v1/messages/count_tokens`), as Claude Code uses it, and
 * - OpenAI chat completions (`POST /v1/chat/completions` or `/chat/completions`, streamed as
 *   `chat.completion.chunk` events ending in `[DONE]`, or as one JSON completion), as
 *   aider/litellm use it.
 *
 * It replays a per-test script: each scripted request takes the next step (a text, a tool call,
 * or a fault — 429 with `retry-after`, a 5xx, a hang that never answers, a malformed stream), in
 * the protocol the request spoke. Requests that are not agent turns (by default: an Anthropic
 * request without tools, e.g. a title or quota probe) get a short text and leave the script alone.
 * Every request is recorded (path, headers, parsed body, the step it got): tests assert what the
 * prompt contained and that no secret was sent.
 *
 * Use `make` (scoped, Effect) or `start` (Promise, with `close()`).
 */
import { Effect } from "effect"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import type * as Net from "node:net"

const field = (value: unknown, key: string): unknown =>
  value !== null && typeof value === "object" ? Object.entries(value).find(([k]) => k === key)?.[1] : undefined

export type ScriptStep =
  | { readonly _tag: "Text"; readonly text: string }
  | {
    readonly _tag: "ToolUse"
    readonly name: string
    readonly input: Readonly<Record<string, unknown>>
    /** Text sent before the tool call (the model "thinking aloud"). */
    readonly text?: string
  }
  | { readonly _tag: "RateLimited"; readonly retryAfterSeconds: number }
  | { readonly _tag: "ServerError"; readonly status: number }
  | { readonly _tag: "Hang" }
  | { readonly _tag: "Malformed" }

/** A final answer: the agent's turn ends. */
export const text = (value: string): ScriptStep => ({ _tag: "Text", text: value })
/** A tool call (`tool_use` for Anthropic, `tool_calls` for OpenAI), e.g. Claude Code's `Write`. */
export const toolUse = (name: string, input: Readonly<Record<string, unknown>>, before?: string): ScriptStep => ({
  _tag: "ToolUse",
  name,
  input,
  ...(before === undefined ? {} : { text: before })
})
/** 429 with a `retry-after` header (seconds). */
export const rateLimited = (retryAfterSeconds = 1): ScriptStep => ({ _tag: "RateLimited", retryAfterSeconds })
/** A server error (500 unless told). */
export const serverError = (status = 500): ScriptStep => ({ _tag: "ServerError", status })
/** Reads the request and never answers (until the server closes). */
export const hang: ScriptStep = { _tag: "Hang" }
/** A 200 event stream whose events are not valid JSON, cut off mid-message. */
export const malformed: ScriptStep = { _tag: "Malformed" }

export type Api = "anthropic" | "openai"

export interface RecordedModelRequest {
  readonly api: Api
  readonly method: string
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly rawBody: string
  /** The parsed JSON body (`undefined` when the body was not JSON). */
  readonly body: unknown
  /** Whether it was an agent turn (took a step of the script). */
  readonly scripted: boolean
  /** The step it got (`undefined` for requests answered outside the script). */
  readonly step: ScriptStep | undefined
}

/** A step for a request: a list consumed in order, or a function of the request and its turn index. */
export type Script =
  | ReadonlyArray<ScriptStep>
  | ((request: RecordedModelRequest, turn: number) => ScriptStep)

export interface ScriptedModelOptions {
  readonly script: Script
  /** The step once a list script is used up (default: the text "(script exhausted)"). */
  readonly whenExhausted?: ScriptStep
  /** Which requests take script steps (default: OpenAI chat requests, Anthropic requests with tools). */
  readonly isAgentTurn?: (request: RecordedModelRequest) => boolean
  /** The model name reported in replies (default: the request's). */
  readonly model?: string
}

export interface ScriptedModel {
  /** `http://127.0.0.1:<port>` — Anthropic's base URL (`ANTHROPIC_BASE_URL`). */
  readonly baseUrl: string
  /** `http://127.0.0.1:<port>/v1` — OpenAI's API base (`OPENAI_API_BASE`). */
  readonly openaiBaseUrl: string
  readonly requests: ReadonlyArray<RecordedModelRequest>
  /** Appends steps to a list script. */
  readonly push: (...steps: ReadonlyArray<ScriptStep>) => void
}

export interface RunningScriptedModel extends ScriptedModel {
  readonly close: () => Promise<void>
}

/** Every text the model was shown in a request: system prompt(s), messages, tool results. */
export const promptText = (request: RecordedModelRequest): string => {
  const out: Array<string> = []
  const walk = (value: unknown): void => {
    if (typeof value === "string") out.push(value)
    else if (Array.isArray(value)) value.forEach(walk)
    else if (value !== null && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) if (k !== "tools" && k !== "input_schema") walk(v)
    }
  }
  walk(field(request.body, "system"))
  walk(field(request.body, "messages"))
  return out.join("\n")
}

/** The last message of a request (e.g. to tell a first turn from one that carries a tool result). */
export const lastMessage = (request: RecordedModelRequest): unknown => {
  const body = request.body
  if (body === null || typeof body !== "object" || !("messages" in body) || !Array.isArray(body.messages)) {
    return undefined
  }
  return body.messages[body.messages.length - 1]
}

/** Whether the request carries a tool's result (Anthropic `tool_result` block or OpenAI `tool` message). */
export const hasToolResult = (request: RecordedModelRequest): boolean => {
  const last = lastMessage(request)
  if (last === null || typeof last !== "object") return false
  if ("role" in last && last.role === "tool") return true
  return "content" in last && Array.isArray(last.content) &&
    last.content.some((c: unknown) => c !== null && typeof c === "object" && "type" in c && c.type === "tool_result")
}

/** How many tool results the conversation carries so far: the agent's progress through a task. */
export const toolResultCount = (request: RecordedModelRequest): number => {
  const messages = field(request.body, "messages")
  if (!Array.isArray(messages)) return 0
  let n = 0
  for (const m of messages) {
    if (field(m, "role") === "tool") n++
    const content = field(m, "content")
    if (Array.isArray(content)) n += content.filter((c) => field(c, "type") === "tool_result").length
  }
  return n
}

/** A script that plays `steps[i]` once the conversation holds `i` tool results (then the last step). */
export const byProgress = (steps: ReadonlyArray<ScriptStep>) => (request: RecordedModelRequest): ScriptStep =>
  steps[Math.min(toolResultCount(request), steps.length - 1)] ?? text("(empty script)")

const defaultIsAgentTurn = (request: RecordedModelRequest): boolean => {
  if (request.api === "openai") return true
  const body = request.body
  return body !== null && typeof body === "object" && "tools" in body && Array.isArray(body.tools) &&
    body.tools.length > 0
}

const tokens = (s: string): number => Math.max(1, Math.ceil(s.length / 4))

let counter = 0
const newId = (prefix: string) => `${prefix}_scripted_${Date.now().toString(36)}_${(counter++).toString(36)}`

// -- Anthropic --------------------------------------------------------------------------------

const anthropicError = (res: Http.ServerResponse, status: number, type: string, message: string, extra = {}) => {
  res.writeHead(status, { "content-type": "application/json", ...extra })
  res.end(JSON.stringify({ type: "error", error: { type, message } }))
}

const anthropicContent = (step: Extract<ScriptStep, { _tag: "Text" | "ToolUse" }>) =>
  step._tag === "Text"
    ? [{ type: "text", text: step.text }]
    : [
      ...(step.text === undefined ? [] : [{ type: "text", text: step.text }]),
      { type: "tool_use", id: newId("toolu"), name: step.name, input: step.input }
    ]

const answerAnthropic = (
  request: RecordedModelRequest,
  step: Extract<ScriptStep, { _tag: "Text" | "ToolUse" }>,
  model: string,
  res: Http.ServerResponse
) => {
  const content = anthropicContent(step)
  const stopReason = step._tag === "ToolUse" ? "tool_use" : "end_turn"
  const inputTokens = tokens(request.rawBody)
  const outputTokens = tokens(JSON.stringify(content))
  const id = newId("msg")
  if (field(request.body, "stream") !== true) {
    res.writeHead(200, { "content-type": "application/json", "request-id": id })
    res.end(JSON.stringify({
      id,
      type: "message",
      role: "assistant",
      model,
      content,
      stop_reason: stopReason,
      stop_sequence: null,
      usage: { input_tokens: inputTokens, output_tokens: outputTokens }
    }))
    return
  }
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", "request-id": id })
  const event = (type: string, data: Record<string, unknown>) =>
    res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`)
  event("message_start", {
    message: {
      id,
      type: "message",
      role: "assistant",
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: inputTokens, output_tokens: 1 }
    }
  })
  content.forEach((block, index) => {
    if (block.type === "text") {
      event("content_block_start", { index, content_block: { type: "text", text: "" } })
      // Split so that clients see more than one delta.
      const half = Math.ceil((block.text ?? "").length / 2)
      for (const part of [(block.text ?? "").slice(0, half), (block.text ?? "").slice(half)]) {
        if (part.length > 0) event("content_block_delta", { index, delta: { type: "text_delta", text: part } })
      }
    } else {
      event("content_block_start", {
        index,
        content_block: { type: "tool_use", id: block.id, name: block.name, input: {} }
      })
      const json = JSON.stringify(block.input)
      const half = Math.ceil(json.length / 2)
      for (const part of [json.slice(0, half), json.slice(half)]) {
        event("content_block_delta", { index, delta: { type: "input_json_delta", partial_json: part } })
      }
    }
    event("content_block_stop", { index })
  })
  event("message_delta", {
    delta: { stop_reason: stopReason, stop_sequence: null },
    usage: { output_tokens: outputTokens }
  })
  event("message_stop", {})
  res.end()
}

// -- OpenAI -----------------------------------------------------------------------------------

const openaiError = (res: Http.ServerResponse, status: number, type: string, message: string, extra = {}) => {
  res.writeHead(status, { "content-type": "application/json", ...extra })
  res.end(JSON.stringify({ error: { message, type, param: null, code: type } }))
}

const answerOpenai = (
  request: RecordedModelRequest,
  step: Extract<ScriptStep, { _tag: "Text" | "ToolUse" }>,
  model: string,
  res: Http.ServerResponse
) => {
  const id = newId("chatcmpl")
  const created = Math.floor(Date.now() / 1000)
  const content = step._tag === "Text" ? step.text : (step.text ?? null)
  const toolCalls = step._tag === "ToolUse"
    ? [{ id: newId("call"), type: "function", function: { name: step.name, arguments: JSON.stringify(step.input) } }]
    : undefined
  const finishReason = step._tag === "ToolUse" ? "tool_calls" : "stop"
  const promptTokens = tokens(request.rawBody)
  const completionTokens = tokens(JSON.stringify({ content, toolCalls }))
  const usage = {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens
  }
  if (field(request.body, "stream") !== true) {
    res.writeHead(200, { "content-type": "application/json" })
    res.end(JSON.stringify({
      id,
      object: "chat.completion",
      created,
      model,
      choices: [{
        index: 0,
        message: { role: "assistant", content, ...(toolCalls === undefined ? {} : { tool_calls: toolCalls }) },
        finish_reason: finishReason
      }],
      usage
    }))
    return
  }
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
  const chunk = (delta: Record<string, unknown>, finish: string | null, extra: Record<string, unknown> = {}) =>
    res.write(
      `data: ${
        JSON.stringify({
          id,
          object: "chat.completion.chunk",
          created,
          model,
          choices: [{ index: 0, delta, finish_reason: finish }],
          ...extra
        })
      }\n\n`
    )
  chunk({ role: "assistant", content: "" }, null)
  if (content !== null) {
    const half = Math.ceil(content.length / 2)
    for (const part of [content.slice(0, half), content.slice(half)]) {
      if (part.length > 0) chunk({ content: part }, null)
    }
  }
  if (toolCalls !== undefined) {
    toolCalls.forEach((call, index) => chunk({ tool_calls: [{ index, ...call }] }, null))
  }
  const includeUsage = field(field(request.body, "stream_options"), "include_usage") === true
  chunk({}, finishReason, includeUsage ? { usage } : {})
  res.write("data: [DONE]\n\n")
  res.end()
}

// -- the server -------------------------------------------------------------------------------

const apiOf = (method: string, path: string): Api | "count_tokens" | "models" | undefined => {
  if (method === "POST" && /^\/v1\/messages\/?$/.test(path)) return "anthropic"
  if (method === "POST" && /^\/v1\/messages\/count_tokens\/?$/.test(path)) return "count_tokens"
  if (method === "POST" && /^(?:\/v1)?\/chat\/completions\/?$/.test(path)) return "openai"
  if (method === "GET" && /^(?:\/v1)?\/models\/?$/.test(path)) return "models"
  return undefined
}

const headersOf = (req: Http.IncomingMessage): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : v
  return out
}

const parseJson = (raw: string): unknown => {
  try {
    return JSON.parse(raw)
  } catch {
    return undefined
  }
}

/** Starts the server (Promise API). */
export const start = (options: ScriptedModelOptions): Promise<RunningScriptedModel> =>
  new Promise((resolve, reject) => {
    const requests: Array<RecordedModelRequest> = []
    const queue: Array<ScriptStep> = Array.isArray(options.script) ? [...options.script] : []
    const scriptFn = typeof options.script === "function" ? options.script : undefined
    const isAgentTurn = options.isAgentTurn ?? defaultIsAgentTurn
    const sockets = new Set<Net.Socket>()
    let turn = 0

    const nextStep = (request: RecordedModelRequest): ScriptStep => {
      const index = turn++
      if (scriptFn !== undefined) return scriptFn(request, index)
      return queue.shift() ?? options.whenExhausted ?? text("(script exhausted)")
    }

    const server = Http.createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        const method = req.method ?? "GET"
        const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname
        const rawBody = Buffer.concat(chunks).toString("utf8")
        const kind = apiOf(method, path)
        const base = {
          api: kind === "openai" ? "openai" as const : "anthropic" as const,
          method,
          path,
          headers: headersOf(req),
          rawBody,
          body: parseJson(rawBody)
        }
        if (kind === undefined) {
          requests.push({ ...base, scripted: false, step: undefined })
          res.writeHead(404, { "content-type": "application/json" })
          res.end(JSON.stringify({ type: "error", error: { type: "not_found_error", message: `no route ${path}` } }))
          return
        }
        if (kind === "count_tokens") {
          requests.push({ ...base, scripted: false, step: undefined })
          res.writeHead(200, { "content-type": "application/json" })
          res.end(JSON.stringify({ input_tokens: tokens(rawBody) }))
          return
        }
        if (kind === "models") {
          requests.push({ ...base, scripted: false, step: undefined })
          res.writeHead(200, { "content-type": "application/json" })
          res.end(
            JSON.stringify({ object: "list", data: [{ id: options.model ?? "scripted-model", object: "model" }] })
          )
          return
        }
        const api: Api = kind
        const unscripted: RecordedModelRequest = { ...base, api, scripted: false, step: undefined }
        const scripted = base.body !== undefined && isAgentTurn(unscripted)
        const step = scripted ? nextStep(unscripted) : text("OK")
        requests.push({ ...unscripted, scripted, step: scripted ? step : undefined })
        const model = options.model ?? String(field(base.body, "model") ?? "scripted-model")
        switch (step._tag) {
          case "RateLimited":
            return (api === "anthropic" ? anthropicError : openaiError)(
              res,
              429,
              "rate_limit_error",
              "scripted rate limit: slow down",
              { "retry-after": String(step.retryAfterSeconds) }
            )
          case "ServerError":
            return (api === "anthropic" ? anthropicError : openaiError)(
              res,
              step.status,
              step.status === 529 ? "overloaded_error" : "api_error",
              `scripted server error ${step.status}`
            )
          case "Hang":
            return
          case "Malformed":
            res.writeHead(200, { "content-type": "text/event-stream" })
            res.write("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\n\n")
            res.write("data: this is not json\n\n")
            res.end()
            return
          default:
            return api === "anthropic"
              ? answerAnthropic(unscripted, step, model, res)
              : answerOpenai(unscripted, step, model, res)
        }
      })
    })
    server.on("connection", (socket) => {
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
    })
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      if (address === null || typeof address === "string") {
        reject(new Error("scripted model server: no TCP address"))
        return
      }
      const baseUrl = `http://127.0.0.1:${(address satisfies AddressInfo).port}`
      resolve({
        baseUrl,
        openaiBaseUrl: `${baseUrl}/v1`,
        requests,
        push: (...steps) => {
          queue.push(...steps)
        },
        close: () =>
          new Promise<void>((done) => {
            // Hanging requests hold their sockets: destroy them so close() returns.
            for (const socket of sockets) socket.destroy()
            server.close(() => done())
          })
      })
    })
  })

/** The server for the life of the scope. */
export const make = (options: ScriptedModelOptions): Effect.Effect<ScriptedModel, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => start(options)),
    (server) => Effect.promise(() => server.close())
  )
