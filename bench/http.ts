/** A keep-alive JSON HTTP client for the benchmarks that drive the service over HTTP. */
import { Agent, request } from "node:http"

export const agent = new Agent({ keepAlive: true, maxSockets: 64 })

export const call = (base: string, method: string, path: string, body?: unknown) =>
  new Promise<{ readonly status: number; readonly body: unknown }>((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const req = request(`${base}${path}`, {
      method,
      agent,
      headers: payload === undefined ? {} : { "content-type": "application/json", "content-length": payload.length }
    }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (chunk: Buffer) => chunks.push(chunk))
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString()
        resolve({ status: res.statusCode ?? 0, body: text === "" ? null : JSON.parse(text) })
      })
      res.on("error", reject)
    })
    req.on("error", reject)
    req.end(payload)
  })

/** `body[key]` when `body` is an object holding it. */
export const field = (body: unknown, key: string): unknown => {
  if (typeof body !== "object" || body === null) return undefined
  const value: unknown = Reflect.get(body, key)
  return value
}
