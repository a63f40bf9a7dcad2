// A form-encoded POST as Grafana's (Go) client sends a query: a fresh connection, gzip accepted,
// timed from sending to the body's last byte. The bench clients time queries with it and parse
// (and gunzip) after the timing: that work is the client's, the same whichever server answered,
// and it shares the machine's two cores with the server (bench/README.md, "timed over node:http").
import http from 'node:http';
import zlib from 'node:zlib';

export interface FormReply {
  status: number;
  body: Buffer;
  gzipped: boolean;
  receivedMs: number;
}

/** POSTs a form over a fresh connection; the body's bytes as received, and the time to its last byte. */
export function postFormBytes(url: URL, form: string, timeoutMs: number): Promise<FormReply> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(
      {
        agent: false,
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        timeout: timeoutMs,
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(form)), 'accept-encoding': 'gzip' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const receivedMs = performance.now() - t0;
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), gzipped: res.headers['content-encoding'] === 'gzip', receivedMs });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(form);
  });
}

/** The body as text, gunzipped when it came gzipped; its first `chars` characters if given. */
export function bodyText(r: FormReply, chars?: number): string {
  const bytes = r.gzipped ? zlib.gunzipSync(r.body) : r.body;
  return chars === undefined ? bytes.toString('utf8') : bytes.toString('utf8', 0, chars);
}

/**
 * A timed query: ms from sending the form to the answer's last byte. The answer is then only
 * checked to be a success (outside the timing); otherwise this throws with `what`, the status
 * and the start of the body.
 */
export async function timedFormPost(url: URL, form: string, timeoutMs: number, what: string): Promise<number> {
  const r = await postFormBytes(url, form, timeoutMs);
  const text = bodyText(r, 300);
  if (r.status !== 200 || !text.startsWith('{"status":"success"')) throw new Error(`${what}HTTP ${r.status}: ${text}`);
  return r.receivedMs;
}
