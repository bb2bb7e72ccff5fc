export * as ExecutionQueue from "./ExecutionQueue.js"
