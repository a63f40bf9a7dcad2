// `npm run bench`: the ingest, storage and query benchmark against the real server. Flags pick
// the scenario (bench/lib/args.ts); the report goes to stdout (a table) and
// bench/results/<timestamp>.json.
import fs from 'node:fs';
import path from 'node:path';
import { runBench } from './lib/run-bench.js';
import { HELP, parseBenchArgs } from './lib/args.js';
import { formatReport } from './lib/report.js';
import { resultsDir } from './lib/paths.js';
import { note } from './lib/progress.js';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const { options, out, help } = parseBenchArgs(argv);
  if (help) {
    process.stdout.write(HELP);
    return;
  }
  options.command = ['npm run bench', ...(argv.length > 0 ? ['--', ...argv] : [])].join(' ');
  const report = await runBench(options);
  process.stdout.write(formatReport(report));
  const file = out ?? path.join(resultsDir(), `${report.startedAt.replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  note(`report saved to ${file}`, options.quiet);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
