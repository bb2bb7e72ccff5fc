/**
 * The smart-HTTP git server of the tests (testing/GitHttpServer): a client that dies in the middle
 * of a push must not leave a git-http-backend behind (one left waiting for the rest of a body was
 * seen spinning at 60 % of a core for the rest of the suite). Real git-http-backend, real sockets.
 */
import * as GitHttpServer from "@devteam/runtime/testing/GitHttpServer"
import { makeBareRemote, tempDir } from "@devteam/runtime/testing/GitRemote"
import { describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"

/** The git-http-backend processes serving `root` (found by their CGI environment). */
const backendsOf = (root: string) =>
  Fs.readdirSync("/proc").filter((pid) => /^\d+$/.test(pid)).filter((pid) => {
    try {
      const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
      if (stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z") return false
      return Fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(`GIT_PROJECT_ROOT=${root}`)
    } catch {
      return false
    }
  })

const waitUntil = (what: string, check: () => boolean) =>
  Effect.promise(async () => {
    for (let i = 0; i < 300; i++) {
      if (check()) return
      await new Promise((r) => setTimeout(r, 20))
    }
    throw new Error(`timed out waiting for ${what}`)
  })

/** Sends a push's headers and part of its body, then drops the connection. */
const abortedPush = (port: number, authorization: string, held?: () => void) =>
  Effect.promise(() =>
    new Promise<void>((resolve, reject) => {
      const socket = Net.connect(port, "127.0.0.1", () => {
        socket.write(
          "POST /project.git/git-receive-pack HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
            `Authorization: ${authorization}\r\nContent-Type: application/x-git-receive-pack-request\r\n` +
            "Content-Length: 620\r\n\r\n0000partial"
        )
        setTimeout(() => {
          held?.()
          socket.destroy()
          resolve()
        }, 200)
      })
      socket.on("error", reject)
    })
  )

describe("GitHttpServer (test fixture)", () => {
  it.scopedLive("a push whose client dies mid-body leaves no backend running", () =>
    Effect.gen(function*() {
      const root = Path.join(yield* tempDir(), "served")
      makeBareRemote({ root, name: "project.git", files: { "README.md": "x\n" } })
      const server = yield* GitHttpServer.make({ root, username: "u", password: "p" })
      const port = Number(server.host.split(":")[1])
      const authorization = `Basic ${Buffer.from("u:p").toString("base64")}`
      yield* abortedPush(port, authorization)
      yield* waitUntil("the backend to be gone", () => backendsOf(root).length === 0)
    }))

  it.scopedLive("a push held (beforeServe) until after its client died leaves no backend running", () =>
    Effect.gen(function*() {
      const root = Path.join(yield* tempDir(), "served")
      makeBareRemote({ root, name: "project.git", files: { "README.md": "x\n" } })
      let release: () => void = () => undefined
      const held = new Promise<void>((resolve) => {
        release = resolve
      })
      const server = yield* GitHttpServer.make({
        root,
        username: "u",
        password: "p",
        beforeServe: ({ method }) => (method === "POST" ? held : Promise.resolve())
      })
      const port = Number(server.host.split(":")[1])
      yield* abortedPush(port, `Basic ${Buffer.from("u:p").toString("base64")}`)
      release()
      yield* waitUntil("the request to be served", () => server.requests.some((r) => r.method === "POST"))
      yield* waitUntil("the backend to be gone", () => backendsOf(root).length === 0)
    }))
})
