import { readFileSync } from 'node:fs'

let page: string | undefined

/** The API-token page, one HTML file served as-is by every example app at `/`. */
export function apiTokenPage(): string {
  page ??= readFileSync(new URL('../page/api-tokens.html', import.meta.url), 'utf8')
  return page
}
