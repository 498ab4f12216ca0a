// Errors in OpenAI's shape: {"error": {"message", "type", "param", "code"}}.

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const badRequest = (message: string, param: string | null = null, code: string | null = null) =>
  new HttpError(400, message, "invalid_request_error", param, code);

export const unauthorized = () =>
  new HttpError(401, "Invalid or missing API key (send it as 'Authorization: Bearer KEY').", "invalid_request_error", null, "invalid_api_key");

export const notFound = (message: string, param: string | null = null) =>
  new HttpError(404, message, "invalid_request_error", param, "model_not_found");

export const unavailable = (message: string, retryAfterS: number) =>
  new HttpError(503, message, "server_error", null, "server_busy", { "retry-after": String(retryAfterS) });
