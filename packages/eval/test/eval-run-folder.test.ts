// An evaluation folder remembers the settings its examples were made with:
// resuming reuses them only under the same settings.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, onTestFinished } from "vitest";
import { InvalidOptionError } from "@first/core";
import { checkpointIdentity, claimRunFolder } from "../src/run-folder.js";

let dir = "";
afterEach(() => rmSync(dir, { recursive: true, force: true }));
const tmp = () => (dir = mkdtempSync(join(os.tmpdir(), "first-run-folder-")));

describe("claimRunFolder", () => {
  it("keeps the examples of the same settings, clears or refuses other ones", () => {
    const run = join(tmp(), "run");
    claimRunFolder(run, { model: "m", lora: { sha: "a" } }, "refuse");
    writeFileSync(join(run, "examples.jsonl"), '{"id":"1"}\n');
    claimRunFolder(run, { model: "m", lora: { sha: "a" } }, "refuse");
    expect(readFileSync(join(run, "examples.jsonl"), "utf8")).toBe('{"id":"1"}\n');

    expect(() => claimRunFolder(run, { model: "m", lora: { sha: "b" } }, "refuse")).toThrow(InvalidOptionError);
    expect(() => claimRunFolder(run, { model: "m", lora: { sha: "b" } }, "refuse")).toThrow(/holds results made with other settings \(\{"model":"m","lora":\{"sha":"a"\}\}\)/);
    expect(existsSync(join(run, "examples.jsonl"))).toBe(true);

    claimRunFolder(run, { model: "m", lora: { sha: "b" } }, "clear");
    expect(existsSync(join(run, "examples.jsonl"))).toBe(false);
    expect(JSON.parse(readFileSync(join(run, "settings.json"), "utf8"))).toEqual({ model: "m", lora: { sha: "b" } });
  });

  it("refuses examples without recorded settings; takes an empty folder", () => {
    const old = join(tmp(), "old");
    mkdirSync(old);
    writeFileSync(join(old, "examples.jsonl"), "{}\n");
    expect(() => claimRunFolder(old, { model: "m" }, "refuse")).toThrow(/unrecorded/);
    const empty = join(dir, "empty");
    mkdirSync(empty);
    claimRunFolder(empty, { model: "m" }, "refuse");
    expect(readFileSync(join(empty, "settings.json"), "utf8")).toBe('{"model":"m"}\n');
  });
});

describe("checkpointIdentity", () => {
  it("hashes each file of the folder (sha256), not the subfolders", async () => {
    const d = tmp();
    const home = process.env.FIRST_HOME;
    process.env.FIRST_HOME = join(d, "home"); // the hash cache goes there, not to the user's
    onTestFinished(() => (home === undefined ? delete process.env.FIRST_HOME : (process.env.FIRST_HOME = home)));
    writeFileSync(join(d, "router.json"), "abc");
    mkdirSync(join(d, "lora"));
    writeFileSync(join(d, "lora", "x"), "y");
    // sha256("abc"), from FIPS 180-2's example.
    expect(await checkpointIdentity(d)).toEqual({ path: d, files: { "router.json": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" } });
  });
});
