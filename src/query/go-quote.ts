// Go's strconv.Quote (fmt's %q), which Prometheus uses in error messages, annotations and the
// text form of queries: one implementation for all of them.

/** Characters Go's strconv.IsPrint rejects (other than the space): categories C* and Z*. */
const GO_NOT_PRINTABLE = /^[\p{C}\p{Z}]$/u;

/** Go's %q of a string (strconv.Quote): escapes for quotes, controls and non-printable runes. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (c === 0x07) out += '\\a';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x0b) out += '\\v';
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else if (c >= 0xd800 && c <= 0xdfff) out += '\\ufffd'; // lone surrogate: has no UTF-8 form
    else if (c !== 0x20 && GO_NOT_PRINTABLE.test(ch)) {
      out += c > 0xffff ? '\\U' + c.toString(16).padStart(8, '0') : '\\u' + c.toString(16).padStart(4, '0');
    } else out += ch;
  }
  return out + '"';
}
