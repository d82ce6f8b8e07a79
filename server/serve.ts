// What `parallax serve` calls once it has built its generators: start the server, print URL and token,
// and shut down cleanly (running jobs -> interrupted, queued kept) on SIGINT/SIGTERM.
import { startServer, type RunningServer, type ServerOptions } from './index.js';

export interface ServeOptions extends ServerOptions {
  /** Where the start banner goes (default console.log). */
  print?: (line: string) => void;
  /** Install SIGINT/SIGTERM handlers that close the server and exit (default true). */
  handleSignals?: boolean;
}

export async function serve(opts: ServeOptions): Promise<RunningServer> {
  const print = opts.print ?? ((line: string) => console.log(line));
  const server = await startServer(opts);
  print(`Parallax server listening on ${server.url} (${opts.generators.length} GPU group${opts.generators.length === 1 ? '' : 's'})`);
  const where = server.tokenFile ? `stored in ${server.tokenFile}` : `from ${server.tokenSource === 'env' ? 'PARALLAX_TOKEN' : 'the --token option'}`;
  print(`API token (${where}): ${server.token}`);
  print(`Use it as "Authorization: Bearer <token>" for POST/DELETE calls; API reference: docs/server.md`);
  if (server.recovered.interrupted > 0 || server.recovered.queued > 0) {
    print(`Recovered from the previous run: ${server.recovered.interrupted} interrupted job(s), ${server.recovered.queued} queued job(s) resumed`);
  }
  if (opts.handleSignals !== false) {
    const stop = (sig: string) => {
      print(`${sig}: stopping (running jobs are marked interrupted, queued jobs stay queued)`);
      void server.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  }
  return server;
}
