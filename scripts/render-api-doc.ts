// Rewrites the generated route reference of docs/api.md from the HttpApi (`npm run docs:api`).
import { withGeneratedRoutes } from "@devteam/server/ApiDoc"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const file = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../docs/api.md")
Fs.writeFileSync(file, withGeneratedRoutes(Fs.readFileSync(file, "utf8")))
console.log(`wrote ${file}`)
