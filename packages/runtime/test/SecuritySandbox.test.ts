/**
 * Security (issue 20 finding 2, issue 14 item 6): no host shell by surprise.
 * - The local sandbox hands a command an allow-listed environment and a scratch HOME, never the
 *   service's own variables or its user's home directory.
 * - With AUTH_JWT_SECRET set and no Docker engine, SANDBOX unset refuses pipeline work instead
 *   of falling back to the host; SANDBOX=local (explicit) and local-only mode still run locally.
 * - The Redactor catches base64 (standard / URL-safe, any alignment) and percent-encoded forms.
 */
import * as Redaction from "@devteam/runtime/Redaction"
import { proxyEnv, Sandbox } from "@devteam/runtime/Sandbox"
import * as SandboxLayer from "@devteam/runtime/SandboxLayer"
import { assert, describe, it } from "@effect/vitest"
import { type ConfigError, ConfigProvider, Effect } from "effect"
import * as Os from "node:os"
import { newIds, redactor, tempWorkspace } from "./fixtures/sandboxes.js"

const SECRET = "jwt-secret-for-the-security-suite-0123456789"

const withEnv = (env: Record<string, string>) =>
<A, E, R>(
  self: Effect.Effect<A, E, R | Sandbox>
): Effect.Effect<A, E | ConfigError.ConfigError, Exclude<R, Sandbox>> =>
  self.pipe(
    Effect.provide(SandboxLayer.layer),
    Effect.provide(redactor),
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
  )

const noEngine = { DOCKER_SOCKET: "/nonexistent/docker.sock" }

describe("Security: local sandbox and host execution", () => {
  it.scoped("a local command sees only the allow-listed environment and a scratch HOME", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox
      const handle = yield* sandbox.acquire({ ...newIds(), workspacePath: yield* tempWorkspace() })
      process.env.AUTH_JWT_SECRET = SECRET
      process.env.DEVTEAM_SERVICE_ONLY = "service-variable-value"
      const result = yield* handle.exec({
        command: ["sh", "-c", "env"],
        env: { STEP_VALUE: "given" },
        timeout: "20 seconds"
      }).pipe(
        Effect.ensuring(Effect.sync(() => {
          delete process.env.AUTH_JWT_SECRET
          delete process.env.DEVTEAM_SERVICE_ONLY
        }))
      )
      const env = new Map(
        result.stdout.split("\n").map((line) => {
          const eq = line.indexOf("=")
          return [line.slice(0, eq), line.slice(eq + 1)] as const
        })
      )
      const allowed = ["PATH", "HOME", "LANG", "TMPDIR", "PWD", "SHLVL", "_", "STEP_VALUE"]
      // the sandbox's egress proxy variables (pointing at the runner's proxy, no secret in them)
      const proxy = Object.keys(proxyEnv("http://127.0.0.1:1"))
      const unexpected = [...env.keys()].filter((name) =>
        !allowed.includes(name) && !proxy.includes(name) && !name.startsWith("DEVTEAM_SANDBOX_")
      )
      assert.deepStrictEqual(unexpected, [])
      assert.strictEqual(env.get("STEP_VALUE"), "given")
      assert.notInclude(result.stdout, SECRET)
      assert.notInclude(result.stdout, "service-variable-value")
      const home = env.get("HOME") ?? ""
      assert.notStrictEqual(home, Os.homedir(), "not the service user's home")
      assert.isTrue(home.startsWith(handle.tmpdir), `a scratch home under the sandbox's tmpdir (${home})`)
    }).pipe(withEnv({ SANDBOX: "local" })))

  it.scoped("auth on, no engine, SANDBOX unset: every acquire is refused and health says why", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox
      const refused = yield* Effect.flip(sandbox.acquire({ ...newIds(), workspacePath: yield* tempWorkspace() }))
      assert.strictEqual(refused._tag, "SandboxUnavailable")
      assert.include(refused.message, "SANDBOX=local")
      const health = yield* sandbox.health()
      assert.isFalse(health.available)
      assert.include(health.message, "refused")
    }).pipe(withEnv({ ...noEngine, AUTH_JWT_SECRET: SECRET })))

  it.scoped("SANDBOX=local set explicitly with auth on runs locally (the operator's choice)", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox
      assert.strictEqual(sandbox.kind, "local")
      const handle = yield* sandbox.acquire({ ...newIds(), workspacePath: yield* tempWorkspace() })
      const result = yield* handle.exec({ command: ["echo", "ran"], timeout: "20 seconds" })
      assert.strictEqual(result.stdout, "ran")
    }).pipe(withEnv({ ...noEngine, SANDBOX: "local", AUTH_JWT_SECRET: SECRET })))

  it.scoped("local-only mode (no AUTH_JWT_SECRET) still falls back to the local sandbox", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox
      assert.strictEqual(sandbox.kind, "local")
      assert.isTrue((yield* sandbox.health()).available)
    }).pipe(withEnv({ ...noEngine, AUTH_JWT_SECRET: "" })))

  it("the Redactor removes base64, base64url and percent-encoded copies of a secret", () => {
    const secret = "s3cr3t/token+value?with&chars=="
    const r = Redaction.make([secret])
    const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64")
    const b64url = (s: string) => Buffer.from(s, "utf8").toString("base64url")
    const texts = [
      b64(secret),
      b64(`x${secret}`),
      b64(`xy${secret}`),
      b64(`AUTH_JWT_SECRET=${secret}\nGIT_TOKEN=other\n`),
      b64url(`ab${secret}cd`),
      encodeURIComponent(secret),
      `https://example.com/?q=${encodeURIComponent(secret)}&x=1`
    ]
    for (const text of texts) {
      const out = r.redact(`before ${text} after`)
      assert.include(out, Redaction.REDACTED, text)
      // none of the secret's characters survive in a decodable run: decoding what is left never yields it
      assert.notInclude(Buffer.from(out.replace(/[^A-Za-z0-9+/]/g, ""), "base64").toString("latin1"), secret)
      assert.notInclude(decodeURIComponent(out.replaceAll(Redaction.REDACTED, "")), secret)
    }
    // short or ordinary text is left alone
    assert.strictEqual(r.redact("hello world 12345"), "hello world 12345")
  })
})
