// `npm run bench:rollup`: the rollup pyramid benchmark of issue #5 (bench/lib/rollup-bench/).
// The table goes to stdout, progress to stderr, the full report to bench/results/rollup-<timestamp>.json.
import fs from 'node:fs';
import path from 'node:path';
import { resultsDir } from './lib/paths.js';
import { note } from './lib/progress.js';
import { ROLLUP_HELP, parseRollupArgs } from './lib/rollup-bench/args.js';
import { runRollupBench } from './lib/rollup-bench/run.js';
import { formatRollupReport } from './lib/rollup-bench/report.js';

async function main(): Promise<void> {
  const { options, help, out } = parseRollupArgs(process.argv.slice(2));
  if (help) {
    process.stdout.write(ROLLUP_HELP);
    return;
  }
  const report = await runRollupBench(options);
  process.stdout.write(formatRollupReport(report));
  const file = out ?? path.join(resultsDir(), `rollup-${report.startedAt.replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  note(`report saved to ${file}`, options.quiet);
}

main().catch((e: unknown) => {
  process.stderr.write(`rollup bench failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
