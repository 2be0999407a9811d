import { existsSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { crc32 } from 'node:zlib'
import { createTokenService, demoCredentials, permissions } from '@examples/shared'
import type { RunningServer } from '@examples/shared/testing'
import { createTokens, MemoryTokenStore } from '@jetstream/tokens'
import axe from 'axe-core'
import { type Browser, chromium, type Locator, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer } from './server.js'

// Debian's Chromium, as CI installs it; flags for a root user in a sandbox without a network.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const screenshots = fileURLToPath(new URL('../../../artifacts/', import.meta.url))
const hasChromium = existsSync(CHROMIUM)
if (!hasChromium && process.env.CI) {
  throw new Error(`CI must run the browser test: install Chromium at ${CHROMIUM} (.ci/run does).`)
}
if (!hasChromium) {
  console.warn(
    `skipped: the API-token page in a real browser; install Chromium at ${CHROMIUM} (apt-get install chromium) or set CHROMIUM_PATH to run it`,
  )
}

const DAY = 86_400_000
const PLAIN_TEXT = /^\d+\|[A-Za-z0-9]{40}[0-9a-f]{8}$/

async function api(
  method: string,
  path: string,
  token: string,
  body?: unknown,
  userAgent = 'browser-test',
): Promise<number> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      'user-agent': userAgent,
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  })
  return response.status
}

// Text to match as it is inside a regular expression.
const literally = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

// A well-formed plain text for this token id with a secret that is not its own: refused as a mismatch.
function wrongSecret(plainTextToken: string): string {
  const entropy = 'x'.repeat(40)
  return `${plainTextToken.split('|')[0]}|${entropy}${crc32(entropy).toString(16).padStart(8, '0')}`
}

async function signIn(page: Page): Promise<void> {
  await page.goto(`${server.url}/`)
  await page.getByLabel('Email').fill(demoCredentials.email)
  await page.getByLabel('Password').fill(demoCredentials.password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await expect.poll(() => page.getByRole('button', { name: 'Sign out' }).isVisible()).toBe(true)
}

// The demo user's token of this name, as the service stores it.
async function stored(name: string) {
  return (await tokens.list('1')).find((token) => token.name === name)
}

// A token made 40 days ago that expired 30 days ago: a service whose clock is set back makes it, through the same store.
async function createExpiredToken(name: string): Promise<void> {
  const then = new Date(Date.now() - 40 * DAY)
  const past = createTokens({ store, permissions, now: () => then })
  await past.create('1', name, ['read'], { expiresAt: new Date(then.getTime() + 10 * DAY) })
}

// A date input's value (YYYY-MM-DD) for a day counted from today, in local time as the browser shows it.
function day(offset: number): { value: string; start: Date } {
  const date = new Date()
  const start = new Date(date.getFullYear(), date.getMonth(), date.getDate() + offset)
  const pad = (n: number) => String(n).padStart(2, '0')
  return { value: `${start.getFullYear()}-${pad(start.getMonth() + 1)}-${pad(start.getDate())}`, start }
}

const liveList = (page: Page): Locator => page.getByRole('list', { name: 'Manage API Tokens' })
const expiredList = (page: Page): Locator => page.getByRole('list', { name: 'Expired tokens' })
const row = (list: Locator, name: string): Locator => list.getByRole('listitem').filter({ hasText: name })

// What has focus, as a user would name it: its aria-label, its label, or its text.
function focused(page: Page): Promise<string> {
  return page.evaluate(() => {
    const element = document.activeElement as HTMLElement | null
    const label =
      element instanceof HTMLInputElement || element instanceof HTMLSelectElement ? element.labels?.[0] : null
    return (element?.getAttribute('aria-label') ?? label?.textContent ?? element?.textContent ?? '').trim()
  })
}
// Presses Tab (or Shift+Tab) until the named control has focus; fails after `limit` presses.
async function tabTo(page: Page, name: string, key = 'Tab', limit = 60): Promise<void> {
  for (let i = 0; i < limit; i++) {
    if ((await focused(page)) === name) return
    await page.keyboard.press(key)
  }
  throw new Error(`${key} never reached ${name}; focus is on ${await focused(page)}`)
}
const openDialogs = (page: Page): Promise<number> => page.locator('dialog[open]').count()

// The token's Activity dialog, once its events have loaded.
async function openActivity(page: Page, name: string): Promise<Locator> {
  await page.getByRole('button', { name: `Activity for ${name}`, exact: true }).click()
  const dialog = page.getByRole('dialog', { name: `Activity for “${name}”` })
  await expect.poll(() => dialog.isVisible()).toBe(true)
  await expect.poll(() => dialog.getAttribute('aria-busy')).toBeNull()
  return dialog
}

// axe-core's rules over the whole document; each violation as "rule: the nodes".
async function axeViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ content: axe.source })
  return page.evaluate(async () => {
    const { violations } = await (window as unknown as { axe: typeof axe }).axe.run(document)
    return violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)
  })
}

