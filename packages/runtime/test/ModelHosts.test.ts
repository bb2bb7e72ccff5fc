/** The model API hosts an agent's IMPLEMENT egress allows, from the provider settings. */
import { formatHostPort } from "@devteam/domain/Egress"
import * as ModelHosts from "@devteam/runtime/ModelHosts"
import { assert, describe, it } from "@effect/vitest"

const hosts = (list: ReturnType<typeof ModelHosts.anthropic>) => list.map(formatHostPort)

describe("ModelHosts", () => {
  it("Claude Code: the base URL's host, else api.anthropic.com", () => {
    assert.deepStrictEqual(hosts(ModelHosts.anthropic({})), ["api.anthropic.com:443"])
    assert.deepStrictEqual(hosts(ModelHosts.anthropic({ ANTHROPIC_BASE_URL: "http://10.0.0.5:8080/v1" })), [
      "10.0.0.5:8080"
    ])
    assert.deepStrictEqual(hosts(ModelHosts.anthropic({ ANTHROPIC_BASE_URL: "https://gw.example.com" })), [
      "gw.example.com:443"
    ])
  })

  it("aider: each configured provider — a base URL wins over the provider's public host; no key, no host", () => {
    assert.deepStrictEqual(hosts(ModelHosts.allProviders({})), [])
    assert.deepStrictEqual(hosts(ModelHosts.allProviders({ OPENAI_API_KEY: "k", DEEPSEEK_API_KEY: "k" })), [
      "api.openai.com:443",
      "api.deepseek.com:443"
    ])
    assert.deepStrictEqual(
      hosts(ModelHosts.allProviders({
        OPENAI_API_KEY: "k",
        OPENAI_API_BASE: "http://127.0.0.1:4000/v1",
        OLLAMA_API_BASE: "http://ollama.internal:11434"
      })),
      ["127.0.0.1:4000", "ollama.internal:11434"]
    )
  })
})
