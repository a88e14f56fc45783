// s3rver on a free loopback port, for the tests that expect a refusal (moto
// accepts tampered, expired and wrongly keyed signatures; s3rver does not).
// Usage: node server.js DIRECTORY — prints {"event":"listening","port":N} once
// it listens; stops when its stdin closes (the test ended) or on SIGTERM.
'use strict';

const S3rver = require('s3rver');

const directory = process.argv[2];
if (!directory) {
  console.error('usage: node server.js DIRECTORY');
  process.exit(2);
}

const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory,
  allowMismatchedSignatures: false,
  vhostBuckets: false,
});

async function main() {
  const { port } = await server.run();
  process.stdout.write(JSON.stringify({ event: 'listening', port }) + '\n');
  const stop = () => server.close(() => process.exit(0));
  process.stdin.on('end', stop);
  process.stdin.resume();
  process.on('SIGTERM', stop);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
