#!/usr/bin/env node
/// <reference types="node" />
// The `jetstream-tokens` bin: the process around runCli. run-cli.js is imported here, not at the top, so that a
// missing peer (drizzle-orm, @jetstream/tokens) is one line on stderr rather than a stack trace.
// A write that fails (a full disk, a pipe closed early) is reported to its own callback, which runCli handles;
// the stream's 'error' event would otherwise end the process with a stack trace.
process.stdout.on('error', () => {})
process.stderr.on('error', () => {})
try {
  const { runCli } = await import('./run-cli.js')
  process.exitCode = await runCli(process.argv.slice(2), process)
} catch (error) {
  const message = error instanceof Error ? error.message : String(error)
  process.stderr.write(`jetstream-tokens: ${message.split('\n')[0]}\n`)
  process.exitCode = 1
}
// A connection the driver could not close (a server that stopped answering mid-statement) must not keep a
// scheduled run alive; the timer is unref'd, so it only fires if something else still holds the process.
setTimeout(() => process.exit(), 2_000).unref()