let server: RunningServer
let browser: Browser
const store = new MemoryTokenStore()
const tokens = createTokenService(store)

describe.skipIf(!hasChromium)('the API-token page in a real browser', () => {
  beforeAll(async () => {
    server = await startServer({ tokens, sessionKey: 'browser-test-session-key-of-32-chars!' })
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    })
  })
  afterAll(async () => {
    await browser?.close()
    await server?.close()
  })

  it('creates a token, shows it once, changes its permissions and deletes it, and the API follows', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } })
    await signIn(page)

    // Create: "read" is ticked by default; add "create", leave "update" unticked.
    const create = page.locator('form', { has: page.getByLabel('Token Name') })
    await page.getByLabel('Token Name').fill('Browser test')
    await expect.poll(() => create.getByLabel('read', { exact: true }).isChecked()).toBe(true)
    await create.getByLabel('create', { exact: true }).check()
    await create.getByRole('button', { name: 'Create' }).click()

    // The dialog shows the token once.
    const dialog = page.getByRole('dialog', { name: 'API Token' })
    await expect.poll(() => dialog.isVisible()).toBe(true)
    const plainTextToken = await dialog.getByLabel('API token').inputValue()
    expect(plainTextToken).toMatch(PLAIN_TEXT)
    expect(await dialog.textContent()).toContain("it won't be shown again")
    await dialog.getByRole('button', { name: 'Close' }).click()
    // Gone from the field itself, whose value the page's HTML never shows (a closed dialog has no role to find).
    await expect.poll(() => page.locator('#token-value').inputValue()).toBe('')
    const item = row(liveList(page), 'Browser test')
    expect(await item.textContent()).toContain('Never used')

    // The API honours exactly what was granted.
    expect(await api('GET', '/api/posts', plainTextToken)).toBe(200)
    expect(await api('PUT', '/api/posts/1', plainTextToken, { title: 'From the browser test' })).toBe(403)

    // Grant "update" on the page; the API's answer changes.
    await page.getByRole('button', { name: 'Permissions for Browser test' }).click()
    const permissions = page.getByRole('dialog', { name: 'API Token Permissions' })
    await permissions.getByLabel('update', { exact: true }).check()
    await permissions.getByRole('button', { name: 'Save' }).click()
    await expect.poll(() => permissions.isVisible()).toBe(false)
    expect(await api('PUT', '/api/posts/1', plainTextToken, { title: 'From the browser test' })).toBe(200)

    // A reload shows it was used, once the coalesced last-used touch is written (within a second).
    await expect
      .poll(
        async () => {
          await page.reload()
          await item.waitFor()
          return item.textContent()
        },
        { timeout: 10_000, interval: 500 },
      )
      .toMatch(/Last used (just now|1 minute ago)/)
    expect(await item.textContent()).not.toContain('Never used')
    mkdirSync(screenshots, { recursive: true })
    await page.screenshot({ path: `${screenshots}api-token-page.png`, fullPage: true })

    // Delete it; the API refuses it from then on.
    await page.getByRole('button', { name: 'Delete Browser test' }).click()
    const confirm = page.getByRole('dialog', { name: 'Delete API Token' })
    await confirm.getByRole('button', { name: 'Delete' }).click()
    await expect.poll(() => page.getByRole('listitem').filter({ hasText: 'Browser test' }).count()).toBe(0)
    expect(await api('GET', '/api/posts', plainTextToken)).toBe(401)
    await page.close()
  })

  it('keeps a deletion that the list’s refresh fails to show, and says when a rate limit ends', async () => {
    await tokens.create('1', 'Refresh fails', ['read'])
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } })
    await signIn(page)
    // From now on the list cannot be read (503), and creating is rate limited (429, Retry-After: 30).
    await page.route(`${server.url}/user/api-tokens`, (route) => {
      const method = route.request().method()
      if (method === 'GET') {
        return route.fulfill({
          status: 503,
          json: { message: 'The database is unavailable.', code: 'storage_unavailable' },
        })
      }
      if (method === 'POST') {
        return route.fulfill({
          status: 429,
          headers: { 'Retry-After': '30' },
          json: { message: 'Too many requests.', code: 'too_many_requests' },
        })
      }
      return route.continue()
    })
    await page.getByRole('button', { name: 'Delete Refresh fails' }).click()
    const confirm = page.getByRole('dialog', { name: 'Delete API Token' })
    await confirm.getByRole('button', { name: 'Delete' }).click()
    // The dialog closes on the deletion itself; a second Delete would only meet a 404.
    await expect.poll(() => confirm.isVisible()).toBe(false)
    expect(await stored('Refresh fails')).toBeUndefined()
    await expect.poll(() => page.locator('#alert').textContent()).toBe('The database is unavailable.')

    await page.getByLabel('Token Name').fill('Limited')
    await page
      .locator('form', { has: page.getByLabel('Token Name') })
      .getByRole('button', { name: 'Create' })
      .click()
    await expect
      .poll(() => page.getByRole('alert').filter({ hasText: 'Too many requests.' }).first().textContent())
      .toBe('Too many requests. Try again in 30 seconds.')

    // A refusal of the permissions is told next to them, and focus goes to the first of them.
    await page.unroute(`${server.url}/user/api-tokens`)
    await page.route(`${server.url}/user/api-tokens`, (route) =>
      route.request().method() === 'POST'
        ? route.fulfill({
            status: 422,
            json: {
              message: 'Invalid.',
              code: 'invalid_input',
              errors: { permissions: ['Pick at least one.'] },
            },
          })
        : route.continue(),
    )
    await page
      .locator('form', { has: page.getByLabel('Token Name') })
      .getByRole('button', { name: 'Create' })
      .click()
    await expect.poll(() => page.locator('#permissions-error').textContent()).toBe('Pick at least one.')
    expect(await focused(page)).toBe('create')
    const fieldset = page.locator('fieldset', { has: page.locator('#create-permissions') })
    expect(await fieldset.getAttribute('aria-describedby')).toBe('permissions-error')
    await page.close()
  })

  it('leaves nothing the last user typed or ticked in the create form after a sign-out', async () => {
    const page = await browser.newPage()
    try {
      await signIn(page)
      const create = page.locator('form', { has: page.getByLabel('Token Name') })
      await expect.poll(() => create.getByLabel('read', { exact: true }).isChecked()).toBe(true)
      await page.getByLabel('Token Name').fill('Left behind')
      await create.getByLabel('delete', { exact: true }).check()
      await create.getByLabel('read', { exact: true }).uncheck()
      await page.getByLabel('Expiration', { exact: true }).selectOption({ label: 'Custom date' })
      expect(await page.getByLabel('Expiration date').isVisible()).toBe(true)
      await page.getByRole('button', { name: 'Sign out' }).click()
      await expect.poll(() => page.getByRole('button', { name: 'Sign in' }).isVisible()).toBe(true)
      await page.getByLabel('Email').fill(demoCredentials.email)
      await page.getByLabel('Password').fill(demoCredentials.password)
      await page.getByRole('button', { name: 'Sign in' }).click()
      await expect.poll(() => create.getByLabel('read', { exact: true }).isChecked()).toBe(true)
      expect(await page.getByLabel('Token Name').inputValue()).toBe('')
      expect(await create.getByLabel('delete', { exact: true }).isChecked()).toBe(false)
      expect(await page.getByLabel('Expiration date').isVisible()).toBe(false)
    } finally {
      await page.close()
    }
  })

  it('sets an expiry when creating: 30 days, or a custom date whose past is refused next to the field', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } })
    await signIn(page)
    const create = page.locator('form', { has: page.getByLabel('Token Name') })
    const expiry = page.getByLabel('Expiration', { exact: true })
    const date = page.getByLabel('Expiration date')
    const dialog = page.getByRole('dialog', { name: 'API Token' })
    expect(await expiry.inputValue()).toBe('never')
    expect(await date.isVisible()).toBe(false)

    // 30 days: sent as expiresAt, shown in the list.
    await page.getByLabel('Token Name').fill('Thirty days')
    await expiry.selectOption({ label: '30 days' })
    expect(await date.isVisible()).toBe(false)
    expect(await page.locator('#expiry-note').textContent()).toMatch(/^The token will expire on /)
    const before = Date.now()
    await create.getByRole('button', { name: 'Create' }).click()
    await expect.poll(() => dialog.isVisible()).toBe(true)
    await dialog.getByRole('button', { name: 'Close' }).click()
    const thirty = (await stored('Thirty days'))?.expiresAt?.getTime()
    expect(thirty).toBeGreaterThanOrEqual(before + 30 * DAY)
    expect(thirty).toBeLessThanOrEqual(Date.now() + 30 * DAY)
    expect(await row(liveList(page), 'Thirty days').textContent()).toMatch(/Expires /)
    // The form is back to "Never".
    expect(await expiry.inputValue()).toBe('never')

    // A custom date shows the date input; yesterday is refused by the server, next to the field.
    await page.getByLabel('Token Name').fill('Custom day')
    await expiry.selectOption({ label: 'Custom date' })
    expect(await date.isVisible()).toBe(true)
    await date.fill(day(-1).value)
    await create.getByRole('button', { name: 'Create' }).click()
    const error = page.locator('#expires-at-error')
    await expect.poll(() => error.textContent()).toMatch(/after now/)
    expect(await date.getAttribute('aria-invalid')).toBe('true')
    expect(await date.getAttribute('aria-describedby')).toContain('expires-at-error')
    expect(await date.evaluate((input) => input === document.activeElement)).toBe(true)
    expect(await dialog.isVisible()).toBe(false)
    expect(await stored('Custom day')).toBeUndefined()

    // No date at all is caught before asking the server.
    await date.fill('')
    await create.getByRole('button', { name: 'Create' }).click()
    await expect.poll(() => error.textContent()).toMatch(/Choose the day/)

    // Ten days from today: the token ends as that day begins.
    const tenDays = day(10)
    await date.fill(tenDays.value)
    await create.getByRole('button', { name: 'Create' }).click()
    await expect.poll(() => dialog.isVisible()).toBe(true)
    await dialog.getByRole('button', { name: 'Close' }).click()
    expect((await stored('Custom day'))?.expiresAt?.toISOString()).toBe(tenDays.start.toISOString())
    expect(await error.textContent()).toBe('')
    expect(await date.isVisible()).toBe(false)
    await page.close()
  })

  it('lists expired tokens apart, after the live ones, marked "Expired" in words', async () => {
    await createExpiredToken('Old CI token')
    await tokens.create('1', 'Live token', ['read'])
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } })
    await signIn(page)

    await expect.poll(() => row(expiredList(page), 'Old CI token').count()).toBe(1)
    expect(await page.getByRole('heading', { name: 'Expired tokens' }).isVisible()).toBe(true)
    const old = row(expiredList(page), 'Old CI token')
    expect(await old.getByText('Expired', { exact: true }).isVisible()).toBe(true)
    expect(await old.textContent()).toMatch(/Expired \w/)
    // Only its activity and deleting are left to it.
    expect(await old.getByRole('button').allTextContents()).toEqual(['Activity', 'Delete'])
    expect(await row(liveList(page), 'Old CI token').count()).toBe(0)
    expect(await row(liveList(page), 'Live token').count()).toBe(1)
    expect(await row(expiredList(page), 'Live token').count()).toBe(0)
    expect(
      await page.evaluate(() => {
        const [live, expired] = [document.getElementById('tokens'), document.getElementById('expired-tokens')]
        return Boolean(
          live && expired && live.compareDocumentPosition(expired) & Node.DOCUMENT_POSITION_FOLLOWING,
        )
      }),
    ).toBe(true)
    mkdirSync(screenshots, { recursive: true })
    await page.screenshot({ path: `${screenshots}api-token-page-expired.png`, fullPage: true })
    await page.close()
  })

  it('regenerates a token: a grace period keeps the old one for a while, the new one is shown once', async () => {
    const { plainTextToken: old } = await tokens.create('1', 'To regenerate', ['read', 'create'])
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } })
    await signIn(page)

    // With a grace period of an hour, the old token keeps working.
    await page.getByRole('button', { name: 'Regenerate To regenerate' }).click()
    const confirm = page.getByRole('dialog', { name: 'Regenerate API Token' })
    await expect.poll(() => confirm.isVisible()).toBe(true)
    expect(await confirm.textContent()).toContain('To regenerate')
    await confirm.getByLabel('In 1 hour').check()
    const request = page.waitForRequest((r) => r.url().endsWith('/rotate'))
    await confirm.getByRole('button', { name: 'Regenerate' }).click()
    expect((await request).postDataJSON()).toEqual({ grace: 60 })
    const dialog = page.getByRole('dialog', { name: 'API Token' })
    await expect.poll(() => dialog.isVisible()).toBe(true)
    const fresh = await dialog.getByLabel('API token').inputValue()
    expect(fresh).toMatch(PLAIN_TEXT)
    expect(fresh).not.toBe(old)
    await dialog.getByRole('button', { name: 'Close' }).click()
    await expect.poll(() => page.locator('#token-value').inputValue()).toBe('')
    expect(await api('GET', '/api/posts', fresh)).toBe(200)
    expect(await api('GET', '/api/posts', old)).toBe(200)
    // Both are listed until the old one retires, which it says.
    const rows = row(liveList(page), 'To regenerate')
    await expect.poll(() => rows.count()).toBe(2)
    expect(await rows.filter({ hasText: 'Expires ' }).count()).toBe(1)
    // Focus returns to the new token's Regenerate button.
    const freshId = fresh.split('|')[0]
    expect(await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.id)).toBe(
      freshId,
    )

    // Without one, the token regenerated again stops at once.
    await page.locator(`[data-action="regenerate"][data-id="${freshId}"]`).click()
    await expect.poll(() => confirm.isVisible()).toBe(true)
    expect(await confirm.getByLabel('Now').isChecked()).toBe(true)
    await confirm.getByRole('button', { name: 'Regenerate' }).click()
    await expect.poll(() => dialog.isVisible()).toBe(true)
    const third = await dialog.getByLabel('API token').inputValue()
    await dialog.getByRole('button', { name: 'Close' }).click()
    expect(await api('GET', '/api/posts', third)).toBe(200)
    expect(await api('GET', '/api/posts', fresh)).toBe(401)
    await page.close()
  })

  it('shows a token’s activity: created by you, used from a client with its user agent, a wrong secret refused', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } })
    await signIn(page)
    await page.getByLabel('Token Name').fill('Activity test')
    await page.getByRole('button', { name: 'Create', exact: true }).click()
    const created = page.getByRole('dialog', { name: 'API Token' })
    await expect.poll(() => created.isVisible()).toBe(true)
    const plainTextToken = await created.getByLabel('API token').inputValue()
    await created.getByRole('button', { name: 'Close' }).click()

    // Before any use: only its creation, by the signed-in user, from this browser.
    let activity = await openActivity(page, 'Activity test')
    const browserAgent = await page.evaluate(() => navigator.userAgent)
    expect(await activity.getByRole('listitem').allTextContents()).toEqual([
      expect.stringMatching(new RegExp(`^Created by you from \\S+ · ${literally(browserAgent)} · just now$`)),
    ])
    await page.keyboard.press('Escape')
    await expect.poll(() => openDialogs(page)).toBe(0)
    await expect.poll(() => focused(page)).toBe('Activity for Activity test')

    // Used twice from a client of its own, then a wrong secret for the same id.
    const agent = 'activity-check/2.1 (browser test)'
    expect(await api('GET', '/api/posts', plainTextToken, undefined, agent)).toBe(200)
    expect(await api('GET', '/api/posts/1', plainTextToken, undefined, agent)).toBe(200)
    expect(await api('GET', '/api/posts', wrongSecret(plainTextToken), undefined, agent)).toBe(401)

    // Newest first; the two uses from the same client make one line.
    activity = await openActivity(page, 'Activity test')
    const lines = await activity.getByRole('listitem').allTextContents()
    expect(lines).toEqual([
      expect.stringMatching(new RegExp(`^Refused: wrong secret from \\S+ · ${literally(agent)} · just now$`)),
      expect.stringMatching(new RegExp(`^Used 2 times from \\S+ · ${literally(agent)} · just now$`)),
      expect.stringMatching(/^Created by you from /),
    ])
    // The address reads as the client's, not as an IPv4-mapped IPv6 one.
    expect(lines[1]).not.toContain('::ffff:')
    // Each line's exact time: in the <time>'s datetime and its title.
    const time = activity.getByRole('listitem').nth(1).locator('time')
    const at = Date.parse((await time.getAttribute('datetime')) ?? '')
    expect(Date.now() - at).toBeGreaterThanOrEqual(0)
    expect(Date.now() - at).toBeLessThan(60_000)
    expect(await time.getAttribute('title')).toMatch(/\d.*\(the latest of 2\)$/)
    mkdirSync(screenshots, { recursive: true })
    await page.screenshot({ path: `${screenshots}api-token-page-activity.png` })
    await activity.getByRole('button', { name: 'Close' }).click()
    await expect.poll(() => openDialogs(page)).toBe(0)
    await expect.poll(() => focused(page)).toBe('Activity for Activity test')

    // Changed on the page, then regenerated with a grace period: each of the two says what became of it.
    await page.getByRole('button', { name: 'Permissions for Activity test' }).click()
    const permissions = page.getByRole('dialog', { name: 'API Token Permissions' })
    await permissions.getByLabel('create', { exact: true }).check()
    await permissions.getByRole('button', { name: 'Save' }).click()
    await expect.poll(() => openDialogs(page)).toBe(0)
    await page.getByRole('button', { name: 'Regenerate Activity test' }).click()
    const regenerate = page.getByRole('dialog', { name: 'Regenerate API Token' })
    await regenerate.getByLabel('In 1 hour').check()
    await regenerate.getByRole('button', { name: 'Regenerate' }).click()
    await expect.poll(() => created.isVisible()).toBe(true)
    const newId = (await created.getByLabel('API token').inputValue()).split('|')[0]
    await created.getByRole('button', { name: 'Close' }).click()
    const oldId = plainTextToken.split('|')[0]
    const activityOf = async (id: string | undefined): Promise<string[]> => {
      await page.locator(`[data-action="activity"][data-id="${id}"]`).click()
      await expect.poll(() => activity.isVisible()).toBe(true)
      await expect.poll(() => activity.getAttribute('aria-busy')).toBeNull()
      const lines = await activity.getByRole('listitem').allTextContents()
      await page.keyboard.press('Escape')
      await expect.poll(() => openDialogs(page)).toBe(0)
      return lines
    }
    expect(await activityOf(newId)).toEqual([
      expect.stringMatching(new RegExp(`^Regenerated by you from \\S+ \\(replaced token ${oldId}\\) · `)),
    ])
    expect(await activityOf(oldId)).toEqual([
      expect.stringMatching(new RegExp(`^Regenerated by you as token ${newId} from `)),
      expect.stringMatching(/^Permissions or name changed by you from /),
      expect.stringMatching(/^Refused: wrong secret /),
      expect.stringMatching(/^Used 2 times /),
      expect.stringMatching(/^Created by you /),
    ])
    await page.close()
  })

  it('says so when a token has no activity recorded yet', async () => {
    const quiet = createTokens({ store, permissions })
    await quiet.create('1', 'Made without an audit log', ['read'])
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } })
    await signIn(page)
    const activity = await openActivity(page, 'Made without an audit log')
    expect(await activity.textContent()).toContain('No activity recorded yet.')
    expect(await activity.getByRole('listitem').count()).toBe(0)
    // The title has focus, so the newest events are in view; Tab reaches Close.
    await expect.poll(() => focused(page)).toBe('Activity for “Made without an audit log”')
    await page.keyboard.press('Tab')
    await expect.poll(() => focused(page)).toBe('Close')
    await page.keyboard.press('Enter')
    await expect.poll(() => openDialogs(page)).toBe(0)
    await page.close()
  })

  it('works by keyboard alone: creates a token, and Escape closes a dialog and returns focus', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } })
    await signIn(page)
    // Signing in puts focus on the token name.
    await expect.poll(() => focused(page)).toBe('Token Name')
    await page.keyboard.type('Keyboard token')
    await page.keyboard.press('Tab')
    await expect.poll(() => focused(page)).toBe('Expiration')
    await page.keyboard.press('ArrowDown')
    expect(await page.getByLabel('Expiration', { exact: true }).inputValue()).toBe('30')
    await page.keyboard.press('Tab')
    await expect.poll(() => focused(page)).toBe('create')
    await page.keyboard.press('Space')
    await tabTo(page, 'Create')
    // The focus ring shows.
    expect(
      await page.evaluate(() => {
        const button = document.activeElement as HTMLElement
        return button.matches(':focus-visible') && getComputedStyle(button).outlineStyle !== 'none'
      }),
    ).toBe(true)
    await page.keyboard.press('Enter')

    // The new token's dialog takes focus; Tab to Close, Enter, and focus is back on Create.
    const dialog = page.getByRole('dialog', { name: 'API Token' })
    await expect.poll(() => dialog.isVisible()).toBe(true)
    await expect.poll(() => focused(page)).toBe('API token')
    expect(await dialog.getByLabel('API token').inputValue()).toMatch(PLAIN_TEXT)
    await tabTo(page, 'Close')
    await page.keyboard.press('Enter')
    await expect.poll(() => openDialogs(page)).toBe(0)
    await expect.poll(() => focused(page)).toBe('Create')
    const made = await stored('Keyboard token')
    expect([...(made?.abilities ?? [])].sort()).toEqual(['create', 'read'])
    expect(made?.expiresAt?.getTime()).toBeGreaterThan(Date.now() + 29 * DAY)

    // Each of the token's dialogs opens from the keyboard and closes with Escape, focus back on its button.
    for (const [button, key, title, direction] of [
      ['Delete Keyboard token', 'Enter', 'Delete API Token', 'Tab'],
      ['Regenerate Keyboard token', 'Space', 'Regenerate API Token', 'Shift+Tab'],
      ['Activity for Keyboard token', 'Enter', 'Activity for “Keyboard token”', 'Shift+Tab'],
      ['Permissions for Keyboard token', 'Enter', 'API Token Permissions', 'Tab'],
    ] as const) {
      await tabTo(page, button, direction)
      await page.keyboard.press(key)
      await expect.poll(() => page.getByRole('dialog', { name: title }).isVisible()).toBe(true)
      await page.keyboard.press('Escape')
      await expect.poll(() => openDialogs(page)).toBe(0)
      await expect.poll(() => focused(page)).toBe(button)
    }

    // Change its permissions: Space on the boxes, Enter on Save.
    await page.keyboard.press('Enter')
    const permissions = page.getByRole('dialog', { name: 'API Token Permissions' })
    await expect.poll(() => permissions.isVisible()).toBe(true)
    await expect.poll(() => focused(page)).toBe('create')
    await page.keyboard.press('Space')
    await tabTo(page, 'Save')
    await page.keyboard.press('Enter')
    await expect.poll(() => openDialogs(page)).toBe(0)
    expect((await stored('Keyboard token'))?.abilities).toEqual(['read'])
    await expect.poll(() => focused(page)).toBe('Permissions for Keyboard token')

    // Delete it: Tab to Delete, Enter, Tab to the dialog's Delete, Enter.
    await tabTo(page, 'Delete Keyboard token')
    await page.keyboard.press('Enter')
    await expect.poll(() => openDialogs(page)).toBe(1)
    await page.keyboard.press('Tab')
    await expect.poll(() => focused(page)).toBe('Delete')
    await page.keyboard.press('Enter')
    await expect.poll(() => openDialogs(page)).toBe(0)
    expect(await stored('Keyboard token')).toBeUndefined()
    await expect.poll(() => focused(page)).toBe('Manage API Tokens')
    await page.close()
  })

  it('has no axe-core violations, on the page and in every dialog', async () => {
    await createExpiredToken('Expired for axe')
    const { plainTextToken: live } = await tokens.create('1', 'Live for axe', ['read'])
    // Some activity to show: used, and refused once.
    expect(await api('GET', '/api/posts', live, undefined, 'axe-check/1.0')).toBe(200)
    expect(await api('GET', '/api/posts', wrongSecret(live), undefined, 'axe-check/1.0')).toBe(401)
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } })
    await page.goto(`${server.url}/`)
    await expect.poll(() => page.getByRole('button', { name: 'Sign in' }).isVisible()).toBe(true)
    expect(await axeViolations(page), 'signed out').toEqual([])
    await signIn(page)
    await expect.poll(() => row(expiredList(page), 'Expired for axe').count()).toBe(1)
    expect(await axeViolations(page), 'the page, with live and expired tokens').toEqual([])

    // The create form showing an error next to the custom date.
    await page.getByLabel('Token Name').fill('Axe token')
    await page.getByLabel('Expiration', { exact: true }).selectOption({ label: 'Custom date' })
    await page.getByLabel('Expiration date').fill(day(-1).value)
    await page.getByRole('button', { name: 'Create', exact: true }).click()
    await expect.poll(() => page.locator('#expires-at-error').textContent()).not.toBe('')
    expect(await axeViolations(page), 'the create form with an error').toEqual([])

    // The new token's plain text.
    await page.getByLabel('Expiration', { exact: true }).selectOption({ label: '90 days' })
    await page.getByRole('button', { name: 'Create', exact: true }).click()
    const created = page.getByRole('dialog', { name: 'API Token' })
    await expect.poll(() => created.isVisible()).toBe(true)
    expect(await axeViolations(page), 'the new token dialog').toEqual([])
    await created.getByRole('button', { name: 'Close' }).click()

    for (const [button, title] of [
      ['Permissions for Live for axe', 'API Token Permissions'],
      ['Delete Live for axe', 'Delete API Token'],
      ['Regenerate Live for axe', 'Regenerate API Token'],
      ['Delete Expired for axe', 'Delete API Token'],
      ['Activity for Live for axe', 'Activity for “Live for axe”'],
      ['Activity for Expired for axe', 'Activity for “Expired for axe”'],
    ] as const) {
      await page.getByRole('button', { name: button }).click()
      await expect.poll(() => page.getByRole('dialog', { name: title }).isVisible()).toBe(true)
      await expect.poll(() => page.getByRole('dialog', { name: title }).getAttribute('aria-busy')).toBeNull()
      expect(await axeViolations(page), title).toEqual([])
      await page.keyboard.press('Escape')
      await expect.poll(() => openDialogs(page)).toBe(0)
    }
    await page.close()
  })

  it('fits a phone-width screen without scrolling sideways', async () => {
    const page = await browser.newPage({ viewport: { width: 375, height: 800 } })
    await signIn(page)
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    )
    expect(overflow).toBeLessThanOrEqual(0)
    mkdirSync(screenshots, { recursive: true })
    await page.screenshot({ path: `${screenshots}api-token-page-phone.png`, fullPage: true })
    await page.close()
  })
})
