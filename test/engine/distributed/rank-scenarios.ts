// Per-rank test programs shared by the shm worker tests and the socket child-process tests: the full
// collective suite, or one injected fault (exit mid-collective, hang, garbage bytes, never arriving).
import type { ProcessGroup } from '../../../engine/distributed/collectives.js';
import type { Transport } from '../../../engine/distributed/transport.js';
import { runCollectiveSuite, type SuiteResult } from './collective-cases.js';

export type Scenario = 'suite' | 'exit' | 'hang' | 'garbage' | 'absent' | 'drop';

export interface ScenarioArgs {
  scenario: Scenario;
  seed: number;
  /** The rank that misbehaves in fault scenarios. */
  faulty: number;
  bigLength?: number;
  /** Receive timeout for the faulty phase (ms); start-up uses the transport's (long) timeout. */
  faultTimeoutMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a scenario on one rank. `injectRaw` writes bytes on the link to a peer; `die` ends this rank abruptly. */
export async function runScenario(
  world: ProcessGroup,
  transport: Transport & { injectRaw(peer: number, bytes: Uint8Array): unknown; dropLink?(peer: number): void },
  a: ScenarioArgs,
  die: () => never,
  markFault: () => void = () => {},
): Promise<SuiteResult | string> {
  if (a.scenario === 'suite') return runCollectiveSuite(world, a.seed, a.bigLength);
  const me = transport.rank;
  const sp = world.newGroup(world.ranks.map((_, i) => i), 'sp')!;
  await sp.allReduce(new Float32Array(1000).fill(me));
  sp.recvTimeoutMs = a.faultTimeoutMs;
  if (me === a.faulty) {
    markFault();
    if (a.scenario === 'exit') {
      // start the all-to-all, send part of it, then vanish
      await transport.send((me + 1) % transport.size, 1 << 40, new Uint8Array(100));
      die();
    }
    if (a.scenario === 'hang') await sleep(60_000);
    if (a.scenario === 'garbage') await transport.injectRaw((me + 1) % transport.size, new Uint8Array(64).fill(0x5a));
    if (a.scenario === 'drop') transport.dropLink!((me + 1) % transport.size);
    if (a.scenario === 'absent') {
      await sleep(60_000);
      return 'absent';
    }
  }
  await sp.allToAll(world.ranks.map(() => new Float32Array(50_000)));
  await sp.barrier();
  return 'finished';
}
