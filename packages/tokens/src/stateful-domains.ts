/**
 * Sanctum's first-party check: does a request come from one of the app's own front ends? The `Origin` header is
 * read, else (absent or empty) `Referer`; its host (and port) must match one of the stateful domains, where
 * `*.example.com` matches any subdomain of example.com. Without configured domains, the request's own `Host` is the
 * one allowed (the app serves its own pages). An `Origin` of `null` is refused, whatever the `Referer` says: a
 * browser sends it from a sandboxed frame, which may be a page of the app's own (user content shown sandboxed) and
 * so carry the app's own `Referer`; a first-party page never sends it with a `Referer` (Fetch sends `null` where
 * the referrer policy withholds both).
 *
 * @example
 * ```ts
 * const isFirstParty = statefulDomains(['app.example.com', '*.example.com', 'localhost:3000'])
 * isFirstParty({ origin: 'https://app.example.com', referer: undefined, host: 'api.example.com' }) // true
 * ```
 */
export function statefulDomains(
  domains?: readonly string[],
): (request: {
  origin: string | undefined
  referer: string | undefined
  host: string | undefined
}) => boolean {
  const patterns = domains?.map(compile)
  return (request) => {
    const from = request.origin ? hostOf(request.origin) : hostOf(request.referer)
    if (from === undefined) return false
    if (!patterns) return request.host !== undefined && from === request.host.toLowerCase()
    return patterns.some((pattern) => pattern.test(from))
  }
}

function compile(domain: string): RegExp {
  const written = domain
    .trim()
    .toLowerCase()
    .replace(/^https?:\/\//, '')
    .replace(/\/.*$/, '')
  // Compare as the URL parser gives request hosts: international names in punycode.
  const host = written.startsWith('*.') ? `*.${asUrlHost(written.slice(2))}` : asUrlHost(written)
  // `*.example.com`: one or more subdomain labels; any other `*`: a run of host characters.
  if (host.startsWith('*.'))
    return new RegExp(`^(?:[a-z0-9-]+\\.)+${escapeRegExp(host.slice(2)).replaceAll('\\*', '[a-z0-9.-]*')}$`)
  return new RegExp(`^${escapeRegExp(host).replaceAll('\\*', '[a-z0-9.-]*')}$`)
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

function asUrlHost(host: string): string {
  if (host.includes('*')) return host
  try {
    return new URL(`http://${host}`).host
  } catch {
    return host
  }
}

function hostOf(value: string | undefined): string | undefined {
  if (!value || value === 'null') return undefined
  try {
    const url = new URL(value)
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.host.toLowerCase() : undefined
  } catch {
    return undefined
  }
}
