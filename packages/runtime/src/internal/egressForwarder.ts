/**
 * The in-container half of the docker sandbox's egress: a node script, run as the container's
 * main process, that listens on 127.0.0.1:PORT (the proxy address commands are given) and pipes
 * every connection to the runner's egress proxy on the bind-mounted unix socket. The container
 * has no network (`none`), so this is its only way out.
 *
 * Once listening it reports ready to the proxy (a POST of `readyPath` on the socket) with what
 * the sandbox needs besides node: git's version, and its scratch directory created. The runner
 * waits for that report instead of exec-polling the container (a docker exec and a second node
 * start cost more than the container's own start).
 * argv: node forward.cjs PORT SOCKET TMPDIR
 */

/**
 * The forwarder's ready report: POSTed to the egress proxy's socket (a relative URI, so never a
 * proxied request). Only the first report counts, and it comes before any command runs.
 */
export const readyPath = "/.devteam/forwarder-ready"

export const forwarderScript = `"use strict"
// devteam egress forwarder: 127.0.0.1:PORT -> the runner's egress proxy (unix socket).
const net = require("node:net")
const port = Number(process.argv[2])
const socketPath = process.argv[3]
const tmpdir = process.argv[4]
// Each side's end is passed on once what was read from it is written (pipe ends the other); a
// side that closed after its end leaves the other to send what is still buffered for it (the last
// bytes of a download) and close when its peer does. One that closed without its end (reset,
// error) takes the other down: nothing more will come.
const tunnel = (from, to) => {
  from.on("error", () => undefined)
  from.on("close", () => {
    if (!from.readableEnded) to.destroy()
  })
  from.pipe(to)
}
const server = net.createServer((client) => {
  const upstream = net.connect(socketPath)
  tunnel(client, upstream)
  tunnel(upstream, client)
})
server.on("error", (error) => {
  console.error("devteam egress forwarder: " + error.message)
  process.exit(1)
})
process.on("SIGTERM", () => process.exit(0))
const report = (body) => {
  const text = JSON.stringify(body)
  const hello = net.connect(socketPath, () =>
    hello.end("POST ${readyPath} HTTP/1.1\\r\\nHost: forwarder\\r\\nContent-Type: application/json\\r\\n" +
      "Content-Length: " + Buffer.byteLength(text) + "\\r\\nConnection: close\\r\\n\\r\\n" + text))
  hello.on("error", (error) => console.error("devteam egress forwarder: ready report: " + error.message))
  hello.resume()
}
server.listen(port, "127.0.0.1", () => {
  try {
    require("node:fs").mkdirSync(tmpdir, { recursive: true })
  } catch (error) {
    return report({ ok: false, message: "cannot create " + tmpdir + ": " + error.message })
  }
  require("node:child_process").execFile("git", ["--version"], (error, stdout, stderr) =>
    report(error
      ? { ok: false, message: "git --version: " + (String(stderr).trim() || error.message) }
      : { ok: true, git: String(stdout).trim(), node: process.version }))
})
`

/** The forwarder's port inside the container. */
export const forwarderPort = 3128
/** Where the egress directory is mounted in the container. */
export const mountPoint = "/run/devteam-egress"
export const socketName = "egress.sock"
export const scriptName = "forward.cjs"
