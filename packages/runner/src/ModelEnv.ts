/**
 * The model provider settings IMPLEMENT's tool gets — and nothing else does (verify commands,
 * git, the script tool never see them). Read from the runner's environment:
 *
 * - every `*_API_KEY` (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY, …);
 * - everything under the providers' and agents' prefixes: `ANTHROPIC_*` (ANTHROPIC_BASE_URL,
 *   ANTHROPIC_AUTH_TOKEN, …), `OPENAI_*` (OPENAI_API_BASE, OPENAI_BASE_URL, …), `OLLAMA_*`,
 *   `AZURE_*`, `AWS_*` (Bedrock), `VERTEXAI_*`, `GEMINI_*`, `OPENROUTER_*`, `AIDER_*`;
 * - Claude Code's provider switches (`CLAUDE_CODE_USE_BEDROCK`, `CLAUDE_CODE_USE_VERTEX`,
 *   `CLAUDE_CODE_MAX_RETRIES`, `API_TIMEOUT_MS`).
 *
 * All values are held as `Redacted`; only the secret-named ones (KEY, TOKEN, SECRET, …) are
 * registered with the Redactor, so base URLs and regions stay readable in logs.
 */
import * as Redaction from "@devteam/runtime/Redaction"
import { isSecretName } from "@devteam/runtime/Sandbox"
import { Config, Effect, Option, type Redacted } from "effect"

export const providerPrefixes: ReadonlyArray<string> = [
  "ANTHROPIC_",
  "OPENAI_",
  "OLLAMA_",
  "AZURE_",
  "AWS_",
  "VERTEXAI_",
  "GEMINI_",
  "OPENROUTER_",
  "AIDER_"
]

export const providerNames: ReadonlyArray<string> = [
  "CLAUDE_CODE_USE_BEDROCK",
  "CLAUDE_CODE_USE_VERTEX",
  "CLAUDE_CODE_MAX_RETRIES",
  "API_TIMEOUT_MS"
]

/** Whether an environment variable is a model provider setting passed to IMPLEMENT's tool. */
export const isProviderSetting = (name: string): boolean =>
  /^[A-Z][A-Z0-9_]*$/.test(name) &&
  (name.endsWith("_API_KEY") || providerNames.includes(name) || providerPrefixes.some((p) => name.startsWith(p)))

/** The provider settings present in the environment, as Redacted. */
export const ModelEnvConfig: Config.Config<Readonly<Record<string, Redacted.Redacted<string>>>> = Config.suspend(() => {
  // Config cannot enumerate the environment: the names come from it, the values through Config.
  const names = [...new Set([...Redaction.secretEnvNames, ...Object.keys(process.env)])].filter(isProviderSetting)
    .sort()
  return Config.all(
    names.map((name) => Config.option(Config.redacted(name)).pipe(Config.map((value) => [name, value] as const)))
  ).pipe(
    Config.map((entries) => {
      const env: Record<string, Redacted.Redacted<string>> = {}
      for (const [name, value] of entries) {
        if (Option.isSome(value) && value.value !== undefined) env[name] = value.value
      }
      return env
    })
  )
})

/** Registers the secret-named values of a model env with the Redactor. */
export const registerSecrets = (
  redactor: Redaction.Redactor,
  env: Readonly<Record<string, Redacted.Redacted<string>>>
): Effect.Effect<void> =>
  Effect.forEach(
    Object.entries(env).filter(([name]) => isSecretName(name)),
    ([, value]) => redactor.register(value),
    { discard: true }
  )
