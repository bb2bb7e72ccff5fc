/**
 * A real smart-HTTP git server for tests: a node:http server on 127.0.0.1 that runs
 * `git http-backend` (CGI) for every request, behind HTTP basic auth.
 *
 * - Repositories are the bare repositories directly under `root` (`<baseUrl>/<name>.git`).
 * - Requests without the right `Authorization: Basic` header get 401 (git then fails, since
 *   prompts are off); fetch and push are allowed for an authenticated user (`allowPush: false`
 *   turns receive-pack off).
 * - `requests` records method, path, status and whether the request was authorised, never the
 *   credentials themselves.
 *
 * Use `make` (scoped, Effect) or `start` (Promise, with `close()`).
 */
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as Http from "node:http"
export const httpBackendPath = "/usr/lib/git-core/git-http-backend"
const headerEnd = (buffer) => {
  const crlf = buffer.indexOf("\r\n\r\n")
  const lf = buffer.indexOf("\n\n")
  if (crlf >= 0 && (lf < 0 || crlf <= lf)) {
    return { at: crlf, length: 4 }
  }
  if (lf >= 0) {
    return { at: lf, length: 2 }
  }
  return undefined
}
const handle = (options, requests) => (req, res) => {
  const expected = `Basic ${Buffer.from(`${options.username}:${options.password}`, "utf8").toString("base64")}`
  const url = new URL(req.url ?? "/", "http://127.0.0.1")
  const method = req.method ?? "GET"
  const authorized = req.headers.authorization === expected
  const record = (status) => requests.push({ method, path: url.pathname, status, authorized })
  if (!authorized) {
    record(401)
    req.resume()
    res.writeHead(401, { "WWW-Authenticate": "Basic realm=\"git\"", "Content-Type": "text/plain" })
    res.end("Unauthorized\n")
    return
  }
  const gate = options.beforeServe?.({ method, path: url.pathname }) ?? Promise.resolve()
  req.pause()
  gate.then(() => serve(options, req, res, url, method, record), () => {
    record(503)
    res.writeHead(503)
    res.end()
  })
}
const serve = (options, req, res, url, method, record) => {
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    GIT_PROJECT_ROOT: options.root,
    GIT_HTTP_EXPORT_ALL: "1",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_CONFIG_COUNT: "1",
    GIT_CONFIG_KEY_0: "http.receivepack",
    GIT_CONFIG_VALUE_0: options.allowPush === false ? "false" : "true",
    REQUEST_METHOD: method,
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.startsWith("?") ? url.search.slice(1) : url.search,
    CONTENT_TYPE: req.headers["content-type"] ?? "",
    REMOTE_USER: options.username,
    REMOTE_ADDR: req.socket.remoteAddress ?? "127.0.0.1",
    SERVER_PROTOCOL: "HTTP/1.1",
    GATEWAY_INTERFACE: "CGI/1.1"
  }
  const contentLength = req.headers["content-length"]
  if (contentLength !== undefined) {
    env.CONTENT_LENGTH = contentLength
  }
  const contentEncoding = req.headers["content-encoding"]
  if (contentEncoding !== undefined) {
    env.HTTP_CONTENT_ENCODING = contentEncoding
  }
  const gitProtocol = req.headers["git-protocol"]
  if (typeof gitProtocol === "string") {
    env.GIT_PROTOCOL = gitProtocol
  }
  const cgi = spawn(httpBackendPath, [], { env, stdio: ["pipe", "pipe", "pipe"] })
  req.pipe(cgi.stdin)
  cgi.stdin.on("error", () => undefined)
  cgi.stderr.resume()
  let head = Buffer.alloc(0)
  let headersSent = false
  cgi.stdout.on("data", (chunk) => {
    if (headersSent) {
      res.write(chunk)
      return
    }
    head = Buffer.concat([head, chunk])
    const end = headerEnd(head)
    if (end === undefined) {
      return
    }
    let status = 200
    const headers = {}
    for (const line of head.subarray(0, end.at).toString("latin1").split(/\r?\n/)) {
      const colon = line.indexOf(":")
      if (colon <= 0) {
        continue
      }
      const name = line.slice(0, colon).trim()
      const value = line.slice(colon + 1).trim()
      if (name.toLowerCase() === "status") {
        status = Number.parseInt(value, 10) || 200
      } else {
        headers[name] = value
      }
    }
    res.writeHead(status, headers)
    record(status)
    headersSent = true
    const rest = head.subarray(end.at + end.length)
    if (rest.length > 0) {
      res.write(rest)
    }
  })
  cgi.on("close", () => {
    if (!headersSent) {
      record(500)
      res.writeHead(500, { "Content-Type": "text/plain" })
    }
    res.end()
  })
  cgi.on("error", () => {
    if (!headersSent) {
      headersSent = true
      record(500)
      res.writeHead(500, { "Content-Type": "text/plain" })
      res.end("git http-backend failed\n")
    }
  })
}
/** Starts the server (Promise API). */
export const start = (options) =>
  new Promise((resolve, reject) => {
    const requests = []
    const server = Http.createServer(handle(options, requests))
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      if (address === null || typeof address === "string") {
        reject(new Error("git http server: no TCP address"))
        return
      }
      const port = address.port
      const baseUrl = `http://127.0.0.1:${port}`
      resolve({
        baseUrl,
        root: options.root,
        url: (name) => `${baseUrl}/${name}`,
        requests,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections()
            server.close(() => done())
          })
      })
    })
  })
/** The server for the life of the scope. */
export const make = (options) =>
  Effect.acquireRelease(Effect.promise(() => start(options)), (server) => Effect.promise(() => server.close()))
// # sourceMappingURL=GitHttpServer.js.map
