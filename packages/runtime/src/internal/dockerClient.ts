/**
 * dockerode plumbing for the docker sandbox: the client from configuration, status-code guards,
 * the exec stream demultiplexer and the in-container exec wrapper.
 */
import Docker from "dockerode"
import { Option } from "effect"
import { StringDecoder } from "node:string_decoder"
import type { SandboxSettings } from "../Sandbox.js"

export const makeClient = (settings: Pick<SandboxSettings, "dockerHost" | "dockerSocket">): Docker => {
  const host = Option.getOrUndefined(settings.dockerHost)
  if (host !== undefined && host.length > 0) {
    if (host.startsWith("unix://")) return new Docker({ socketPath: host.slice("unix://".length) })
    const url = new URL(host.replace(/^tcp:/, "http:"))
    return new Docker({ host: url.hostname, port: url.port === "" ? 2375 : Number(url.port), protocol: "http" })
  }
  return new Docker({ socketPath: settings.dockerSocket })
}

/** The HTTP status of a dockerode error, if it has one. */
export const statusOf = (error: unknown): number | undefined =>
  typeof error === "object" && error !== null && "statusCode" in error && typeof error.statusCode === "number"
    ? error.statusCode
    : undefined

export const messageOf = (error: unknown): string => {
  if (typeof error === "object" && error !== null) {
    if ("json" in error && typeof error.json === "object" && error.json !== null && "message" in error.json) {
      const m = error.json.message
      if (typeof m === "string") return m
    }
    if ("message" in error && typeof error.message === "string") return error.message
  }
  return String(error)
}

/**
 * Splits Docker's multiplexed exec stream (8-byte headers: stream type, 0, 0, 0, big-endian length)
 * into decoded text chunks, in arrival order.
 */
export const makeDemuxer = (onChunk: (stream: "stdout" | "stderr", text: string) => void) => {
  let buffer: Buffer = Buffer.alloc(0)
  const decoders = { stdout: new StringDecoder("utf8"), stderr: new StringDecoder("utf8") }
  return {
    push: (data: Buffer) => {
      buffer = buffer.length === 0 ? data : Buffer.concat([buffer, data])
      while (buffer.length >= 8) {
        const type = buffer.readUInt8(0)
        const length = buffer.readUInt32BE(4)
        if (buffer.length < 8 + length) break
        const payload = buffer.subarray(8, 8 + length)
        buffer = buffer.subarray(8 + length)
        const stream = type === 2 ? "stderr" : "stdout"
        const text = decoders[stream].write(payload)
        if (text.length > 0) onChunk(stream, text)
      }
    },
    end: () => {
      for (const stream of ["stdout", "stderr"] as const) {
        const rest = decoders[stream].end()
        if (rest.length > 0) onChunk(stream, rest)
      }
    }
  }
}

/**
 * A shell function, `sweep PGID`: kills the process group PGID (an exec's command; may be empty) and
 * every orphan — a process whose parent is init: what a command detached with `setsid`, `nohup … &`
 * or a double fork — except the oldest one, the egress forwarder (the container's main process,
 * started before any exec; an orphan is always younger). Execs still running (children of a
 * process docker exec started, parent 0) and their children are left alone. Each round waits until
 * what it killed is dead, so that their children, re-parented to init, are found in the next;
 * returns 1 when processes were still left after ~2 s (a fork bomb).
 * Fields of /proc/PID/stat after the command name: $1 state, $2 ppid, $3 pgrp, $20 starttime.
 */
const sweepFunction = [
  "sweep() {",
  "  pg=$1; n=0",
  "  while :; do",
  "    [ -n \"$pg\" ] && kill -9 -\"$pg\" 2>/dev/null",
  "    busy=0; fwd=; first=; doomed=",
  "    for s in /proc/[0-9]*/stat; do",
  "      { read -r line < \"$s\"; } 2>/dev/null || continue",
  "      p=${line%% *}",
  "      set -- ${line##*) }",
  "      [ \"$1\" = Z ] && continue",
  "      if [ -n \"$pg\" ] && [ \"$3\" = \"$pg\" ]; then busy=1; continue; fi",
  "      [ \"$2\" = 1 ] || continue",
  "      if [ -z \"$fwd\" ] || [ \"${20}\" -lt \"$first\" ]; then",
  "        [ -n \"$fwd\" ] && doomed=\"$doomed $fwd\"",
  "        fwd=$p; first=${20}",
  "      else",
  "        doomed=\"$doomed $p\"",
  "      fi",
  "    done",
  "    if [ -n \"$doomed\" ]; then kill -9 $doomed 2>/dev/null; busy=1; fi",
  "    [ $busy = 0 ] && return 0",
  "    n=$((n+1)); [ $n -gt 100 ] && return 1",
  "    sleep 0.02",
  "  done",
  "}"
].join("\n")

/**
 * Every command runs under this wrapper: `setsid` makes the command lead its own process group,
 * whose id is written to the pid file so a timeout or a stop can kill the whole tree; when the
 * command ends, its group and every process it detached are killed before the exec returns (no
 * process outlives its command to write the work tree later).
 * argv: sh -c WRAPPER devteam-exec PIDFILE COMMAND ARGS…
 */
export const execWrapper = [
  "command -v \"$2\" >/dev/null 2>&1 || { echo \"sandbox: command not found: $2\" >&2; exit 127; }",
  "pidfile=\"$1\"; shift",
  "setsid \"$@\" & child=$!",
  "echo \"$child\" > \"$pidfile\"",
  "wait \"$child\"; rc=$?",
  sweepFunction,
  "sweep \"$child\"",
  "rm -f \"$pidfile\"",
  "exit $rc"
].join("\n")

/**
 * Kills the process group recorded in the pid file ($1) and the orphans (`sweep`), and waits until
 * none is left: exit 0, or exit 1 when that did not happen within ~2 s.
 */
export const killScript = [
  sweepFunction,
  "i=0",
  "while [ ! -s \"$1\" ] && [ $i -lt 20 ]; do sleep 0.05; i=$((i+1)); done",
  "pg=$(cat \"$1\" 2>/dev/null) || pg=",
  "sweep \"$pg\""
].join("\n")

/** Kills the orphans (`sweep` without a group): after an exec whose wrapper may not have ended normally. */
export const sweepScript = [sweepFunction, "sweep \"\""].join("\n")
