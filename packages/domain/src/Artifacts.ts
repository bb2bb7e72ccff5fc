/**
 * The seed's Operation Artifact (what a step produced) and Verification Result (what VERIFY found).
 */
import { Schema } from "effect"
import { EgressSummary } from "./Egress.js"
import { TaskId } from "./Ids.js"

export class OperationOutputs extends Schema.Class<OperationOutputs>("OperationOutputs")({
  diff: Schema.String,
  stdout: Schema.String,
  /** Redacted. */
  stderr: Schema.String,
  filesModified: Schema.Array(Schema.String),
  linesChanged: Schema.Int.pipe(Schema.nonNegative())
}) {}

/** Tokens a coding agent reports having used (IMPLEMENT). */
export class TokenUsage extends Schema.Class<TokenUsage>("TokenUsage")({
  inputTokens: Schema.Int.pipe(Schema.nonNegative()),
  outputTokens: Schema.Int.pipe(Schema.nonNegative()),
  cacheReadInputTokens: Schema.optional(Schema.Int.pipe(Schema.nonNegative())),
  cacheCreationInputTokens: Schema.optional(Schema.Int.pipe(Schema.nonNegative()))
}) {}

export class OperationArtifact extends Schema.Class<OperationArtifact>("OperationArtifact")({
  operation: Schema.Literal("prep", "implement", "verify", "merge", "push", "update_tasklist"),
  taskId: TaskId,
  tool: Schema.String,
  success: Schema.Boolean,
  /** Seconds. */
  duration: Schema.Number,
  outputs: OperationOutputs,
  /** The prompt's hash and template version (IMPLEMENT), so a run can be reproduced. */
  promptHash: Schema.optional(Schema.String),
  promptTemplateVersion: Schema.optional(Schema.String),
  /** Why a run that exited 0 still failed (nothing changed, fatal marker…). */
  failureReason: Schema.optional(Schema.String),
  /** What a reader should know about a successful run (the task needed no change, a manual task…). */
  note: Schema.optional(Schema.String),
  /** What the step's commands reached through the egress proxy (absent in older journals). */
  egress: Schema.optional(EgressSummary),
  /** The agent's last message (its summary of the change), when it reports one. */
  finalMessage: Schema.optional(Schema.String),
  /** Token usage and cost, when the agent reports them (optional: older journals lack them). */
  usage: Schema.optional(TokenUsage),
  costUsd: Schema.optional(Schema.Number.pipe(Schema.nonNegative())),
  /** Model round trips the agent made. */
  turns: Schema.optional(Schema.Int.pipe(Schema.nonNegative()))
}) {}

/** A touched file's line coverage (`test.coverage` is judged on the files the task changed). */
export class FileCoverage extends Schema.Class<FileCoverage>("FileCoverage")({
  file: Schema.String,
  /** Line coverage in percent; null when no test loaded the file. */
  actual: Schema.NullOr(Schema.Number),
  passed: Schema.Boolean
}) {}

/** One criterion's outcome: `{ passed, actual?, required?, files?, perFile? }`. */
export class CriterionResult extends Schema.Class<CriterionResult>("CriterionResult")({
  passed: Schema.Boolean,
  actual: Schema.optional(Schema.String),
  required: Schema.optional(Schema.String),
  files: Schema.optional(Schema.Array(Schema.String)),
  /** `test.coverage`: actual versus required per touched file. */
  perFile: Schema.optional(Schema.Array(FileCoverage))
}) {}

/** The verify command that failed: which one, its exit code and the end of its output (redacted). */
export class FailedCommand extends Schema.Class<FailedCommand>("FailedCommand")({
  /** install, build, test, typecheck, coverage or `command N` (a configured one). */
  name: Schema.String,
  command: Schema.String,
  exitCode: Schema.Int,
  timedOut: Schema.Boolean,
  /** The last lines of its output. */
  tail: Schema.String
}) {}

/** The log of one verify run (a new attempt follows a new implementation: the fix loop). */
export class VerifyAttempt extends Schema.Class<VerifyAttempt>("VerifyAttempt")({
  attempt: Schema.Int.pipe(Schema.positive()),
  success: Schema.Boolean,
  /** Redacted output of the attempt's commands. */
  log: Schema.String,
  duration: Schema.Number
}) {}

export class VerificationArtifacts extends Schema.Class<VerificationArtifacts>("VerificationArtifacts")({
  buildOutput: Schema.String,
  testOutput: Schema.optional(Schema.String),
  coverageReport: Schema.optional(Schema.String),
  typeCheckOutput: Schema.optional(Schema.String)
}) {}

export class VerificationResult extends Schema.Class<VerificationResult>("VerificationResult")({
  taskId: TaskId,
  success: Schema.Boolean,
  results: Schema.Record({ key: Schema.String, value: CriterionResult }),
  artifacts: VerificationArtifacts,
  attempts: Schema.Array(VerifyAttempt),
  /** What the verify commands reached through the egress proxy (absent in older journals). */
  egress: Schema.optional(EgressSummary),
  /** npm, pnpm or yarn (absent in results written before it was detected). */
  packageManager: Schema.optional(Schema.String),
  /** The first command that failed, when one did. */
  failedCommand: Schema.optional(FailedCommand),
  /** What the result should be read with (no lockfile, TypeScript missing…). */
  warnings: Schema.optional(Schema.Array(Schema.String))
}) {}
