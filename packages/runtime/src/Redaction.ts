/**
 * Redaction of secrets from every text that leaves a process: logs, journal entries, responses,
 * WebSocket frames and error messages.
 *
 * Two layers: the exact values of the configured secrets (GIT_TOKEN, model API keys, the JWT
 * secret, per-project tokens registered at run time) — and their base64 (standard and URL-safe,
 * at every byte alignment, so a secret inside a longer encoded text is caught too) and
 * percent-encoded forms — and patterns of well-known credential shapes
 * (URL user-info, `Authorization:` headers, provider key prefixes). Streams are redacted on whole
 * joined lines (`LineRedactor`), so a secret split across two output chunks is still caught.
 */
import { Config, Context, Effect, Layer, Redacted } from "effect"

export const REDACTED = "[REDACTED]"

/** Environment variables whose values are secrets whenever they are set. */
export const secretEnvNames: ReadonlyArray<string> = [
  "GIT_TOKEN",
  "GIT_CREDENTIALS",
  "AUTH_JWT_SECRET",
  "OPENAI_API_KEY",
  "ANTHROPIC_API_KEY",
  "GEMINI_API_KEY",
  "DEEPSEEK_API_KEY",
  "OPENROUTER_API_KEY",
  "GROQ_API_KEY",
  "MISTRAL_API_KEY",
  "AZURE_API_KEY",
  "AIDER_API_KEY",
  "AIDER_OPENAI_API_KEY",
  "AIDER_ANTHROPIC_API_KEY"
]

