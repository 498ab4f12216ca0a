// At most `parallel` requests generate at once on a model; up to `queue` more
// wait in FIFO order; beyond that a request is refused (503) at once. A
// waiting request whose client goes away leaves the queue.
import { unavailable } from "./errors.js";

export class Admission {
  private running = 0;
  private readonly waiting: { grant: () => void; fail: (e: unknown) => void }[] = [];

  constructor(readonly parallel: number, readonly queue: number) {}

  get runningCount(): number {
    return this.running;
  }

  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Resolves with a release function once the request may run. */
  acquire(signal: AbortSignal): Promise<() => void> {
    const release = () => {
      this.running--;
      const next = this.waiting.shift();
      if (next) next.grant();
    };
    if (this.running < this.parallel && this.waiting.length === 0) {
      this.running++;
      return Promise.resolve(once(release));
    }
    if (this.waiting.length >= this.queue) return Promise.reject(unavailable("the server is at capacity: every slot is busy and the queue is full", 1));
    return new Promise((resolve, reject) => {
      const entry = {
        grant: () => {
          signal.removeEventListener("abort", onAbort);
          this.running++;
          resolve(once(release));
        },
        fail: reject,
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal.reason ?? new Error("aborted"));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  /** Refuses everything still waiting (shutdown). */
  drain(reason: unknown): void {
    for (const w of this.waiting.splice(0)) w.fail(reason);
  }
}

function once(f: () => void): () => void {
  let done = false;
  return () => {
    if (!done) {
      done = true;
      f();
    }
  };
}
