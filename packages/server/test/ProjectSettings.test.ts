/**
 * Verification settings on the project, through the real gateway (local-only mode): verify
 * commands, criteria and onNoChange registered with PUT /api/devteam/projects/{id} are shown by
 * GET and become the configuration of an execution started without them; initialize overrides them
 * field by field; a bad value is a 400 that changes nothing.
 */
import { assert, describe } from "@effect/vitest"
import { Effect } from "effect"
import * as H from "./fixtures/GatewayHarness.js"

describe("project verification settings", () => {
  H.onServer({ jwt: false, stepDuration: "30 millis" })((it) => {
    it.effect("verify.commands / criteria / onNoChange: PUT, GET, used by initialize, overridden by it", () =>
      Effect.gen(function*() {
        const { repoUrl, url } = yield* H.TestServer
        const projectUrl = `${url}/api/devteam/projects/${encodeURIComponent("acme/verify-settings")}`
        const verify = { commands: ["npm ci", "npm test"], criteria: { "test.coverage": "≥85%" } }

        const bad = yield* H.request(projectUrl, {
          method: "PUT",
          body: { repoUrl, tool: "script", script: "true", onNoChange: "skip" }
        })
        assert.strictEqual(bad.status, 400, bad.text)
        assert.include(H.field(bad.body, "message"), "onNoChange")
        assert.strictEqual((yield* H.request(projectUrl)).status, 404, "a refused PUT registers nothing")

        const put = yield* H.request(projectUrl, {
          method: "PUT",
          body: { repoUrl, tool: "script", script: "true", verify, onNoChange: "fail" }
        })
        assert.strictEqual(put.status, 200, put.text)
        const settings = H.field((yield* H.request(projectUrl)).body, "settings")
        assert.deepStrictEqual(H.field(settings, "verify"), verify)
        assert.strictEqual(H.field(settings, "onNoChange"), "fail")

        // an execution started without them runs with the project's
        const started = yield* H.request(`${url}/api/devteam/automation/initialize`, {
          method: "POST",
          body: { projectId: "acme/verify-settings" }
        })
        assert.strictEqual(started.status, 202, started.text)
        const config = yield* H.executionConfig(url, H.field(started.body, "executionId"))
        assert.deepStrictEqual(H.field(config, "verify"), verify)
        assert.strictEqual(H.field(config, "onNoChange"), "fail")
        yield* H.request(`${url}/api/devteam/automation/stop/acme%2Fverify-settings`, { method: "POST" })

        // initialize overrides them field by field
        const overridden = yield* H.request(`${url}/api/devteam/automation/initialize`, {
          method: "POST",
          body: { projectId: "acme/verify-settings", onNoChange: "complete" }
        })
        assert.strictEqual(overridden.status, 202, overridden.text)
        const second = yield* H.executionConfig(url, H.field(overridden.body, "executionId"))
        assert.strictEqual(H.field(second, "onNoChange"), "complete")
        assert.deepStrictEqual(H.field(second, "verify"), verify)
      }))
  })
})
