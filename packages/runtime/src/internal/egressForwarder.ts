/**
 * The in-container half of the docker sandbox's egress: a node script, run as the container's
 * main process, that listens on 127.0.0.1:PORT (the proxy address commands are given) and pipes
 * every connection to the runner's egress proxy on the bind-mounted unix socket. The container
 * has no network (`none`), so this is its only way out.
 * argv: node forward.cjs PORT SOCKET
 */
export const forwarderScript = `"use strict"
// devteam egress forwarder: 127.0.0.1:PORT -> the runner's egress proxy (unix socket).
const net = require("node:net")
const port = Number(process.argv[2])
const socketPath = process.argv[3]
const server = net.createServer((client) => {
  const upstream = net.connect(socketPath)
  const close = () => {
    client.destroy()
    upstream.destroy()
  }
  client.on("error", close)
  upstream.on("error", close)
  client.on("close", close)
  upstream.on("close", close)
  client.pipe(upstream)
  upstream.pipe(client)
})
server.on("error", (error) => {
  console.error("devteam egress forwarder: " + error.message)
  process.exit(1)
})
process.on("SIGTERM", () => process.exit(0))
server.listen(port, "127.0.0.1")
`

/** The forwarder's port inside the container. */
export const forwarderPort = 3128
/** Where the egress directory is mounted in the container. */
export const mountPoint = "/run/devteam-egress"
export const socketName = "egress.sock"
export const scriptName = "forward.cjs"
