// Child-process rank for the socket tests (started through launchLocal): joins the world from the
// torchrun-style env, runs a scenario, prints one JSON line {rank, ok, result | error} and exits.
import { ProcessGroup } from '../../../engine/distributed/collectives.js';
import { connectFromEnv } from '../../../engine/distributed/rendezvous.js';
import { runScenario, type ScenarioArgs } from './rank-scenarios.js';

const args = JSON.parse(process.env.PARALLAX_TEST_ARGS ?? '{}') as ScenarioArgs & { timeoutMs: number };
const rank = Number(process.env.RANK);
const report = (o: object) => process.stdout.write(`${JSON.stringify({ rank, t: Date.now(), ...o })}\n`);
try {
  const t = await connectFromEnv({ timeoutMs: args.timeoutMs, rendezvousTimeoutMs: 8000 });
  const world = ProcessGroup.world(t);
  try {
    const result = await runScenario(world, t, args, () => process.kill(process.pid, 'SIGKILL') as never, () => report({ faultAt: Date.now() }));
    await t.close();
    report({ ok: true, kind: t.kind, result });
  } catch (e) {
    t.abort(e as Error);
    report({ ok: false, error: (e as Error).message });
    process.exitCode = 1;
  }
} catch (e) {
  report({ ok: false, error: (e as Error).message });
  process.exitCode = 1;
}
