/**
 * The local sandbox's process bookkeeping on Linux (`/proc`): process groups, the markers every
 * command carries in its environment, the leftovers of a runner process that died, and the record
 * of which runner process last acquired a workspace. Elsewhere nothing is found.
 *
 * Reading `/proc` means one file per process on the host and is synchronous: with 1,600 processes
 * a scan of every environment blocks the event loop for 30–45 ms. So a scan runs only where it
 * must: when a workspace was last acquired by another runner process that died holding it (the
 * owner record says so), on an explicit sweep, and once per kill to find the group's members.
 */
import { createHash } from "node:crypto"
import { mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

export const OWNER_VAR = "DEVTEAM_SANDBOX_PID"
export const WORKSPACE_VAR = "DEVTEAM_SANDBOX_WORKSPACE"

const processIds = (): ReadonlyArray<string> => {
  try {
    return readdirSync("/proc").filter((e) => /^\d+$/.test(e))
  } catch {
    return []
  }
}

/** The fields of `/proc/<pid>/stat` after the command name (state first), or undefined once gone. */
const statFields = (pid: number | string): ReadonlyArray<string> | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  } catch {
    return undefined
  }
}

/** A process that exists and is not a zombie. */
const liveProcess = (pid: number): boolean => {
  const fields = statFields(pid)
  return fields !== undefined && fields[0] !== "Z"
}

export const killGroup = (pgid: number): void => {
  try {
    process.kill(-pgid, "SIGKILL")
  } catch {
    // already gone
  }
}

/**
 * The live (non-zombie) members of process group `pgid`, found by one scan of `/proc`. Zombies
 * still count for `kill(-pgid, 0)` (a member's parent may not reap it: node does not reap
 * grandchildren it inherits as PID 1), so their state is what tells.
 */
export const groupMembers = (pgid: number): ReadonlyArray<number> => {
  try {
    process.kill(-pgid, 0)
  } catch {
    return []
  }
  const group = String(pgid)
  const members: Array<number> = []
  for (const pid of processIds()) {
    const fields = statFields(pid)
    if (fields !== undefined && fields[2] === group && fields[0] !== "Z") members.push(Number(pid))
  }
  return members
}

/**
 * Which of `members` still live. After SIGKILL to their group none of them can fork a new member,
 * so the members found once are all there is to wait for.
 */
export const stillAlive = (members: ReadonlyArray<number>): ReadonlyArray<number> => members.filter(liveProcess)

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists, owned by someone else
    return error instanceof Error && "code" in error && error.code === "EPERM"
  }
}

/**
 * Process groups of commands started by a runner process that is gone, in `workspace` (any
 * workspace when undefined).
 */
const orphanGroups = (workspace: string | undefined): ReadonlySet<number> => {
  const groups = new Set<number>()
  for (const pid of processIds()) {
    try {
      const environ = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")
      const owner = environ.find((v) => v.startsWith(`${OWNER_VAR}=`))?.slice(OWNER_VAR.length + 1)
      if (owner === undefined || Number(owner) === process.pid || pidAlive(Number(owner))) continue
      if (workspace !== undefined && !environ.includes(`${WORKSPACE_VAR}=${workspace}`)) continue
      const pgid = Number(statFields(pid)?.[2])
      if (Number.isInteger(pgid) && pgid > 1) groups.add(pgid)
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return groups
}

/** Kills the orphans' process groups; how many groups there were. */
export const killOrphans = (workspace: string | undefined): number => {
  const groups = orphanGroups(workspace)
  for (const pgid of groups) killGroup(pgid)
  return groups.size
}

/**
 * A runner process, told apart from a later process that reuses its pid by its start time (clock
 * ticks since boot, `/proc/<pid>/stat` field 22).
 */
const identity = (pid: number): string | undefined => {
  const start = statFields(pid)?.[19]
  return start === undefined ? undefined : `${pid} ${start}`
}

/** The owner record's form of a process (also what a test writes for a runner it pretends died). */
export const ownerOf = (pid: number): string => identity(pid) ?? `${pid} ?`

const self = ownerOf(process.pid)

/**
 * Where the owner records live: one small file per workspace, named by its path's hash, in the
 * host's temporary directory — shared by every runner process on this host, which is what can
 * leave processes behind here (the default; runners given different `TMPDIR`s over one
 * `DATA_DIR` would not see each other's records, see `claimWorkspace`).
 */
const ownersDir = (): string => path.join(os.tmpdir(), "devteam-sandbox-owners")

/** The file that records `workspace`'s last owner. */
export const ownerRecordOf = (workspace: string): string =>
  path.join(ownersDir(), createHash("sha256").update(workspace).digest("hex").slice(0, 32))

/** Records `owner` (default: this process) as the last runner process to acquire `workspace`. */
export const recordOwner = (workspace: string, owner: string = self): void => {
  const file = ownerRecordOf(workspace)
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
  // write then rename: a reader sees the old record or the new one, never half of one
  const temp = `${file}.${process.pid}.tmp`
  writeFileSync(temp, owner, { mode: 0o600 })
  renameSync(temp, file)
}

/** How many sandboxes of this process hold each workspace (its record is removed with the last). */
const claims = new Map<string, number>()

/**
 * Makes this process `workspace`'s owner, first killing what a dead runner process left running
 * there. Only the last owner can have left anything: every runner records itself here before it
 * starts a command in the workspace, and removes the record once it has killed every command it
 * started there (`releaseWorkspace`). So the scan of `/proc` runs only when that owner is another
 * process that is gone without releasing (it crashed). With no record, nothing can be left there.
 * Answers how many process groups were killed.
 */
export const claimWorkspace = (workspace: string): number => {
  const killed = lastOwnerMayHaveLeftCommands(workspace) ? killOrphans(workspace) : 0
  try {
    recordOwner(workspace)
  } catch {
    // the records cannot be written here (a read-only or foreign temporary directory): this
    // process looks for leftovers at every acquisition, as if every record said "gone"
    recordsUsable = false
  }
  claims.set(workspace, (claims.get(workspace) ?? 0) + 1)
  return killed
}

let recordsUsable = true

const lastOwnerMayHaveLeftCommands = (workspace: string): boolean => {
  if (!recordsUsable) return true
  let previous: string
  try {
    previous = readFileSync(ownerRecordOf(workspace), "utf8")
  } catch (error) {
    // no record: no runner ever started a command there, or the last one released it
    return !(error instanceof Error && "code" in error && error.code === "ENOENT")
  }
  if (previous === self) return false
  const pid = Number(previous.split(" ")[0])
  return !Number.isInteger(pid) || !pidAlive(pid) || identity(pid) !== previous
}

/**
 * One of this process's sandboxes on `workspace` is closed, its commands killed. With the last
 * one, the record goes (if it is still this process's): nothing of this runner is left there.
 */
export const releaseWorkspace = (workspace: string): void => {
  const remaining = (claims.get(workspace) ?? 1) - 1
  if (remaining > 0) {
    claims.set(workspace, remaining)
    return
  }
  claims.delete(workspace)
  try {
    // (another runner claiming it between the read and the unlink would be two runners on one
    // workspace at once, which the cluster's shard ownership rules out)
    if (readFileSync(ownerRecordOf(workspace), "utf8") === self) unlinkSync(ownerRecordOf(workspace))
  } catch {
    // no record: nothing to remove
  }
}
