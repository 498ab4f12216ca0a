// Prometheus metrics of the server (GET /metrics), one registry per server.
import { Counter, Gauge, Histogram, Registry } from "prom-client";

export class ServerMetrics {
  readonly registry = new Registry();
  private histogram(name: string, help: string, buckets: number[]) {
    return new Histogram({ name, help, labelNames: ["model"], buckets, registers: [this.registry] });
  }
  readonly running = new Gauge({ name: "first_requests_running", help: "Requests generating now", labelNames: ["model"], registers: [this.registry] });
  readonly waiting = new Gauge({ name: "first_requests_waiting", help: "Requests waiting for a slot", labelNames: ["model"], registers: [this.registry] });
  readonly promptTokens = new Counter({ name: "first_prompt_tokens_total", help: "Prompt tokens processed", labelNames: ["model"], registers: [this.registry] });
  readonly generationTokens = new Counter({ name: "first_generation_tokens_total", help: "Tokens generated", labelNames: ["model"], registers: [this.registry] });
  readonly finished = new Counter({ name: "first_requests_total", help: "Finished requests by finish reason", labelNames: ["model", "finish_reason"], registers: [this.registry] });
  readonly ttft = this.histogram("first_time_to_first_token_seconds", "From admission to the first token", [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);
  readonly itl = this.histogram("first_inter_token_latency_seconds", "Between consecutive tokens of a request", [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1]);
  readonly e2e = this.histogram("first_request_latency_seconds", "From arrival to the last token", [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]);
  readonly queueTime = this.histogram("first_queue_time_seconds", "Waiting for a slot", [0, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30]);
  readonly executedLayers = this.histogram("first_executed_layers", "Decoder layers a request executed", [4, 8, 12, 16, 18, 20, 22, 24, 26, 28, 30, 32, 40, 64]);
  readonly layerSkips = new Counter({ name: "first_layer_skips_total", help: "Requests that skipped each layer", labelNames: ["model", "layer"], registers: [this.registry] });
  readonly kvBlocksUsed = new Gauge({ name: "first_kv_blocks_used", help: "KV cache blocks in use", labelNames: ["model"], registers: [this.registry] });
  readonly kvBlocksTotal = new Gauge({ name: "first_kv_blocks_total", help: "KV cache blocks in the pool", labelNames: ["model"], registers: [this.registry] });
  readonly preemptions = new Counter({ name: "first_preemptions_total", help: "Sequences whose KV blocks were taken back to be recomputed", labelNames: ["model"], registers: [this.registry] });
  readonly kvBytesSaved = new Counter({ name: "first_kv_bytes_saved_total", help: "KV cache bytes not used against the full model", labelNames: ["model"], registers: [this.registry] });
}
