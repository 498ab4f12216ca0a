// Events a pull reports while it works, for progress bars and logs.

export type PullProgress =
  /** A source is being tried. */
  | { type: "source"; source: string }
  /** Bytes of the file so far; `startBytes` were already there (a resumed download). */
  | { type: "bytes"; source: string; bytes: number; totalBytes?: number; startBytes: number }
  /** The finished file's checksum is being computed. */
  | { type: "verify"; source: string }
  /** A source failed; the next one will be tried. */
  | { type: "source-failed"; source: string; message: string };

export type PullProgressListener = (event: PullProgress) => void;
