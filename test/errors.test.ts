// The error registry, its documentation and the HTTP mapping agree: every code in
// src/errors.ts has a row in docs/API.md with the same status and errorType, and no row
// documents a code that does not exist.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { ERROR_CODES, MochaError, type ErrorCode } from '../src/errors.js';

describe('error registry', () => {
  const doc = fs.readFileSync(new URL('../docs/API.md', import.meta.url), 'utf8');
  const rows = new Map<string, { status: number; errorType: string }>();
  for (const m of doc.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \| `?([a-z_]+)`? \|/gm)) rows.set(m[1]!, { status: Number(m[2]), errorType: m[3]! });

  it('documents every code with its status and errorType', () => {
    for (const [code, def] of Object.entries(ERROR_CODES)) {
      expect(rows.get(code), `docs/API.md has no row for ${code}`).toEqual({ status: def.status, errorType: def.errorType });
    }
    expect([...rows.keys()].filter((c) => !(c in ERROR_CODES))).toEqual([]);
  });

  it('MochaError carries the status and errorType of its code', () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      const e = new MochaError(code, 'x', { file: 'f', offset: 1 });
      expect(e.status).toBe(ERROR_CODES[code].status);
      expect(e.errorType).toBe(ERROR_CODES[code].errorType);
      expect(e.where).toEqual({ file: 'f', offset: 1 });
    }
  });
});
