/**
 * The load generator, run as its own process: `node dist/http/load.js <url> <seconds> <connections> <tokens file>`.
 * Prints autocannon's JSON report. Requests rotate through every token in the file (one plain text per line), so
 * the 50 connections' requests in flight carry distinct tokens, as many clients of one API do; a file of one token
 * is the single-token case, where concurrent lookups of one id can coalesce.
 */
import { readFileSync } from 'node:fs'
import autocannon from 'autocannon'

const [url, seconds, connections, tokensFile] = process.argv.slice(2) as [string, string, string, string]
const tokens = readFileSync(tokensFile, 'utf8').split('\n').filter(Boolean)
let next = 0

const result = await autocannon({
  url,
  connections: Number(connections),
  duration: Number(seconds),
  requests: [
    {
      method: 'GET',
      setupRequest: (request) => {
        const token = tokens[next++ % tokens.length] as string
        return { ...request, headers: { ...request.headers, authorization: `Bearer ${token}` } }
      },
    },
  ],
})
process.stdout.write(JSON.stringify(result))
