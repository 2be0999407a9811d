import { existsSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createTokenService, demoCredentials } from '@examples/shared'
import type { RunningServer } from '@examples/shared/testing'
import { type Browser, chromium, type Page } from 'playwright-core'
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

async function api(method: string, path: string, token: string, body?: unknown): Promise<number> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  })
  return response.status
}

async function signIn(page: Page): Promise<void> {
  await page.goto(`${server.url}/`)
  await page.getByLabel('Email').fill(demoCredentials.email)
  await page.getByLabel('Password').fill(demoCredentials.password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await expect.poll(() => page.getByRole('button', { name: 'Sign out' }).isVisible()).toBe(true)
}

let server: RunningServer
let browser: Browser

describe.skipIf(!hasChromium)('the API-token page in a real browser', () => {
  beforeAll(async () => {
    server = await startServer({
      tokens: createTokenService(),
      sessionKey: 'browser-test-session-key-of-32-chars!',
    })
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
    expect(plainTextToken).toMatch(/^\d+\|[A-Za-z0-9]{40}[0-9a-f]{8}$/)
    expect(await dialog.textContent()).toContain("it won't be shown again")
    await dialog.getByRole('button', { name: 'Close' }).click()
    expect(await page.content()).not.toContain(plainTextToken.split('|')[1])

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

    // The list shows it was used, once the coalesced last-used touch is written (within a second).
    const row = page.getByRole('listitem').filter({ hasText: 'Browser test' })
    await expect
      .poll(
        async () => {
          await page.reload()
          await row.waitFor()
          return row.textContent()
        },
        { timeout: 10_000, interval: 500 },
      )
      .toMatch(/Last used/)
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
