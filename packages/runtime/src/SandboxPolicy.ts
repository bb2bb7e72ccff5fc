/**
 * When pipeline work may run on the host (the local sandbox), and who may hand it commands.
 *
 * - `SANDBOX=docker|local` is the operator's explicit choice. Unset: docker when an engine answers;
 *   otherwise local in local-only mode (no AUTH_JWT_SECRET: the machine's own developer), but
 *   **refused** with authentication on — callers of a shared service never run on the host unless
 *   the operator sets `SANDBOX=local` explicitly.
 * - With the local sandbox and authentication on, caller-supplied commands (`script`,
 *   `verify.commands`) are admin-only unless `LOCAL_SANDBOX_CALLER_COMMANDS=true`: they run as the
 *   service's user, which can read the service's own environment (`/proc/<pid>/environ`).
 */
import { Config, Option, Redacted } from "effect"

export type SandboxChoice = "docker" | "local" | "refused"

export interface SandboxPolicy {
  /** `SANDBOX`, when set. */
  readonly sandbox: Option.Option<"docker" | "local">
  /** AUTH_JWT_SECRET is set (and not empty). */
  readonly authOn: boolean
  /** `LOCAL_SANDBOX_CALLER_COMMANDS`: any authorised caller may pass commands to the local sandbox. */
  readonly callerCommands: boolean
}

export const SandboxPolicyConfig: Config.Config<SandboxPolicy> = Config.all({
  sandbox: Config.option(Config.literal("docker", "local")("SANDBOX")),
  authOn: Config.option(Config.redacted("AUTH_JWT_SECRET")).pipe(
    Config.map(Option.exists((secret) => Redacted.value(secret).length > 0))
  ),
  callerCommands: Config.boolean("LOCAL_SANDBOX_CALLER_COMMANDS").pipe(
    Config.withDefault(false),
    Config.withDescription(
      "with SANDBOX=local and authentication on: let non-admin callers pass script/verify.commands"
    )
  )
})

/** The sandbox to use given the policy and whether a Docker engine answers. */
export const choose = (policy: SandboxPolicy, engineAnswers: boolean): SandboxChoice =>
  Option.getOrElse(
    policy.sandbox,
    (): SandboxChoice => engineAnswers ? "docker" : policy.authOn ? "refused" : "local"
  )

export const refusedMessage =
  "no Docker engine answers and AUTH_JWT_SECRET is set: pipeline work is refused rather than run on the host " +
  "(start a Docker engine, or set SANDBOX=local to run commands on the host as the service's user)"

export const fallbackMessage =
  "no Docker engine answers: local-only mode runs pipeline commands on this machine as the service's user " +
  "(no isolation; set SANDBOX=local to make this explicit)"

/** Caller-supplied commands need the admin role: the local sandbox with authentication on, not opted in. */
export const callerCommandsNeedAdmin = (policy: SandboxPolicy): boolean =>
  Option.contains(policy.sandbox, "local") && policy.authOn && !policy.callerCommands
