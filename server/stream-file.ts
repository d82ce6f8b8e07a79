// Serving a file that is still being written (the growing fragmented MP4 of a DualParal job): a chunked response that
// follows it until its writer is done (tail -f), or the byte range present now (206 with an unknown total, "*").
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from './http-util.js';

const POLL_MS = 100;

async function sizeOf(path: string): Promise<number | null> {
  return (await stat(path).catch(() => null))?.size ?? null;
}

/** Pipes bytes [start, end) of `path` into `res` without ending it. */
function pipeRange(path: string, res: ServerResponse, start: number, end: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (end <= start) return resolve();
    const rs = createReadStream(path, { start, end: end - 1 });
    rs.on('error', reject);
    rs.on('end', () => resolve());
    rs.pipe(res, { end: false });
  });
}

/**
 * 200, chunked: the file's bytes as they appear, until `writing()` turns false (then the rest, and the end). A file
 * that disappears (the job failed and its folder was removed) ends the response early; so does a client that leaves.
 */
export async function tailGrowingFile(req: IncomingMessage, res: ServerResponse, path: string, writing: () => boolean, headers: Record<string, string>): Promise<void> {
  res.writeHead(200, headers);
  if (req.method === 'HEAD') return void res.end();
  let gone = false;
  res.on('close', () => (gone = true));
  let sent = 0;
  for (;;) {
    const more = writing();
    const size = await sizeOf(path);
    if (size === null || gone) break;
    if (size > sent) {
      await pipeRange(path, res, sent, size);
      sent = size;
    }
    if (!more) break;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  res.end();
}

/** 206 with the bytes of "bytes=a-" / "bytes=a-b" present now (Content-Range total "*": the file still grows). */
export async function sendGrowingRange(req: IncomingMessage, res: ServerResponse, path: string, range: string, headers: Record<string, string>): Promise<void> {
  const m = /^bytes=(\d{1,15})-(\d{0,15})$/.exec(range.trim());
  if (!m) throw new HttpError(416, 'bad_range', `Range ${JSON.stringify(range.slice(0, 64))}: a growing video takes one range "bytes=<from>-" or "bytes=<from>-<to>"`);
  const size = await sizeOf(path);
  if (size === null) throw new HttpError(404, 'not_found', 'the streamed video is gone (the job ended without a video)');
  const start = Number(m[1]);
  const end = Math.min(m[2] ? Number(m[2]) + 1 : size, size);
  if (start >= end) {
    throw new HttpError(416, 'range_not_satisfiable', `the video has ${size} bytes so far; bytes from ${start} are not there yet (the next block's 'block' event gives the new size)`, {}, { 'Content-Range': `bytes */${size}` });
  }
  res.writeHead(206, { ...headers, 'Content-Range': `bytes ${start}-${end - 1}/*`, 'Content-Length': String(end - start), 'Accept-Ranges': 'bytes' });
  if (req.method === 'HEAD') return void res.end();
  await pipeRange(path, res, start, end);
  res.end();
}

/**
 * The size of `path` once it exceeds `than` bytes (ffmpeg writes a block's fragment shortly after the frames reached
 * its pipe), or its size after `timeoutMs` whatever it is (0 when missing).
 */
export async function sizeAfterGrowth(path: string, than: number, timeoutMs: number): Promise<number> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const size = (await sizeOf(path)) ?? 0;
    if (size > than || Date.now() >= end) return size;
    await new Promise((r) => setTimeout(r, 20));
  }
}
