import { describe, expect, it } from 'vitest'
import { parseIsoDate } from './iso-date.js'

describe('parseIsoDate', () => {
  it.each([
    ['2030-01-31', '2030-01-31T00:00:00.000Z'],
    ['2030-01-31T12:00:00Z', '2030-01-31T12:00:00.000Z'],
    ['2030-01-31T14:00+02:00', '2030-01-31T12:00:00.000Z'],
    ['2030-01-31T12:00:00.5-01:00', '2030-01-31T13:00:00.500Z'],
    ['2030-01-31T12:00:00.123456Z', '2030-01-31T12:00:00.123Z'],
    ['2028-02-29', '2028-02-29T00:00:00.000Z'],
  ])('reads %s as %s', (text, iso) => {
    expect(parseIsoDate(text)?.toISOString()).toBe(iso)
  })

  it.each([
    ['a time without an offset', '2030-01-31T12:00:00'],
    ['a day its month does not have', '2030-02-30'],
    ['February 29 of a common year', '2030-02-29'],
    ['a 13th month', '2030-13-01'],
    ['an hour past 24', '2030-01-31T25:00Z'],
    ['an offset past 24 hours', '2030-01-31T12:00+25:00'],
    ['a format Date guesses at', '01/31/2030'],
    ['a bare number', '1'],
    ['an expanded year', '+002030-01-31'],
    ['spaces around it', ' 2030-01-31'],
    ['nothing', ''],
  ])('refuses %s (%s)', (_, text) => {
    expect(parseIsoDate(text)).toBeNull()
  })
})
