/**
 * Read-only answers from a work tree's git dir without a git process (a spawn costs ~10 ms on a quiet
 * machine, ~50 ms under load, and a task asked dozens of such questions): the object id of refs
 * (a loose ref file, else `packed-refs`), whether one commit reaches another through the parents
 * of loose commit objects, and files of a commit's tree through loose trees and blobs (the commits,
 * trees and blobs this service just made are loose; a clone's or fetch's are packed: git answers).
 *
 * Only what the files answer for certain is answered: anything unexpected (a symbolic or
 * malformed ref, a reftable repository, a packed or unreadable object, a long walk) is
 * `undefined` or "not proven", and the caller asks git. Nothing here throws; the one write is
 * `writeLooseBlob` (what `git hash-object -w` writes).
 *
 * Why not isomorphic-git: these few questions need no second git implementation, and its answers
 * could differ from the git binary's that does every other read and write here (reftable, object
 * format and repository extensions); "answer only when certain, else ask git" keeps git the
 * authority.
 */
import { createHash, randomBytes } from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { promisify } from "node:util"
import * as Zlib from "node:zlib"

const inflate = promisify(Zlib.inflate)
const deflate = promisify(Zlib.deflate)

/** A SHA-1 or SHA-256 object id. */
const objectId = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/

/** `refs/…` with plain segments only: never a path out of the git dir. */
const plainRefName = (name: string): boolean =>
  name.startsWith("refs/") && name.split("/").every((s) => s.length > 0 && s !== "." && s !== "..") &&
  !/[\0\\]/.test(name)

/** The text of a regular file (no symbolic link followed); `undefined` when absent; null when it is something else. */
const regularFile = async (path: string): Promise<string | undefined | null> => {
  const stat = await Fs.lstat(path).catch((e: NodeJS.ErrnoException) => e.code === "ENOENT" ? undefined : null)
  if (stat === undefined || stat === null) return stat
  // a directory of that name holds longer refs (refs/heads/a/b): the ref itself is not loose
  if (stat.isDirectory()) return undefined
  if (!stat.isFile()) return null
  return Fs.readFile(path, "utf8").catch(() => null)
}

/** `packed-refs` as `refname → id`; `undefined` when a line is not what git writes. */
const packedRefs = async (gitDir: string): Promise<Map<string, string> | undefined> => {
  const text = await regularFile(Path.join(gitDir, "packed-refs"))
  const refs = new Map<string, string>()
  if (text === undefined) return refs
  if (text === null) return undefined
  for (const line of text.split("\n")) {
    // the header (`# pack-refs with: …`) and the peeled ids of annotated tags (`^<id>`)
    if (line === "" || line.startsWith("#") || line.startsWith("^")) continue
    const space = line.indexOf(" ")
    const id = line.slice(0, space)
    if (space < 0 || !objectId.test(id)) return undefined
    refs.set(line.slice(space + 1), id)
  }
  return refs
}

/**
 * `refname → object id` of those of `names` (full names, `refs/heads/main`) that exist; `undefined`
 * when the files cannot answer for certain (ask git).
 */
export const readRefs = async (
  gitDir: string,
  names: ReadonlyArray<string>
): Promise<ReadonlyMap<string, string> | undefined> => {
  try {
    if (!names.every(plainRefName)) return undefined
    // another ref storage than the files one
    if (await Fs.lstat(Path.join(gitDir, "reftable")).then(() => true, () => false)) return undefined
    const found = new Map<string, string>()
    let packed: Map<string, string> | undefined
    for (const name of names) {
      const loose = await regularFile(Path.join(gitDir, name))
      if (loose === null) return undefined
      if (loose !== undefined) {
        const id = loose.trim()
        // a symbolic ref (`ref: …`) or anything else: git knows
        if (!objectId.test(id)) return undefined
        found.set(name, id)
        continue
      }
      packed ??= await packedRefs(gitDir)
      if (packed === undefined) return undefined
      const id = packed.get(name)
      if (id !== undefined) found.set(name, id)
    }
    return found
  } catch {
    return undefined
  }
}

/** The commit HEAD is on, when HEAD names a branch (`ref: refs/heads/…`) whose ref the files answer. */
export const readHead = async (gitDir: string): Promise<string | undefined> => {
  try {
    const head = await regularFile(Path.join(gitDir, "HEAD"))
    if (typeof head !== "string" || !head.startsWith("ref: ")) return undefined
    const name = head.slice("ref: ".length).trim()
    return (await readRefs(gitDir, [name]))?.get(name)
  } catch {
    return undefined
  }
}

/** A loose object's type and content; `undefined` when it is not loose (packed, missing) or not well formed. */
const readLoose = async (gitDir: string, id: string): Promise<{ type: string; body: Buffer } | undefined> => {
  if (!objectId.test(id)) return undefined
  const file = await Fs.readFile(Path.join(gitDir, "objects", id.slice(0, 2), id.slice(2))).catch(() => undefined)
  if (file === undefined) return undefined
  const raw = await inflate(file)
  const nul = raw.indexOf(0)
  const header = /^(blob|tree|commit|tag) (\d+)$/.exec(raw.subarray(0, Math.max(nul, 0)).toString("latin1"))
  if (nul < 0 || header === null || Number(header[2]) !== raw.length - nul - 1) return undefined
  return { type: header[1] ?? "", body: raw.subarray(nul + 1) }
}

