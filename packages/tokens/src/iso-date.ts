// A day, or an instant with its offset: a time without an offset would be read in the local zone of whichever
// machine parses it, so the same request would mean another instant on another server.
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/

/**
 * Reads an ISO 8601 date as a client or an operator writes one: a day (`2030-01-31`, read as UTC midnight) or an
 * instant with its offset (`2030-01-31T12:00:00Z`, `2030-01-31T14:00+02:00`, fractions of a second included).
 * Null for anything else: a time without an offset, another format JavaScript's `Date` would guess at (`01/31/2030`,
 * `1`), or a day its month does not have (`2030-02-30`, which `Date` rolls over to March).
 *
 * @example
 * ```ts
 * parseIsoDate('2030-01-31')?.toISOString() // '2030-01-31T00:00:00.000Z'
 * parseIsoDate('2030-01-31T12:00:00') // null: no offset
 * ```
 */
export function parseIsoDate(text: string): Date | null {
  const match = ISO_DATE.exec(text)
  if (!match) return null
  const date = new Date(text)
  const [year, month, day] = match.slice(1, 4).map(Number) as [number, number, number]
  // A month past 12 is already an invalid date; a day past the month's last is not.
  const real = new Date(Date.UTC(year, month - 1, day)).getUTCDate() === day
  return real && !Number.isNaN(date.getTime()) ? date : null
}
