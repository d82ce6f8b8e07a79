// Public surface of the distributed layer (host-memory transports and collectives). Node-only modules
// (shm, sockets, launcher) are exported here too; browser code should import collectives/inprocess directly.
export { DistError } from './errors.js';
export { DEFAULT_TIMEOUT_MS, MailboxTransport, type RecvOptions, type Transport, type TransportOptions } from './transport.js';
export { crc32, encodeFrame, FrameDecoder, FrameKind, FRAME_MAGIC, FRAME_VERSION, HEADER_BYTES, readHeader } from './framing.js';
export { concat, evenSplit, ProcessGroup, resetStats, statsOf, type CommStats, type Elem, type OpStats } from './collectives.js';
export { createInProcessWorld, InProcessTransport } from './inprocess.js';
export { allocateShmWorld, ShmTransport, type ShmEndpoint, type ShmOptions } from './shm-transport.js';
export { runWorkers, startWorkers, WorldError, type RunWorkersOptions, type WorkerContext, type WorkerWorld } from './shm-launcher.js';
export { SocketTransport } from './socket-transport.js';
export { connectFromEnv, connectSocketWorld, type SocketWorldOptions } from './rendezvous.js';
export { readDistEnv, type DistEnv, type SocketMode } from './env.js';
export { findFreePort, launchLocal, type LaunchedWorld, type LaunchOptions, type LaunchResult } from './launch.js';
