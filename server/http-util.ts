// Small HTTP helpers on node:http: JSON replies and errors, bounded JSON body reading (413/415/400),
// single-range parsing (RFC 9110) and streaming a file with Range support.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname } from 'node:path';
import { pipeline } from 'node:stream/promises';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** Error body: { error: message, code, ...extra } (extra carries e.g. `fields` for validation errors). */
export function sendError(res: ServerResponse, err: HttpError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, err.status, { error: err.message, code: err.code, ...err.extra }, err.headers);
}

/**
 * The raw response for an error node:http raises before a request exists (its 'clientError' event), in the
 * API's JSON error shape: 408 for the header/request timeouts, 431 for an oversized header block, 400 otherwise.
 */
export function connectionErrorResponse(code: string | undefined, cfg: { headersTimeoutMs: number; requestTimeoutMs: number; maxHeaderBytes: number }): string {
  let status = 400;
  let reason = 'Bad Request';
  let body: { error: string; code: string };
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    reason = 'Request Timeout';
    body = { code: 'request_timeout', error: `request not received in time: headers must arrive within ${cfg.headersTimeoutMs} ms and the whole request within ${cfg.requestTimeoutMs} ms` };
  } else if (code === 'HPE_HEADER_OVERFLOW') {
    status = 431;
    reason = 'Request Header Fields Too Large';
    body = { code: 'headers_too_large', error: `request headers exceed ${cfg.maxHeaderBytes} bytes; send fewer or smaller headers (cookies?)` };
  } else {
    body = { code: 'bad_request', error: `malformed HTTP request${code ? ` (${code})` : ''}` };
  }
  const text = JSON.stringify(body);
  return (
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\n` +
    `Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${text}`
  );
}

/** Reads a JSON body of at most `limit` bytes. 415 unless JSON content type, 413 if larger, 400 if malformed. */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json') {
    throw new HttpError(415, 'unsupported_media_type', `Content-Type must be application/json (got ${type || 'none'})`);
  }
  const tooLarge = () => new HttpError(413, 'payload_too_large', `request body exceeds ${limit} bytes`, {}, { Connection: 'close' });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw tooLarge();
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof HttpError) throw err;
    // The client went away mid-upload (ECONNRESET / aborted): nothing to answer, not a server error.
    throw new HttpError(400, 'incomplete_body', 'request body ended early (client disconnected)');
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new HttpError(400, 'bad_json', 'request body is empty; send a JSON object');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, 'bad_json', `request body is not valid JSON: ${(err as Error).message}`);
  }
}

export type RangeResult = { start: number; end: number } | 'unsatisfiable' | null;

/**
 * Parses a Range header for a resource of `size` bytes. Returns null (serve the whole file) when absent,
 * not bytes, malformed or multi-range; 'unsatisfiable' for ranges starting past the end.
 */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return null;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.mp4': 'video/mp4',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

export function contentTypeFor(path: string): string {
  return TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/** Streams a file (GET or HEAD) with Accept-Ranges/Range/206/416 handling. `path` must already be vetted. */
export async function serveFile(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  headers: Record<string, string> = {},
): Promise<void> {
  const st = await stat(path).catch(() => null);
  if (!st?.isFile()) throw new HttpError(404, 'not_found', 'file not found');
  const size = st.size;
  const range = parseRange(req.headers.range, size);
  const base = {
    'Content-Type': contentTypeFor(path),
    'Accept-Ranges': 'bytes',
    'Last-Modified': st.mtime.toUTCString(),
    ...headers,
  };
  if (range === 'unsatisfiable') {
    throw new HttpError(416, 'range_not_satisfiable', `range ${req.headers.range} is outside the file (${size} bytes)`, {}, {
      'Content-Range': `bytes */${size}`,
    });
  }
  const { start, end } = range ?? { start: 0, end: size - 1 };
  const length = size === 0 ? 0 : end - start + 1;
  if (range) res.writeHead(206, { ...base, 'Content-Length': length, 'Content-Range': `bytes ${start}-${end}/${size}` });
  else res.writeHead(200, { ...base, 'Content-Length': length });
  if (req.method === 'HEAD' || length === 0) {
    res.end();
    return;
  }
  try {
    await pipeline(createReadStream(path, { start, end }), res);
  } catch {
    // Client went away mid-transfer: nothing to report, the socket is already closed.
  }
}
