// Resumable HTTP download into the model cache. Bytes go to `<dest>.part`,
// which a later run continues with a Range request; the file is renamed to
// `dest` only after its size and sha256 check out.
import { createWriteStream } from "node:fs";
import fs from "node:fs/promises";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import { AbortedError, DownloadError, FirstError } from "../errors.js";
import { fileSize, partPathFor, removeQuietly, sha256File } from "./files.js";

export interface DownloadOptions {
  headers?: Record<string, string>;
  /** Expected size; a mismatch fails the download. */
  bytes?: number;
  /** Expected sha256 (hex); a mismatch fails the download and drops the partial file. */
  sha256?: string;
  /** Time allowed for the server to answer with headers. */
  connectTimeoutMs?: number;
  /** Time allowed without receiving any bytes once the body flows. */
  idleTimeoutMs?: number;
  signal?: AbortSignal;
  onBytes?: (bytes: number, totalBytes: number | undefined, startBytes: number) => void;
  onVerify?: () => void;
}

export interface DownloadResult {
  bytes: number;
  sha256: string;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

export async function downloadFile(url: string, dest: string, options: DownloadOptions = {}): Promise<DownloadResult> {
  const part = partPathFor(dest);
  let have = (await fileSize(part)) ?? 0;
  if (options.bytes !== undefined && have > options.bytes) {
    await removeQuietly(part);
    have = 0;
  }
  if (options.bytes === undefined || have < options.bytes) {
    await fetchInto(url, part, have, options);
  }

  const size = (await fileSize(part)) ?? 0;
  if (options.bytes !== undefined && size !== options.bytes) {
    await removeQuietly(part);
    throw new DownloadError(`download of ${url} gave ${size} bytes, expected ${options.bytes}`, { url });
  }
  options.onVerify?.();
  const sha256 = await sha256File(part, options.signal).catch((err) => {
    throw normalizeError(err, url, options.signal);
  });
  if (options.sha256 !== undefined && sha256 !== options.sha256.toLowerCase()) {
    await removeQuietly(part);
    throw new DownloadError(`download of ${url} has sha256 ${sha256}, expected ${options.sha256}; the partial file was removed`, { url });
  }
  await fs.rename(part, dest);
  return { bytes: size, sha256 };
}

/** Appends the rest of the file at `url` to `part`, which already holds `have` bytes. */
async function fetchInto(url: string, part: string, have: number, options: DownloadOptions): Promise<void> {
  const host = new URL(url).host;
  const connectMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) throw new AbortedError("download aborted");
  options.signal?.addEventListener("abort", onOuterAbort, { once: true });

  let timer = setTimeout(
    () => controller.abort(new DownloadError(`no answer from ${host} within ${connectMs / 1000} s`, { url })),
    connectMs,
  );
  const armIdleTimer = () => {
    clearTimeout(timer);
    timer = setTimeout(
      () => controller.abort(new DownloadError(`download from ${host} stalled: no data for ${idleMs / 1000} s`, { url })),
      idleMs,
    );
  };

  try {
    const headers: Record<string, string> = { "accept-encoding": "identity", ...options.headers };
    if (have > 0) headers.range = `bytes=${have}-`;
    const res = await fetch(url, { headers, signal: controller.signal, redirect: "follow" });

    if (res.status === 416 && have > 0) {
      // The partial file does not fit the remote file any more: start over.
      await res.body?.cancel();
      await removeQuietly(part);
      clearTimeout(timer);
      return await fetchInto(url, part, 0, options);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new DownloadError(`download of ${url} failed: HTTP ${res.status} ${res.statusText}`.trimEnd(), {
        url,
        status: res.status,
      });
    }

    let startBytes = 0;
    let totalBytes: number | undefined;
    if (res.status === 206) {
      const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.headers.get("content-range") ?? "");
      if (range === null || Number(range[1]) !== have) {
        // A range we did not ask for: drop what we have and fetch it whole.
        await res.body?.cancel();
        await removeQuietly(part);
        clearTimeout(timer);
        return await fetchInto(url, part, 0, options);
      }
      startBytes = have;
      totalBytes = range[2] === "*" ? undefined : Number(range[2]);
    } else {
      const length = res.headers.get("content-length");
      totalBytes = length !== null && !res.headers.get("content-encoding") ? Number(length) : undefined;
    }
    if (totalBytes === undefined && options.bytes !== undefined) totalBytes = options.bytes;
    if (res.body === null) throw new DownloadError(`download of ${url} failed: empty response`, { url });

    let bytes = startBytes;
    options.onBytes?.(bytes, totalBytes, startBytes);
    armIdleTimer();
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        armIdleTimer();
        options.onBytes?.(bytes, totalBytes, startBytes);
        done(null, chunk);
      },
    });
    await pipeline(
      Readable.fromWeb(res.body as NodeReadableStream<Uint8Array>),
      counter,
      createWriteStream(part, { flags: startBytes > 0 ? "a" : "w" }),
      { signal: controller.signal },
    );
    if (totalBytes !== undefined && bytes !== totalBytes) {
      throw new DownloadError(`download of ${url} ended early at ${bytes} of ${totalBytes} bytes; run again to resume`, { url });
    }
  } catch (err) {
    throw normalizeError(err, url, options.signal, controller.signal);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onOuterAbort);
  }
}

function normalizeError(err: unknown, url: string, outer?: AbortSignal, inner?: AbortSignal): Error {
  if (outer?.aborted) return new AbortedError("download aborted; run again to resume");
  if (inner?.aborted && inner.reason instanceof FirstError) return inner.reason;
  if (err instanceof FirstError) return err;
  const cause = (err as { cause?: { message?: string } }).cause;
  const detail = [(err as Error).message, cause?.message].filter(Boolean).join(": ");
  return new DownloadError(`download of ${url} failed: ${detail}`, { url, cause: err });
}
