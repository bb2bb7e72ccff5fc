/**
 * The agent and its model as project settings, through the real gateway (local-only mode): PUT
 * stores `tool` and `model`, GET shows them, an execution started without them runs with them,
 * initialize overrides the model, naming another agent drops the project's model (it belongs to
 * the project's agent), and a malformed model name is a 400 that changes nothing.
 */
import { assert, describe } from "@effect/vitest"
import { Effect } from "effect"
import * as H from "./fixtures/GatewayHarness.js"

describe("project agent and model", () => {
  H.onServer({ jwt: false, stepDuration: "30 millis" })((it) => {
    it.effect("tool + model: PUT, GET, used by initialize, overridden by it, dropped with another agent", () =>
      Effect.gen(function*() {
        const { repoUrl, url } = yield* H.TestServer
        const project = "acme/model-settings"
        const projectUrl = `${url}/api/devteam/projects/${encodeURIComponent(project)}`
        const stop = H.request(`${url}/api/devteam/automation/stop/${encodeURIComponent(project)}`, { method: "POST" })
        const initialize = (body: Record<string, unknown>) =>
          Effect.gen(function*() {
            const res = yield* H.request(`${url}/api/devteam/automation/initialize`, {
              method: "POST",
              body: { projectId: project, ...body }
            })
            assert.strictEqual(res.status, 202, res.text)
            const config = yield* H.executionConfig(url, H.field(res.body, "executionId"))
            yield* stop
            return config
          })

        const bad = yield* H.request(projectUrl, {
          method: "PUT",
          body: { repoUrl, tool: "claude-code", model: "--model=evil; rm -rf /" }
        })
        assert.strictEqual(bad.status, 400, bad.text)
        assert.include(H.field(bad.body, "message"), "model")
        assert.strictEqual((yield* H.request(projectUrl)).status, 404, "a refused PUT registers nothing")

        const put = yield* H.request(projectUrl, {
          method: "PUT",
          body: { repoUrl, tool: "claude-code", model: "claude-sonnet-4-5" }
        })
        assert.strictEqual(put.status, 200, put.text)
        const settings = H.field((yield* H.request(projectUrl)).body, "settings")
        assert.strictEqual(H.field(settings, "tool"), "claude-code")
        assert.strictEqual(H.field(settings, "model"), "claude-sonnet-4-5")

        const fromProject = yield* initialize({})
        assert.strictEqual(H.field(fromProject, "tool"), "claude-code")
        assert.strictEqual(H.field(fromProject, "model"), "claude-sonnet-4-5")

        const overridden = yield* initialize({ model: "claude-opus-4-1" })
        assert.strictEqual(H.field(overridden, "model"), "claude-opus-4-1")

        const otherAgent = yield* initialize({ tool: "script", script: "true" })
        assert.strictEqual(H.field(otherAgent, "tool"), "script")
        assert.isUndefined(H.field(otherAgent, "model"))

        // a model-only change is a settings change (journaled), not a no-op
        const changed = yield* H.request(projectUrl, {
          method: "PUT",
          body: { repoUrl, tool: "claude-code", model: "openrouter/anthropic/claude-sonnet-4" }
        })
        assert.strictEqual(changed.status, 200, changed.text)
        assert.strictEqual(
          H.field(H.field(changed.body, "settings"), "model"),
          "openrouter/anthropic/claude-sonnet-4"
        )
      }))
  })
})
