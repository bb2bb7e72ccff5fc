/**
 * The model provider API hosts a coding agent must reach from the sandbox (IMPLEMENT's egress
 * allow-list), derived from the same provider settings the agent gets: a configured base URL
 * wins; otherwise the provider's public API host for each key that is set.
 */
import type { HostPort } from "@devteam/domain/Egress"
import { parseHostPort, uniqueHostPorts } from "@devteam/domain/Egress"
import { Config, Option } from "effect"
import { hostOfUrl } from "./EgressPolicy.js"

/** Base-URL settings and the key settings whose provider they redirect. */
const providers: ReadonlyArray<{
  readonly bases: ReadonlyArray<string>
  readonly keys: ReadonlyArray<string>
  readonly host: string
}> = [
  { bases: ["ANTHROPIC_BASE_URL"], keys: ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"], host: "api.anthropic.com" },
  { bases: ["OPENAI_API_BASE", "OPENAI_BASE_URL"], keys: ["OPENAI_API_KEY"], host: "api.openai.com" },
  { bases: ["OLLAMA_API_BASE"], keys: [], host: "" },
  { bases: ["AZURE_API_BASE"], keys: [], host: "" },
  { bases: ["GEMINI_API_BASE"], keys: ["GEMINI_API_KEY"], host: "generativelanguage.googleapis.com" },
  { bases: [], keys: ["DEEPSEEK_API_KEY"], host: "api.deepseek.com" },
  { bases: [], keys: ["OPENROUTER_API_KEY"], host: "openrouter.ai" },
  { bases: [], keys: ["GROQ_API_KEY"], host: "api.groq.com" },
  { bases: [], keys: ["MISTRAL_API_KEY"], host: "api.mistral.ai" }
]

const names = [...new Set(providers.flatMap((p) => [...p.bases, ...p.keys]))]

/** The provider settings that decide the hosts (present or not), from the environment. */
export const ProviderSettingsConfig: Config.Config<Readonly<Record<string, string>>> = Config.all(
  names.map((name) => Config.option(Config.string(name)).pipe(Config.map((v) => [name, v] as const)))
).pipe(Config.map((entries) => {
  const out: Record<string, string> = {}
  for (const [name, value] of entries) if (Option.isSome(value) && value.value.trim() !== "") out[name] = value.value
  return out
}))

const publicHost = (host: string): ReadonlyArray<HostPort> => {
  const parsed = parseHostPort(host, 443)
  return typeof parsed === "string" ? [] : [parsed]
}

/** Every provider's host the settings point at (aider: any provider litellm may be configured for). */
export const allProviders = (settings: Readonly<Record<string, string>>): ReadonlyArray<HostPort> =>
  uniqueHostPorts(providers.flatMap((p) => {
    const base = p.bases.map((b) => settings[b]).find((v) => v !== undefined)
    if (base !== undefined) return Option.toArray(Option.fromNullable(hostOfUrl(base)))
    return p.host !== "" && p.keys.some((k) => settings[k] !== undefined) ? publicHost(p.host) : []
  }))

/** Anthropic's API host: `ANTHROPIC_BASE_URL`'s, else api.anthropic.com:443 (Claude Code). */
export const anthropic = (settings: Readonly<Record<string, string>>): ReadonlyArray<HostPort> => {
  const base = settings.ANTHROPIC_BASE_URL
  const host = base === undefined ? undefined : hostOfUrl(base)
  return host === undefined ? publicHost("api.anthropic.com") : [host]
}
