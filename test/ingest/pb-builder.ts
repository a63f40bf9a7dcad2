// Hand-built protobuf pieces for tests: lets a test write any field, in any order, with any
// wire type, including ones no encoder would emit (unknown fields, groups, overlong varints).

export function varint(v: number | bigint): Buffer {
  let x = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
  return Buffer.from(out);
}

export function tag(field: number, wireType: number): Buffer {
  return varint(field * 8 + wireType);
}

export function fieldVarint(field: number, v: number | bigint): Buffer {
  return Buffer.concat([tag(field, 0), varint(v)]);
}

export function fieldBytes(field: number, ...parts: Array<Buffer | string>): Buffer {
  const body = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p)));
  return Buffer.concat([tag(field, 2), varint(body.length), body]);
}

export function fieldDouble(field: number, v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v);
  return Buffer.concat([tag(field, 1), b]);
}

/** A double given by its raw 64 bits (hi, lo words), so NaN payloads are exact. */
export function fieldDoubleBits(field: number, hi: number, lo: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(lo >>> 0, 0);
  b.writeUInt32LE(hi >>> 0, 4);
  return Buffer.concat([tag(field, 1), b]);
}

export function fieldFixed32(field: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return Buffer.concat([tag(field, 5), b]);
}

export function fieldGroup(field: number, ...inner: Buffer[]): Buffer {
  return Buffer.concat([tag(field, 3), ...inner, tag(field, 4)]);
}

export function label(name: string | Buffer, value: string | Buffer): Buffer {
  const parts: Buffer[] = [];
  if (name.length > 0) parts.push(fieldBytes(1, name));
  if (value.length > 0) parts.push(fieldBytes(2, value));
  return fieldBytes(1, ...parts);
}

export function sample(value: number, timestampMs: number | bigint): Buffer {
  return fieldBytes(2, fieldDouble(1, value), fieldVarint(2, timestampMs));
}

/** A TimeSeries field of a WriteRequest from already-built inner fields. */
export function timeSeries(...inner: Buffer[]): Buffer {
  return fieldBytes(1, ...inner);
}

/** A TimeSeries from label pairs (in the given order) and [ts, value] samples. */
export function simpleSeries(labels: Array<[string | Buffer, string | Buffer]>, samples: Array<[number, number]> = [[1000, 1]]): Buffer {
  return timeSeries(...labels.map(([n, v]) => label(n, v)), ...samples.map(([t, v]) => sample(v, t)));
}