const patterns: ReadonlyArray<readonly [RegExp, string]> = [
  // user:password@ or token@ in URLs
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^/\s:@]+(?::[^/\s@]*)?@/gi, `$1${REDACTED}@`],
  // Authorization headers and bearer tokens
  [/\b(authorization\s*[:=]\s*)(?:basic|bearer|token)?\s*[^\s"',;]+/gi, `$1${REDACTED}`],
  [/\bbearer\s+[A-Za-z0-9._~+/=-]{8,}/gi, `Bearer ${REDACTED}`],
  // Well-known key shapes (GitHub, OpenAI/Anthropic, Slack, AWS)
  [/\b(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{16,}/g, REDACTED],
  [/\bsk-(?:ant-)?[A-Za-z0-9_-]{16,}/g, REDACTED],
  [/\bxox[abprs]-[A-Za-z0-9-]{10,}/g, REDACTED],
  [/\bAKIA[0-9A-Z]{16}\b/g, REDACTED],
  // KEY=value / "api_key": "value" assignments of things named like secrets
  [
    /\b([A-Z0-9_]*(?:TOKEN|SECRET|PASSWORD|API_KEY|APIKEY)[A-Z0-9_]*\s*[=:]\s*"?)[^\s"']{4,}/gi,
    `$1${REDACTED}`
  ]
]

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** Secrets shorter than this are only redacted verbatim (their encodings are too short to be distinctive). */
const minEncodedSecret = 8

/**
 * The forms a secret can take in text besides itself: percent-encoded, and base64 / base64url of
 * the secret at each of the three byte offsets it can have inside a longer encoded text (only the
 * characters that depend on the secret's bytes alone are kept).
 */
export const encodedForms = (secret: string): ReadonlyArray<string> => {
  if (secret.length < minEncodedSecret) return []
  const bytes = Buffer.from(secret, "utf8")
  const forms = new Set<string>([encodeURIComponent(secret)])
  for (const offset of [0, 1, 2]) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString("base64").replace(/=+$/, "")
    const head = offset === 0 ? 0 : offset + 1
    const tail = (bytes.length + offset) % 3 === 0 ? 0 : 1
    const core = encoded.slice(head, encoded.length - tail)
    forms.add(core)
    forms.add(core.replaceAll("+", "-").replaceAll("/", "_"))
  }
  forms.delete(secret)
  return [...forms].filter((form) => form.length >= 6)
}

/** Redacts `text` given the exact secret values to remove (longest first) and the patterns. */
export const redactWith = (secrets: ReadonlyArray<string>, text: string): string => {
  let out = text
  for (const secret of secrets) {
    if (secret.length >= 4) out = out.replace(new RegExp(escapeRegExp(secret), "g"), REDACTED)
  }
  for (const [re, replacement] of patterns) out = out.replace(re, replacement)
  return out
}

export interface Redactor {
  /** Removes every known secret and credential-shaped substring from `text`. */
  readonly redact: (text: string) => string
  /** Registers a secret learned at run time (e.g. a per-project token) for the life of the process. */
  readonly register: (secret: Redacted.Redacted<string> | string) => Effect.Effect<void>
  /** A fresh line-joining redactor for one output stream. */
  readonly lines: () => LineRedactor
}

export const Redactor = Context.GenericTag<Redactor>("@devteam/runtime/Redactor")

/**
 * Splits a byte/char stream into lines and redacts each whole line, so secrets split across
 * chunks are caught. `push` returns the complete lines seen so far; `flush` returns the rest.
 */
export interface LineRedactor {
  readonly push: (chunk: string) => ReadonlyArray<string>
  readonly flush: () => ReadonlyArray<string>
}

const makeLineRedactor = (redact: (s: string) => string, maxLine = 64 * 1024): LineRedactor => {
  let buffer = ""
  return {
    push: (chunk) => {
      buffer += chunk
      const parts = buffer.split(/\r?\n/)
      buffer = parts.pop() ?? ""
      // An endless line must not grow memory without bound: cut it, redacting the piece.
      if (buffer.length > maxLine) {
        parts.push(buffer)
        buffer = ""
      }
      return parts.map(redact)
    },
    flush: () => {
      const rest = buffer
      buffer = ""
      return rest.length > 0 ? [redact(rest)] : []
    }
  }
}

/** A Redactor over a fixed list of secret values (plus whatever gets registered later). */
export const make = (initial: ReadonlyArray<string>): Redactor => {
  const secrets = new Set(initial.filter((s) => s.length >= 4))
  const withForms = () => [...secrets].flatMap((secret) => [secret, ...encodedForms(secret)])
  let sorted = withForms().sort((a, b) => b.length - a.length)
  const redact = (text: string) => redactWith(sorted, text)
  return {
    redact,
    register: (secret) =>
      Effect.sync(() => {
        const value = typeof secret === "string" ? secret : Redacted.value(secret)
        if (value.length >= 4 && !secrets.has(value)) {
          secrets.add(value)
          sorted = withForms().sort((a, b) => b.length - a.length)
        }
      }),
    lines: () => makeLineRedactor(redact)
  }
}

/** The secret values a variable holds: GIT_CREDENTIALS (`host=user:token,…`) holds one token per entry. */
const secretValues = (name: string, value: string): ReadonlyArray<string> =>
  name === "GIT_CREDENTIALS"
    ? value.split(/[,\n]/).flatMap((entry) => {
      const credential = entry.slice(entry.indexOf("=") + 1)
      return [credential.slice(credential.indexOf(":") + 1).trim()]
    })
    : [value]

/** Secrets read from the environment: every name in `secretEnvNames` that is set, via `Config.redacted`. */
export const layer: Layer.Layer<Redactor> = Layer.effect(
  Redactor,
  Effect.gen(function*() {
    const values: Array<string> = []
    for (const name of secretEnvNames) {
      const value = yield* Config.option(Config.redacted(name)).pipe(Effect.orElseSucceed(() => undefined))
      if (value !== undefined && value._tag === "Some") values.push(...secretValues(name, Redacted.value(value.value)))
    }
    return make(values)
  })
)

/** A Redactor that knows exactly the given secrets: for tests and tools. */
export const layerWith = (secrets: ReadonlyArray<string>): Layer.Layer<Redactor> =>
  Layer.succeed(Redactor, make(secrets))
