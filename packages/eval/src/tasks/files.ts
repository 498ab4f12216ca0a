// Readers for the dataset files: JSON lines, plain lines, CSV, bzip2 text.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FirstError } from "@first/core";

/** Path of a file of a dataset folder; a clear error when it is missing. */
export function dataFile(dataDir: string, folder: string, name: string): string {
  const path = join(dataDir, folder, name);
  if (!existsSync(path)) throw new FirstError("INVALID_OPTION", `dataset file ${path} is missing (is ${dataDir} the datasets folder?)`);
  return path;
}

export function readJsonl<T = Record<string, unknown>>(path: string): T[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l.trim().length > 0)
    .map((l, i) => {
      try {
        return JSON.parse(l) as T;
      } catch (err) {
        throw new FirstError("INVALID_OPTION", `${path}:${i + 1}: not JSON (${(err as Error).message})`);
      }
    });
}

/** Lines of a text file without the final empty line. */
export function readLines(path: string): string[] {
  const lines = readFileSync(path, "utf8").split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** RFC 4180 CSV: quoted fields may hold commas, newlines and doubled quotes. The first row is the header. */
export function parseCsv(text: string): Record<string, string>[] {
  const rows: string[][] = [];
  let row: string[] = [];
  // One field and the separator after it; sticky, so fields are read back to back.
  const field = /(?:"((?:[^"]|"")*)"|([^,\r\n]*))(,|\r?\n|$)/y;
  while (field.lastIndex < text.length) {
    const m = field.exec(text);
    if (m === null) throw new FirstError("INVALID_OPTION", `malformed CSV near character ${field.lastIndex}`);
    row.push(m[1] !== undefined ? m[1].replaceAll('""', '"') : m[2]);
    if (m[3] !== ",") {
      rows.push(row);
      row = [];
      if (m[3] === "") break;
    }
  }
  const [header, ...body] = rows;
  return body.filter((r) => r.length === header.length).map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));
}

/** Decompressed text of a .bz2 file (through the system's bzip2). */
export function readBzip2(path: string): string {
  try {
    return execFileSync("bzip2", ["-dc", path], { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  } catch (err) {
    throw new FirstError("INVALID_OPTION", `cannot decompress ${path} (is bzip2 installed?): ${(err as Error).message}`);
  }
}

/** For sets with no training split. */
export function noTrainSplit(name: string, why = "it has no training split"): never {
  throw new FirstError("INVALID_OPTION", `${name} cannot be used for training: ${why}`);
}

/** Cuts text to at most `max` characters, at a word boundary, marking the cut. */
export function truncateText(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.lastIndexOf(" ", max);
  return `${text.slice(0, cut > max / 2 ? cut : max)} ...`;
}
