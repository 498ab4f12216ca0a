/**
 * Error classes of the project. Every error thrown on purpose by @first/core is a FirstError,
 * so callers can tell our failures apart from bugs with `instanceof FirstError` and branch on `code`.
 */

export type FirstErrorCode =
  | "INVALID_OPTION"
  | "MODEL_LOAD"
  | "MODEL_CLOSED"
  | "ENGINE"
  | "CONTEXT_LENGTH"
  | "KV_CAPACITY"
  | "ABORTED";

export class FirstError extends Error {
  readonly code: FirstErrorCode;

  constructor(code: FirstErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A caller-supplied option has a value outside its allowed range or of the wrong type. */
export class InvalidOptionError extends FirstError {
  /** Name of the offending option, e.g. "temperature". */
  readonly option: string;

  constructor(option: string, message: string) {
    super("INVALID_OPTION", `Invalid option "${option}": ${message}`);
    this.option = option;
  }
}

/** A model file (or its tokenizer metadata) is missing, unreadable or inconsistent. */
export class ModelLoadError extends FirstError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("MODEL_LOAD", message, options);
  }
}

/** A prompt plus the requested generation does not fit in the model's context window. */
export class ContextLengthError extends FirstError {
  readonly tokens: number;
  readonly limit: number;

  constructor(tokens: number, limit: number, message?: string) {
    super(
      "CONTEXT_LENGTH",
      message ?? `The input needs ${tokens} tokens but the context holds at most ${limit}.`,
    );
    this.tokens = tokens;
    this.limit = limit;
  }
}

/** The key/value cache has no room left for more positions. */
export class KvCapacityError extends FirstError {
  readonly requested: number;
  readonly capacity: number;

  constructor(requested: number, capacity: number, message?: string) {
    super(
      "KV_CAPACITY",
      message ?? `The KV cache needs ${requested} positions but has capacity for ${capacity}.`,
    );
    this.requested = requested;
    this.capacity = capacity;
  }
}

/** The engine failed while running a request (generation, scoring, calibration). */
export class EngineError extends FirstError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ENGINE", message, options);
  }
}

/** The model was closed before this call. */
export class ModelClosedError extends FirstError {
  constructor() {
    super("MODEL_CLOSED", "the model is closed");
  }
}

/** An operation was cancelled through an AbortSignal. */
export class AbortedError extends FirstError {
  constructor(message = "The operation was aborted.", options?: { cause?: unknown }) {
    super("ABORTED", message, options);
  }
}

/** A model named by path, alias or hf: source is not on disk (and was not pulled). */
export class ModelNotFoundError extends ModelLoadError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Fetching a model file failed: network, HTTP status, size or checksum mismatch, pip. */
export class DownloadError extends ModelLoadError {
  /** The URL that failed, when the failure was an HTTP download. */
  readonly url?: string;
  /** The HTTP status, when the server answered with an error. */
  readonly status?: number;

  constructor(message: string, options?: { url?: string; status?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.url = options?.url;
    this.status = options?.status;
  }
}
