// @first/server: an OpenAI-compatible HTTP server with per-request layer skipping.
export { createServer, type FirstServer, type ServerOptions } from "./server.js";
export { HttpError } from "./errors.js";
