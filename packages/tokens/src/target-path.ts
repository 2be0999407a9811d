/**
 * The path of an HTTP request target as the client sent it, still percent-encoded, without its query: what every
 * adapter on Node matches the token routes' prefix against, so none resolves `.` or `..` segments that another
 * would not. The absolute form (`http://host/path`, RFC 9112 §3.2.2: what a client sends to a proxy, and every
 * server must accept) names the path after its authority; a target with no path (`*`, a bare authority) is `''`.
 * A `#` (a fragment, which no client should send and Node lets through) is part of the path, as Hono's router
 * reads it: `/user/api-tokens/7#x` names no token.
 *
 * @example
 * ```ts
 * targetPath('/user/api-tokens/7?x=1') // '/user/api-tokens/7'
 * targetPath('http://example.com/user/api-tokens') // '/user/api-tokens'
 * ```
 */
export function targetPath(target: string): string {
  let start = 0
  if (!target.startsWith('/')) {
    // The authority runs to the first `/`, `?` or `#` after `//`; the path starts only at a `/`.
    const authority = target.indexOf('//') + 2
    start = target.slice(authority).search(/[/?#]/) + authority
    if (start < authority || target[start] !== '/') return ''
  }
  const query = target.indexOf('?', start)
  return target.slice(start, query === -1 ? undefined : query)
}
