// A byte-progress display on stderr. On a terminal it redraws one line
// (bar, bytes, rate, time left); otherwise it prints a plain line every few
// seconds, so logs stay readable.

export interface ProgressOptions {
  stream?: NodeJS.WriteStream;
  /** Force the terminal or the plain mode (default: whether the stream is a TTY). */
  tty?: boolean;
  /** Seconds between plain lines (default 5). */
  plainIntervalS?: number;
}

export interface ProgressBar {
  /** `bytes` so far of `total`; `startBytes` were there before we began (resumed), so they do not count towards the rate. */
  update(bytes: number, total?: number, startBytes?: number): void;
  /** Ends the display with a final line. */
  done(message?: string): void;
  /** Clears the line being redrawn, before other output. */
  clear(): void;
}

const REDRAW_MS = 100;

export function createProgressBar(label: string, options: ProgressOptions = {}): ProgressBar {
  const stream = options.stream ?? process.stderr;
  const tty = options.tty ?? stream.isTTY === true;
  const plainMs = (options.plainIntervalS ?? 5) * 1000;
  let started = 0;
  let base = 0;
  let lastDraw = 0;
  let drawn = false;
  let bytes = 0;
  let total: number | undefined;

  const line = () => {
    const elapsedS = (Date.now() - started) / 1000;
    const rate = elapsedS > 0.2 ? (bytes - base) / elapsedS : 0;
    const parts = [label];
    if (total !== undefined && total > 0) {
      const fraction = Math.min(1, bytes / total);
      if (tty) parts.push(bar(fraction, 24));
      parts.push(`${(fraction * 100).toFixed(0).padStart(3)}%`, `${formatBytes(bytes)}/${formatBytes(total)}`);
    } else {
      parts.push(formatBytes(bytes));
    }
    if (rate > 0) {
      parts.push(`${formatBytes(rate)}/s`);
      if (total !== undefined && total > bytes) parts.push(`ETA ${formatDuration((total - bytes) / rate)}`);
    }
    return parts.join("  ");
  };

  const draw = (force: boolean) => {
    const now = Date.now();
    if (!force && now - lastDraw < (tty ? REDRAW_MS : plainMs)) return;
    lastDraw = now;
    if (tty) {
      const columns = stream.columns ?? 100;
      stream.write(`\r${line().slice(0, columns - 1)}\x1b[K`);
      drawn = true;
    } else {
      stream.write(`${line()}\n`);
    }
  };

  return {
    update(b, t, startBytes = 0) {
      if (started === 0) {
        started = Date.now();
        base = startBytes;
        lastDraw = started;
      }
      bytes = b;
      total = t;
      draw(false);
    },
    done(message) {
      if (started !== 0) draw(true);
      if (tty && drawn) stream.write("\n");
      drawn = false;
      if (message !== undefined) stream.write(`${message}\n`);
    },
    clear() {
      if (tty && drawn) stream.write("\r\x1b[K");
      drawn = false;
    },
  };
}

function bar(fraction: number, width: number): string {
  const filled = Math.round(fraction * width);
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
}

export function formatBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return i === 0 ? `${Math.round(n)} B` : `${n.toFixed(n < 10 ? 2 : 1)} ${units[i]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}