/** The header lines of a loose commit (up to the first empty line); `undefined` when it is not a loose commit. */
const looseCommitHeader = async (gitDir: string, id: string): Promise<ReadonlyArray<string> | undefined> => {
  const object = await readLoose(gitDir, id)
  if (object?.type !== "commit") return undefined
  const text = object.body.toString("latin1")
  const end = text.indexOf("\n\n")
  return (end < 0 ? text : text.slice(0, end)).split("\n")
}

/** The parents of a loose commit object; `undefined` when it is not a loose commit (packed, missing, other). */
const looseParents = async (gitDir: string, id: string): Promise<ReadonlyArray<string> | undefined> => {
  const header = await looseCommitHeader(gitDir, id)
  if (header === undefined) return undefined
  const parents: Array<string> = []
  for (const line of header) {
    if (!line.startsWith("parent ")) continue
    const parent = line.slice("parent ".length)
    if (!objectId.test(parent)) return undefined
    parents.push(parent)
  }
  return parents
}

interface TreeEntry {
  readonly mode: string
  readonly name: string
  readonly id: string
}

/** A tree object's entries (`<mode> <name>\0<raw id>`); `undefined` when one is not well formed. */
const treeEntries = (body: Buffer, idBytes: number): ReadonlyArray<TreeEntry> | undefined => {
  const entries: Array<TreeEntry> = []
  let at = 0
  while (at < body.length) {
    const space = body.indexOf(0x20, at)
    const nul = body.indexOf(0, space + 1)
    if (space < 0 || nul < 0 || nul + 1 + idBytes > body.length) return undefined
    entries.push({
      mode: body.toString("latin1", at, space),
      name: body.toString("utf8", space + 1, nul),
      id: body.toString("hex", nul + 1, nul + 1 + idBytes)
    })
    at = nul + 1 + idBytes
  }
  return entries
}

/** The entries of `commit`'s root tree through loose objects; `undefined` when one of them is not loose. */
export const looseRootTree = async (gitDir: string, commit: string): Promise<ReadonlyArray<TreeEntry> | undefined> => {
  try {
    const tree = (await looseCommitHeader(gitDir, commit))?.[0]
    if (tree === undefined || !tree.startsWith("tree ")) return undefined
    const id = tree.slice("tree ".length)
    const object = await readLoose(gitDir, id)
    return object?.type === "tree" ? treeEntries(object.body, id.length / 2) : undefined
  } catch {
    return undefined
  }
}

/**
 * The entry at `path` (`a/b/c.md`) in `commit`'s tree through loose objects: null when it is not
 * there, `undefined` when an object on the way is not loose (ask git).
 */
export const looseEntryAt = async (
  gitDir: string,
  commit: string,
  path: string
): Promise<TreeEntry | null | undefined> => {
  try {
    let entries = await looseRootTree(gitDir, commit)
    const segments = path.split("/")
    for (const [i, segment] of segments.entries()) {
      if (entries === undefined) return undefined
      const entry = entries.find((e) => e.name === segment)
      if (entry === undefined) return null
      if (i === segments.length - 1) return entry
      // a file where a directory was expected: the path is not there
      if (entry.mode !== "40000") return null
      const object = await readLoose(gitDir, entry.id)
      entries = object?.type === "tree" ? treeEntries(object.body, entry.id.length / 2) : undefined
    }
    return null
  } catch {
    return undefined
  }
}

/** A loose blob's content; `undefined` when it is not a loose blob. */
export const looseBlob = async (gitDir: string, id: string): Promise<Buffer | undefined> => {
  try {
    const object = await readLoose(gitDir, id)
    return object?.type === "blob" ? object.body : undefined
  } catch {
    return undefined
  }
}

/**
 * True when `target` is `from` or one of its ancestors through loose commits only, reading at most
 * `limit` commits; false means "not proven" (not found among the loose ones), not "not an ancestor".
 */
export const reachesLoose = async (gitDir: string, from: string, target: string, limit = 64): Promise<boolean> => {
  try {
    const seen = new Set<string>([from])
    const queue = [from]
    for (let read = 0; read < limit; read++) {
      const next = queue.shift()
      if (next === undefined) return false
      if (next === target) return true
      for (const parent of (await looseParents(gitDir, next)) ?? []) {
        if (parent === target) return true
        if (!seen.has(parent)) {
          seen.add(parent)
          queue.push(parent)
        }
      }
    }
    return false
  } catch {
    return false
  }
}

/**
 * Writes `content` as a loose blob, as `git hash-object -w` does (`blob <size>\0<content>`, zlib,
 * `objects/xx/…` written under a temporary name then renamed, read-only); `idLength` (40 or 64,
 * from a commit id of the repository) says SHA-1 or SHA-256. The blob's id; `undefined` when it
 * could not be written (ask git).
 */
export const writeLooseBlob = async (
  gitDir: string,
  content: string,
  idLength: number
): Promise<string | undefined> => {
  try {
    if (idLength !== 40 && idLength !== 64) return undefined
    const body = Buffer.from(content, "utf8")
    const object = Buffer.concat([Buffer.from(`blob ${body.length}\0`, "latin1"), body])
    const id = createHash(idLength === 40 ? "sha1" : "sha256").update(object).digest("hex")
    const dir = Path.join(gitDir, "objects", id.slice(0, 2))
    const file = Path.join(dir, id.slice(2))
    if (await Fs.lstat(file).then(() => true, () => false)) return id
    await Fs.mkdir(dir, { recursive: true })
    const tmp = Path.join(dir, `tmp_obj_devteam_${randomBytes(6).toString("hex")}`)
    await Fs.writeFile(tmp, await deflate(object), { flag: "wx", mode: 0o444 })
    await Fs.rename(tmp, file)
    return id
  } catch {
    return undefined
  }
}
