/**
 * The scripted model server spoken to with plain fetch: both protocols (Anthropic Messages,
 * OpenAI chat completions), streamed and not, the recording, and each fault.
 */
import * as ScriptedModel from "@devteam/runtime/testing/ScriptedModel"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"

const post = (url: string, body: unknown) =>
  Effect.promise((signal) =>
    fetch(url, {
      signal,
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": "k" },
      body: JSON.stringify(body)
    })
  )

const sseEvents = (text: string) =>
  text.split("\n\n").filter((b) => b.includes("data: ")).map((b) => b.slice(b.indexOf("data: ") + 6))

const anthropicRequest = {
  model: "m",
  max_tokens: 10,
  tools: [{ name: "Write" }],
  messages: [{ role: "user", content: "do the task 7.1" }]
}

describe("ScriptedModel", () => {
  it.scoped("Anthropic streaming: text and tool_use with input_json_delta, usage in message_delta", () =>
    Effect.gen(function*() {
      const model = yield* ScriptedModel.make({
        script: [ScriptedModel.toolUse("Write", { file_path: "a.txt", content: "x" }, "thinking")]
      })
      const res = yield* post(`${model.baseUrl}/v1/messages`, { ...anthropicRequest, stream: true })
      assert.strictEqual(res.headers.get("content-type"), "text/event-stream")
      const events = sseEvents(yield* Effect.promise(() => res.text())).map((d) => JSON.parse(d))
      assert.deepStrictEqual(events.map((e) => e.type), [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop"
      ])
      const json = events.filter((e) => e.delta?.type === "input_json_delta").map((e) => e.delta.partial_json).join("")
      assert.deepStrictEqual(JSON.parse(json), { file_path: "a.txt", content: "x" })
      assert.strictEqual(events[5].content_block.name, "Write")
      assert.strictEqual(events[9].delta.stop_reason, "tool_use")
      assert.isAbove(events[9].usage.output_tokens, 0)
      const [first] = model.requests
      assert.include(first === undefined ? "" : ScriptedModel.promptText(first), "do the task 7.1")
      assert.strictEqual(model.requests[0]?.headers["x-api-key"], "k")
    }))

  it.scoped("requests without tools are answered outside the script; exhausted scripts fall back", () =>
    Effect.gen(function*() {
      const model = yield* ScriptedModel.make({ script: [ScriptedModel.text("first")] })
      const probe = yield* post(`${model.baseUrl}/v1/messages`, { model: "haiku", messages: [] })
      assert.strictEqual((yield* Effect.promise(() => probe.json())).content[0].text, "OK")
      const one = yield* post(`${model.baseUrl}/v1/messages`, anthropicRequest)
      assert.strictEqual((yield* Effect.promise(() => one.json())).content[0].text, "first")
      const two = yield* post(`${model.baseUrl}/v1/messages`, anthropicRequest)
      assert.strictEqual((yield* Effect.promise(() => two.json())).content[0].text, "(script exhausted)")
      assert.deepStrictEqual(model.requests.map((r) => r.scripted), [false, true, true])
    }))

  it.scoped("OpenAI chat completions, streamed (with usage) and not, with tool_calls", () =>
    Effect.gen(function*() {
      const model = yield* ScriptedModel.make({
        script: [ScriptedModel.text("hello there"), ScriptedModel.toolUse("edit", { path: "a" })]
      })
      const streamed = yield* post(`${model.openaiBaseUrl}/chat/completions`, {
        model: "gpt-x",
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: "user", content: "hi" }]
      })
      const chunks = sseEvents(yield* Effect.promise(() => streamed.text()))
      assert.strictEqual(chunks.at(-1), "[DONE]")
      const parsed = chunks.slice(0, -1).map((c) => JSON.parse(c))
      assert.strictEqual(parsed.map((c) => c.choices[0].delta.content ?? "").join(""), "hello there")
      assert.strictEqual(parsed.at(-1).choices[0].finish_reason, "stop")
      assert.isAbove(parsed.at(-1).usage.total_tokens, 0)
      const plain = yield* post(`${model.baseUrl}/chat/completions`, { model: "gpt-x", messages: [] })
      const body = yield* Effect.promise(() => plain.json())
      assert.strictEqual(body.choices[0].finish_reason, "tool_calls")
      assert.deepStrictEqual(JSON.parse(body.choices[0].message.tool_calls[0].function.arguments), { path: "a" })
      assert.deepStrictEqual(model.requests.map((r) => r.api), ["openai", "openai"])
    }))

  it.scopedLive("faults: 429 with retry-after, 500, a malformed stream, a hang released on close", () =>
    Effect.gen(function*() {
      const model = yield* ScriptedModel.make({
        script: [
          ScriptedModel.rateLimited(3),
          ScriptedModel.serverError(529),
          ScriptedModel.malformed,
          ScriptedModel.hang
        ]
      })
      const limited = yield* post(`${model.baseUrl}/v1/messages`, anthropicRequest)
      assert.strictEqual(limited.status, 429)
      assert.strictEqual(limited.headers.get("retry-after"), "3")
      assert.strictEqual((yield* Effect.promise(() => limited.json())).error.type, "rate_limit_error")
      const overloaded = yield* post(`${model.baseUrl}/v1/messages`, anthropicRequest)
      assert.strictEqual(overloaded.status, 529)
      const broken = yield* post(`${model.baseUrl}/v1/messages`, { ...anthropicRequest, stream: true })
      const text = yield* Effect.promise(() => broken.text())
      assert.throws(() => sseEvents(text).map((d) => JSON.parse(d)))
      const hung = yield* post(`${model.baseUrl}/v1/messages`, anthropicRequest).pipe(
        Effect.timeout("300 millis"),
        Effect.option
      )
      assert.isTrue(hung._tag === "None", "a hanging request gets no answer")
      assert.strictEqual(model.requests.length, 4)
    }))
})
