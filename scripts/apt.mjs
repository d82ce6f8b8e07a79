// Runs apt-get for scripts/setup.mjs without failing at once when another apt/dpkg process holds apt's lock: every
// call passes apt's own `-o DPkg::Lock::Timeout=N` (apt then waits for the dpkg lock itself), and a call that still
// ends on "Could not get lock" (apt-get update takes the lists lock, which older apt does not wait for) is retried
// until the same deadline. When it has to wait it says so on stderr, quiet mode included.
//
// Plain JavaScript like setup.mjs. Tested with a fake apt-get in test/scripts/apt.test.ts.

import { spawn } from 'node:child_process';

/** Seconds to wait for apt's lock: PARALLAX_APT_LOCK_TIMEOUT, default 600 (unattended upgrades can take minutes). */
export function lockTimeoutSeconds(env = process.env) {
  const v = Number(env.PARALLAX_APT_LOCK_TIMEOUT);
  return Number.isFinite(v) && v >= 0 ? Math.floor(v) : 600;
}

/** The apt-get arguments with the lock timeout option in front. */
export function aptGetArgs(argv, timeoutS) {
  return ['-o', `DPkg::Lock::Timeout=${timeoutS}`, ...argv];
}

const LOCK_RE = /Could not get lock|Unable to (?:lock|acquire the dpkg)|Waiting for cache lock/;

function runOnce(cmd, argv, env, quiet, errSink, onLockLine) {
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const watch = (stream, sink, keep) => {
      let rest = '';
      stream.on('data', (buf) => {
        const text = rest + buf.toString('utf8');
        const lines = text.split(/\r?\n|\r/);
        rest = lines.pop() ?? '';
        for (const line of lines) {
          if (LOCK_RE.test(line)) onLockLine(line);
          if (keep) stderr += `${line}\n`;
          if (sink) sink.write(`${line}\n`);
        }
      });
      stream.on('end', () => {
        if (!rest) return;
        if (LOCK_RE.test(rest)) onLockLine(rest);
        if (keep) stderr += rest;
        if (sink) sink.write(`${rest}\n`);
      });
    };
    watch(child.stdout, quiet ? null : process.stdout, false);
    watch(child.stderr, errSink, true);
    child.on('error', (e) => resolve({ status: 127, stderr: e.message }));
    child.on('close', (status) => resolve({ status: status ?? 1, stderr }));
  });
}

/**
 * Runs `apt-get <argv>` (with DPkg::Lock::Timeout) and returns its exit status; retries while it fails on apt's lock
 * and the deadline has not passed. opts: quiet, env, timeoutS, retryMs, log (one message line), command, stderr (where
 * apt-get's stderr goes, default process.stderr).
 */
export async function aptGet(argv, opts = {}) {
  const timeoutS = opts.timeoutS ?? lockTimeoutSeconds(opts.env);
  const retryMs = opts.retryMs ?? 5000;
  const log = opts.log ?? ((m) => console.error(`[setup] ${m}`));
  const cmd = opts.command ?? 'apt-get';
  const deadline = Date.now() + timeoutS * 1000;
  let said = false;
  const onLockLine = (line) => {
    if (said) return;
    said = true;
    log(`another apt/dpkg process holds apt's lock (${line.replace(/^E:\s*/, '').trim()}); waiting up to ${timeoutS} s for it (DPkg::Lock::Timeout=${timeoutS}, PARALLAX_APT_LOCK_TIMEOUT to change)`);
  };
  for (;;) {
    const r = await runOnce(cmd, aptGetArgs(argv, timeoutS), opts.env ?? process.env, opts.quiet ?? false, opts.stderr ?? process.stderr, onLockLine);
    if (r.status === 0) return 0;
    if (!LOCK_RE.test(r.stderr)) return r.status;
    if (Date.now() + retryMs > deadline) {
      log(`apt's lock was still held after ${timeoutS} s: wait for the other apt/dpkg process to finish (ps -C apt-get,apt,dpkg,unattended-upgr), then run setup again`);
      return r.status;
    }
    await new Promise((res) => setTimeout(res, retryMs));
  }
}
