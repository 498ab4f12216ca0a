// A description of the machine a benchmark ran on, for the JSON results.
import { readFileSync } from "node:fs";
import os from "node:os";

export interface MachineInfo {
  cpuModel: string;
  logicalCpus: number;
  physicalCores: number | null;
  /** SIMD features the kernels care about, as /proc/cpuinfo lists them. */
  cpuFlags: string[];
  memoryGiB: number;
  os: string;
  kernel: string;
  arch: string;
  node: string;
  /** 1-minute load average when the run started: other work on the machine skews figures. */
  loadAverage1m: number;
}

const SIMD_FLAGS = ["sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni", "amx_tile"];

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** Distinct (physical id, core id) pairs in /proc/cpuinfo; null where it does not say. */
function physicalCores(cpuinfo: string): number | null {
  const cores = new Set<string>();
  for (const block of cpuinfo.split(/\n\s*\n/)) {
    const pkg = /^physical id\s*:\s*(\d+)/m.exec(block)?.[1];
    const core = /^core id\s*:\s*(\d+)/m.exec(block)?.[1];
    if (pkg !== undefined && core !== undefined) cores.add(`${pkg}:${core}`);
  }
  return cores.size > 0 ? cores.size : null;
}

export function describeMachine(): MachineInfo {
  const cpuinfo = readText("/proc/cpuinfo");
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? "unknown";
  const flags = new Set((/^flags\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? "").split(/\s+/));
  const release = /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(readText("/etc/os-release"))?.[1];
  return {
    cpuModel: model,
    logicalCpus: os.availableParallelism(),
    physicalCores: physicalCores(cpuinfo),
    cpuFlags: SIMD_FLAGS.filter((f) => flags.has(f)),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: release ?? `${os.type()} ${os.release()}`,
    kernel: `${os.type()} ${os.release()}`,
    arch: process.arch,
    node: process.version,
    loadAverage1m: Math.round(os.loadavg()[0] * 100) / 100,
  };
}
