export * as Authentication from "./Authentication.js"
export * as Gateway from "./Gateway.js"
export * as HealthCheck from "./HealthCheck.js"
export * as ServerConfig from "./ServerConfig.js"
