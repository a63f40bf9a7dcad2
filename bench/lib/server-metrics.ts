// Reads the server's own /metrics and sums each metric over its label sets.
import { parsePromText } from './prom-text.js';

export async function scrapeServerMetrics(baseUrl: string): Promise<Map<string, number>> {
  const res = await fetch(new URL('/metrics', baseUrl));
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const out = new Map<string, number>();
  for (const s of parsePromText(await res.text()).samples) out.set(s.name, (out.get(s.name) ?? 0) + s.value);
  return out;
}
