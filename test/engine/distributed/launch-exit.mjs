// Launcher CLI test fixture (plain .mjs so children start fast without tsx): rank 1 exits with code 5
// unless the argument is "ok"; the other ranks wait to be stopped.
const rank = Number(process.env.RANK);
process.stdout.write(`rank ${rank} of ${process.env.WORLD_SIZE} at ${process.env.MASTER_ADDR}:${process.env.MASTER_PORT} local ${process.env.LOCAL_RANK} ${process.argv[2]}\n`);
if (process.argv[2] === 'ok') process.exit(0);
if (rank === 1) process.exit(5);
setTimeout(() => {}, 30_000);
