/** Which environment variables reach IMPLEMENT's tool as model provider settings. */
import * as ModelEnv from "@devteam/runner/ModelEnv"
import * as Redaction from "@devteam/runtime/Redaction"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Redacted } from "effect"

describe("ModelEnv", () => {
  it("provider settings in, runner settings and other secrets out", () => {
    for (
      const name of [
        "OPENAI_API_KEY",
        "OPENAI_API_BASE",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_AUTH_TOKEN",
        "OLLAMA_API_BASE",
        "AZURE_API_VERSION",
        "AWS_REGION",
        "AWS_SECRET_ACCESS_KEY",
        "AIDER_EDIT_FORMAT",
        "DEEPSEEK_API_KEY",
        "CLAUDE_CODE_USE_BEDROCK"
      ]
    ) assert.isTrue(ModelEnv.isProviderSetting(name), name)
    for (
      const name of ["GIT_TOKEN", "AUTH_JWT_SECRET", "DATABASE_URL", "PATH", "HOME", "SANDBOX_IMAGE", "REDIS_URL"]
    ) assert.isFalse(ModelEnv.isProviderSetting(name), name)
  })

  it.effect("reads the environment's provider settings; registers only the secret-named ones", () =>
    Effect.gen(function*() {
      const names = ["OPENAI_API_BASE", "ANTHROPIC_API_KEY", "AWS_REGION"]
      const saved = names.map((n) => [n, process.env[n]] as const)
      Object.assign(process.env, {
        OPENAI_API_BASE: "http://127.0.0.1:9/v1",
        ANTHROPIC_API_KEY: "sk-ant-x-0123456789abcdefgh",
        AWS_REGION: "eu-west-1",
        GIT_TOKEN_NOT: "x"
      })
      const env = yield* ModelEnv.ModelEnvConfig.pipe(
        Effect.withConfigProvider(ConfigProvider.fromEnv()),
        Effect.ensuring(Effect.sync(() => {
          for (const [n, v] of saved) {
            if (v === undefined) delete process.env[n]
            else process.env[n] = v
          }
          delete process.env.GIT_TOKEN_NOT
        }))
      )
      assert.strictEqual(env.OPENAI_API_BASE && Redacted.value(env.OPENAI_API_BASE), "http://127.0.0.1:9/v1")
      assert.strictEqual(env.AWS_REGION && Redacted.value(env.AWS_REGION), "eu-west-1")
      assert.isUndefined(env.GIT_TOKEN_NOT)
      const redactor = yield* Redaction.Redactor
      yield* ModelEnv.registerSecrets(redactor, env)
      assert.strictEqual(
        redactor.redact("base http://127.0.0.1:9/v1 key sk-ant-x-0123456789abcdefgh region eu-west-1"),
        "base http://127.0.0.1:9/v1 key [REDACTED] region eu-west-1"
      )
    }).pipe(Effect.provide(Redaction.layerWith([]))))
})
