/**
 * The Workspace configuration the tests and benches run with: `file://` remotes allowed, no
 * credentials, the tests' git servers on 127.0.0.1 reachable. One definition for the workspace,
 * pipeline and repository suites (and the benches); a test changes only what it is about.
 */
import { Duration, Effect, Option } from "effect"
import * as GitWorkspace from "../GitWorkspace.js"
import * as Redaction from "../Redaction.js"
import type { WorkspaceConfig } from "../Workspace.js"
import * as WorkspaceLocks from "../WorkspaceLocks.js"

export const author = { name: "DevTeam Test Runner", email: "runner@test.invalid" }

export const workspaceConfig = (workspaceDir: string, overrides: Partial<WorkspaceConfig> = {}): WorkspaceConfig => ({
  workspaceDir,
  allowFile: true,
  gitUsername: Option.none(),
  credentials: [],
  authorName: author.name,
  authorEmail: author.email,
  commandTimeout: Duration.seconds(60),
  // the tests' git servers listen on 127.0.0.1
  outbound: { allowedHosts: [], allowPrivate: true },
  ...overrides
})

/** The real git Workspace over `workspaceDir`, with its own locks; `secrets` seed the Redactor. */
export const makeWorkspace = (
  workspaceDir: string,
  overrides: Partial<WorkspaceConfig> = {},
  secrets: ReadonlyArray<string> = []
) =>
  GitWorkspace.make(workspaceConfig(workspaceDir, overrides)).pipe(
    Effect.provide([Redaction.layerWith(secrets), WorkspaceLocks.layer])
  )
