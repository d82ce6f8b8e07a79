// Command-line parsing shared by every bench script (node:util parseArgs, strict): `--help` prints the usage and exits
// 0 before the script touches the GPU or any file; an unknown flag or a missing value is an error (exit 2) naming it.
// Scripts call parseBenchArgs first, before Device.create.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export interface BenchOptionSpec {
  type: 'string' | 'boolean';
  /** One line of help; for string options say the value's form and the default. */
  help: string;
  /** Placeholder shown in the usage for string options, e.g. 'LIST'. */
  value?: string;
  short?: string;
}

export interface BenchCli {
  /** e.g. 'npm run bench:kernels --' or 'node --import tsx bench/matmul.ts'. */
  command: string;
  /** What the script does, a few lines. */
  summary: string;
  options: Record<string, BenchOptionSpec>;
}

export interface BenchArgs {
  flag(name: string): boolean;
  str(name: string): string | undefined;
  /** A comma-separated string option as a list (undefined when absent). */
  list(name: string): string[] | undefined;
  /** A numeric string option; throws a clear error when it is not a finite number. */
  num(name: string, fallback: number): number;
  /** The arguments as given, for printing the command line next to the results. */
  argv: string[];
}

/** The usage text (also what --help prints). */
export function benchUsage(cli: BenchCli): string {
  const rows = Object.entries(cli.options).map(([name, o]) => [
    `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`,
    o.help,
  ]);
  rows.push(['-h, --help', 'print this help and exit (touches neither the GPU nor any file)']);
  const w = Math.max(...rows.map((r) => r[0]!.length)) + 2;
  return `usage: ${cli.command} [options]\n${cli.summary.replace(/^/gm, '  ')}\n\noptions:\n${rows.map(([a, b]) => `  ${a!.padEnd(w)}${b}`).join('\n')}`;
}

/** The script's short name for messages: 'bench:kernels' or 'bench/matmul.ts'. */
const shortName = (cli: BenchCli) => /bench[:/][\w.:-]+/.exec(cli.command)?.[0] ?? cli.command;

/** Parses `argv` (default: process.argv after the script) or exits: 0 after --help, 2 on a bad argument. */
export function parseBenchArgs(cli: BenchCli, argv = process.argv.slice(2)): BenchArgs {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, o] of Object.entries(cli.options)) options[name] = o.short ? { type: o.type, short: o.short } : { type: o.type };
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (err) {
    console.error(`${shortName(cli)}: ${(err as Error).message}\nRun with --help for the options.`);
    process.exit(2);
  }
  if (values.help) {
    console.log(benchUsage(cli));
    process.exit(0);
  }
  const str = (name: string) => {
    const v = values[name];
    return typeof v === 'string' ? v : undefined;
  };
  return {
    argv,
    flag: (name) => values[name] === true,
    str,
    list: (name) => str(name)?.split(',').map((s) => s.trim()).filter(Boolean),
    num: (name, fallback) => {
      const v = str(name);
      if (v === undefined) return fallback;
      const n = Number(v);
      if (!Number.isFinite(n)) {
        console.error(`${shortName(cli)}: --${name} ${v}: expected a number.`);
        process.exit(2);
      }
      return n;
    },
  };
}

/** Checks that every name in `only` is one of `known`; exits 2 naming the unknown ones and the choices. */
export function checkOnly(what: string, only: string[] | undefined, known: readonly string[]): void {
  const bad = (only ?? []).filter((n) => !known.includes(n));
  if (bad.length) {
    console.error(`--only ${bad.join(',')}: unknown ${what}; choose from ${[...new Set(known)].join(', ')}.`);
    process.exit(2);
  }
}

/**
 * Runs `node scripts/setup.mjs --quiet ...flags` (adapter probe; --torch installs python3-torch with OpenBLAS) once the
 * arguments are known to be good, so `--help` never reaches it; exits with its status when it fails.
 */
export function runSetup(flags: string[]): void {
  const script = fileURLToPath(new URL('../scripts/setup.mjs', import.meta.url));
  const r = spawnSync(process.execPath, [script, '--quiet', ...flags], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
