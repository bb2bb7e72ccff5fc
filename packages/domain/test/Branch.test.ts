import { branchName, kebab, maxBranchLength } from "@devteam/domain/Branch"
import { TaskId } from "@devteam/domain/Ids"
import { assert, describe, it } from "@effect/vitest"
import { FastCheck } from "effect"
import { execFileSync } from "node:child_process"
import { tmpdir } from "node:os"

/** The real arbiter: git itself. Throws when git rejects the name. */
const gitAccepts = (name: string): boolean => {
  try {
    const out = execFileSync("git", ["check-ref-format", "--branch", name], {
      cwd: tmpdir(),
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"]
    })
    return out.trim() === name
  } catch {
    return false
  }
}

const id = (s: string) => TaskId.make(s)

describe("Branch.branchName", () => {
  const table: ReadonlyArray<readonly [string, string, string]> = [
    ["1.2.3", "Add login page", "task/1-2-3-add-login-page"],
    ["1.1", "  Hello,   World!!  ", "task/1-1-hello-world"],
    ["2.1.1", "Events → Worker Wire-up", "task/2-1-1-events-worker-wire-up"],
    ["3", "Crème brûlée für Ærøskøbing straße", "task/3-creme-brulee-fur-aeroskobing-strasse"],
    ["E1", "🚀🔥 Deploy 🚀 now", "task/E1-deploy-now"],
    ["1.1.1", "$(rm -rf /); `id` && echo ${HOME} | cat > /etc/passwd", "task/1-1-1-rm-rf-id-echo-home-cat-etc-passwd"],
    ["1.1.1", "--upload-pack=touch /tmp/pwned", "task/1-1-1-upload-pack-touch-tmp-pwned"],
    ["1.1.1", "../../etc/passwd", "task/1-1-1-etc-passwd"],
    ["1.1.1", "refs/heads/main.lock", "task/1-1-1-refs-heads-main-lock"],
    ["1.1.1", "foo..bar@{-1}~^:?*[\\", "task/1-1-1-foo-bar-1"],
    ["1.1.1", "line1\nline2\r\n\ttab\u0000nul\u007fdel", "task/1-1-1-line1-line2-tab-nul-del"],
    ["1.1.1", "trailing dot.", "task/1-1-1-trailing-dot"],
    ["1.1.1", "trailing slash/", "task/1-1-1-trailing-slash"],
    ["1.1.1", "日本語のタイトル", "task/1-1-1"],
    ["1.1.1", "", "task/1-1-1"],
    ["1.1.1", "   ---   ", "task/1-1-1"],
    ["1.1.1", "@", "task/1-1-1"],
    ["1.1.1", "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ", "task/1-1-1-fullwidth-text"],
    ["a_b-c.d", "Mixed ID", "task/a_b-c-d-mixed-id"]
  ]

  for (const [taskId, title, expected] of table) {
    it(`${JSON.stringify(title).slice(0, 40)} → ${expected}`, () => {
      const name = branchName(id(taskId), title)
      assert.strictEqual(name, expected)
      assert.isTrue(gitAccepts(name), `git rejects ${name}`)
    })
  }

  it("caps the length at 100 and cuts at a word boundary", () => {
    const name = branchName(id("12.34.56"), "word ".repeat(2_000))
    assert.isAtMost(name.length, maxBranchLength)
    assert.match(name, /^task\/12-34-56-(?:word-)*word$/)
    assert.isTrue(gitAccepts(name))
  })

  it("caps the length with a single endless word", () => {
    const name = branchName(id("1"), "x".repeat(10_000))
    assert.strictEqual(name.length, maxBranchLength)
    assert.isTrue(name.startsWith("task/1-xxx"))
    assert.isTrue(gitAccepts(name))
  })

  it("a Markdown link counts as its text, not text and target", () => {
    assert.strictEqual(
      branchName(TaskId.make("1.1.1"), "Add mul to [src/ops.js](src/ops.js) and export it from src/index.js"),
      "task/1-1-1-add-mul-to-src-ops-js-and-export-it-from-src-index-js"
    )
    assert.strictEqual(
      branchName(TaskId.make("2.1"), "See ![diagram](docs/d.png), [the guide][guide] and <https://example.com/x>"),
      "task/2-1-see-diagram-the-guide-and"
    )
    // brackets that are not links stay text
    assert.strictEqual(branchName(TaskId.make("3"), "Handle [x] items (todo)"), "task/3-handle-x-items-todo")
  })

  it("is deterministic", () => {
    assert.strictEqual(branchName(id("1.2"), "Same title"), branchName(id("1.2"), "Same title"))
  })

  it("kebab drops everything non-alphanumeric", () => {
    assert.strictEqual(kebab("A__B  c;d|e&f"), "a-b-c-d-e-f")
    assert.strictEqual(kebab("🙂"), "")
  })

  const taskIdArb = FastCheck.stringMatching(/^[A-Za-z0-9]{1,6}(?:[._-][A-Za-z0-9]{1,6}){0,4}$/)
  const titleArb = FastCheck.oneof(
    FastCheck.string({ unit: "binary", maxLength: 300 }),
    FastCheck.string({ unit: "grapheme", maxLength: 120 }),
    FastCheck.array(
      FastCheck.constantFrom(
        ".",
        "..",
        "/",
        "@{",
        ".lock",
        "~",
        "^",
        ":",
        "\\",
        "*",
        "?",
        "[",
        " ",
        "\n",
        "-",
        "a",
        "Ü"
      ),
      { maxLength: 40 }
    ).map((parts) => parts.join(""))
  )

  it.prop("every output passes git check-ref-format --branch", [taskIdArb, titleArb], ([taskId, title]) => {
    const name = branchName(id(taskId), title)
    assert.isAtMost(name.length, maxBranchLength)
    assert.isTrue(name.startsWith(`task/${taskId.replaceAll(".", "-")}`))
    assert.isTrue(gitAccepts(name), `git rejects ${JSON.stringify(name)} (title ${JSON.stringify(title)})`)
  }, { fastCheck: { numRuns: 200 } })
})
