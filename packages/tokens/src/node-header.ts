/**
 * A header of a Node request (`IncomingMessage.headers`), as every adapter on Node reads it: by its lower-case
 * name, as sent (an empty value is a value, not an absent header), a repeated field joined with `, `. Read from the
 * request itself rather than a framework's getter: Express's `req.get` and Koa's `ctx.get` answer a `Referrer`
 * header when asked for `referer`, and Koa's gives `''` for a missing one, so the adapters would disagree.
 *
 * @example
 * ```ts
 * nodeHeader(req.headers, 'authorization') // 'Bearer 7|…', or undefined
 * ```
 */
export function nodeHeader(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  name: string,
): string | undefined {
  const value = headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}
