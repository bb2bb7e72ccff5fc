/**
 * Task branch names: `task/<id with dots as dashes>-<kebab title>`.
 *
 * The title is untrusted data (unicode, emoji, punctuation, shell metacharacters, control
 * characters, 10 KB strings). The output alphabet is restricted to `[A-Za-z0-9_-]` plus the one
 * `/` after `task`, so every result is a valid `git check-ref-format --branch` name by
 * construction: no `..`, no `@{`, no `.lock` suffix, no trailing `.` or `/`, no control characters.
 */
import type { TaskId } from "./Ids.js"

/** Longest branch name produced, prefix included. */
export const maxBranchLength = 100

export const branchPrefix = "task/"

/** Letters NFKD does not decompose into ASCII, transliterated instead of dropped. */
const transliterations: Readonly<Record<string, string>> = {
  "ß": "ss",
  "ẞ": "ss",
  "æ": "ae",
  "Æ": "ae",
  "œ": "oe",
  "Œ": "oe",
  "ø": "o",
  "Ø": "o",
  "đ": "d",
  "Đ": "d",
  "ð": "d",
  "Ð": "d",
  "ł": "l",
  "Ł": "l",
  "þ": "th",
  "Þ": "th",
  "ı": "i",
  "ħ": "h",
  "Ħ": "h"
}

const transliterate = (text: string): string =>
  text
    .normalize("NFKD")
    .replace(/\p{M}+/gu, "")
    .replace(/[ßẞæÆœŒøØđĐðÐłŁþÞıħĦ]/g, (c) => transliterations[c] ?? "")

/** `Hello, Wörld! $(rm -rf /)` → `hello-world-rm-rf`; "" when nothing ASCII-alphanumeric is left. */
export const kebab = (text: string): string =>
  transliterate(text)
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")

/**
 * A title as read, without Markdown link syntax: `[src/ops.js](src/ops.js)` → `src/ops.js`, an
 * image's alt text, `<https://…>` autolinks dropped. Otherwise the link target repeats its text in
 * the branch name (`…-src-ops-js-src-ops-js-…`).
 */
export const plainTitle = (title: string): string =>
  title
    .replace(/!?\[([^\]\n]*)\]\([^)\n]*\)/g, "$1")
    .replace(/!?\[([^\]\n]*)\]\[[^\]\n]*\]/g, "$1")
    .replace(/<[a-z][a-z0-9+.-]*:[^>\s]*>/gi, "")

/** The id part: dots become dashes; anything outside `[A-Za-z0-9_-]` (never in a valid TaskId) too. */
const idSegment = (taskId: TaskId): string => {
  const segment = taskId.replace(/[^A-Za-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "")
  return segment.length > 0 ? segment : "unnamed"
}

/**
 * The branch of a task, e.g. `branchName("1.2.3", "Add login page")` → `task/1-2-3-add-login-page`.
 * At most `maxBranchLength` characters (the title is cut at a dash where possible); `task/<id>`
 * when the title yields nothing. Markdown links count as their text ({@link plainTitle}).
 */
export const branchName = (taskId: TaskId, title: string): string => {
  const base = `${branchPrefix}${idSegment(taskId)}`.slice(0, maxBranchLength)
  // Bound the work on hostile 10 KB titles: only the head can end up in the name.
  const slug = kebab(plainTitle(title.slice(0, maxBranchLength * 4)))
  const room = maxBranchLength - base.length - 1
  if (slug.length === 0 || room <= 0) return base
  let cut = slug.slice(0, room)
  if (slug.length > room) {
    // Prefer cutting at a word boundary when that keeps a reasonable part of the title.
    const lastDash = cut.lastIndexOf("-")
    if (lastDash >= room / 2) cut = cut.slice(0, lastDash)
  }
  cut = cut.replace(/-+$/g, "")
  return cut.length > 0 ? `${base}-${cut}` : base
}
