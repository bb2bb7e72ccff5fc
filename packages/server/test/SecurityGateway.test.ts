/**
 * Security suite at the HTTP edge (issue 20), against the real gateway + runner + cluster
 * (embedded storage, placeholder steps: nothing here needs a step to really run).
 */
import * as SandboxPolicy from "@devteam/runtime/SandboxPolicy"
import { assert, describe, it, layer } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import * as H from "./fixtures/GatewayHarness.js"

const tokens = await (async () => ({
  admin: await H.sign({ sub: "root", roles: ["admin"], projects: ["*"] }),
  user: await H.sign({ sub: "alice", projects: ["acme/cmd-1", "acme/cmd-2", "acme/cmd-3"] })
}))()

const server = Effect.map(H.TestServer, (s) => s)

describe("Security: caller commands on a host sandbox (SANDBOX=local, auth on)", () => {
  layer(H.layer({ jwt: true, env: { SANDBOX: "local" } }), { timeout: 60_000, excludeTestServices: true })((it) => {
    it.effect("script and verify.commands from a non-admin → 403, nothing started; admins and plain requests pass", () =>
      Effect.gen(function*() {
        const { repoUrl, url } = yield* server
        const initialize = (token: string, projectId: string, extra: Record<string, unknown>) =>
          H.request(`${url}/api/devteam/automation/initialize`, {
            method: "POST",
            token,
            body: { projectId, repoUrl, tool: "script", ...extra }
          })
        const script = yield* initialize(tokens.user, "acme/cmd-1", { script: "cat /proc/$PPID/environ" })
        assert.strictEqual(script.status, 403, script.text)
        assert.include(script.text, "admin")
        const verify = yield* initialize(tokens.user, "acme/cmd-1", { verify: { commands: ["id"] } })
        assert.strictEqual(verify.status, 403, verify.text)
        const status = yield* H.request(`${url}/api/devteam/automation/status/acme%2Fcmd-1`, { token: tokens.user })
        assert.strictEqual(status.status, 404, "nothing was started")

        const plain = yield* initialize(tokens.user, "acme/cmd-2", {})
        assert.strictEqual(plain.status, 202, plain.text)
        const byAdmin = yield* initialize(tokens.admin, "acme/cmd-3", { script: "echo ok > ok.txt" })
        assert.strictEqual(byAdmin.status, 202, byAdmin.text)
      }))

    it.effect("/health says pipeline commands run on the host", () =>
      Effect.gen(function*() {
        const { url } = yield* server
        const health = yield* H.request(`${url}/health`)
        assert.include(String(H.field(H.field(health.body, "details"), "docker")), "SANDBOX=local")
      }))
  })

  it.effect("the opt-in: LOCAL_SANDBOX_CALLER_COMMANDS=true lifts the restriction; docker or local-only never has it", () =>
    Effect.gen(function*() {
      const needAdmin = (env: Record<string, string>) =>
        Effect.map(
          SandboxPolicy.SandboxPolicyConfig.pipe(
            Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
          ),
          SandboxPolicy.callerCommandsNeedAdmin
        )
      const secret = H.SECRET
      assert.isTrue(yield* needAdmin({ SANDBOX: "local", AUTH_JWT_SECRET: secret }))
      assert.isFalse(
        yield* needAdmin({ SANDBOX: "local", AUTH_JWT_SECRET: secret, LOCAL_SANDBOX_CALLER_COMMANDS: "true" })
      )
      assert.isFalse(yield* needAdmin({ SANDBOX: "docker", AUTH_JWT_SECRET: secret }))
      assert.isFalse(yield* needAdmin({ SANDBOX: "local" }))
      assert.isFalse(yield* needAdmin({ SANDBOX: "local", AUTH_JWT_SECRET: "" }))
    }))
})
