import { describe, expect, it } from 'vitest'
import { statefulDomains } from './stateful-domains.js'

interface Facts {
  origin?: string
  referer?: string
  host?: string
}

/** The request shape the checker takes, with absent headers as undefined. */
function request(facts: Facts) {
  return { origin: facts.origin, referer: facts.referer, host: facts.host }
}

describe('statefulDomains: which header is read', () => {
  const isFirstParty = statefulDomains(['app.example.com'])

  it('accepts an Origin of a stateful domain', () => {
    expect(isFirstParty(request({ origin: 'https://app.example.com' }))).toBe(true)
  })

  it('prefers Origin over Referer: a foreign Origin is refused even with a first-party Referer', () => {
    expect(
      isFirstParty(request({ origin: 'https://evil.test', referer: 'https://app.example.com/settings' })),
    ).toBe(false)
  })

  it('prefers Origin over Referer: a first-party Origin is accepted even with a foreign Referer', () => {
    expect(
      isFirstParty(request({ origin: 'https://app.example.com', referer: 'https://evil.test/page' })),
    ).toBe(true)
  })

  it('uses the Referer, path and query included, when there is no Origin', () => {
    expect(isFirstParty(request({ referer: 'https://app.example.com/tokens?tab=api#new' }))).toBe(true)
    expect(isFirstParty(request({ referer: 'https://evil.test/app.example.com' }))).toBe(false)
  })

  it('refuses the Origin "null" whatever the Referer: a sandboxed frame of the app’s own pages sends both', () => {
    expect(isFirstParty(request({ origin: 'null' }))).toBe(false)
    expect(isFirstParty(request({ origin: 'null', referer: 'https://app.example.com/' }))).toBe(false)
    expect(isFirstParty(request({ origin: 'null', referer: 'https://evil.test/' }))).toBe(false)
    expect(isFirstParty(request({ origin: 'not a url', referer: 'https://app.example.com/' }))).toBe(false)
  })

  it('ignores an empty Origin and falls back to the Referer', () => {
    expect(isFirstParty(request({ origin: '', referer: 'https://app.example.com/' }))).toBe(true)
  })

  it('refuses a request with neither Origin nor Referer, even when its Host is a stateful domain', () => {
    expect(isFirstParty(request({}))).toBe(false)
    expect(isFirstParty(request({ host: 'app.example.com' }))).toBe(false)
    expect(statefulDomains()(request({ host: 'app.example.com' }))).toBe(false)
  })

  it('uses the host of the Origin, not its user info', () => {
    expect(isFirstParty(request({ origin: 'https://app.example.com@evil.test' }))).toBe(false)
    expect(isFirstParty(request({ origin: 'https://evil.test@app.example.com' }))).toBe(true)
  })
})

describe('statefulDomains: hosts and ports', () => {
  it('matches a host with its port exactly', () => {
    const isFirstParty = statefulDomains(['localhost:3000'])
    expect(isFirstParty(request({ origin: 'http://localhost:3000' }))).toBe(true)
    expect(isFirstParty(request({ origin: 'http://localhost:3001' }))).toBe(false)
    expect(isFirstParty(request({ origin: 'http://localhost' }))).toBe(false)
  })

  it('does not match a host given without a port when the Origin has one', () => {
    const isFirstParty = statefulDomains(['app.example.com'])
    expect(isFirstParty(request({ origin: 'https://app.example.com:8443' }))).toBe(false)
  })

  it('accepts http and https alike', () => {
    const isFirstParty = statefulDomains(['app.example.com'])
    expect(isFirstParty(request({ origin: 'http://app.example.com' }))).toBe(true)
    expect(isFirstParty(request({ origin: 'https://app.example.com' }))).toBe(true)
  })

  it('matches an IP address with a port', () => {
    const isFirstParty = statefulDomains(['127.0.0.1:8000'])
    expect(isFirstParty(request({ origin: 'http://127.0.0.1:8000' }))).toBe(true)
    expect(isFirstParty(request({ origin: 'http://127.0.0.2:8000' }))).toBe(false)
  })

  it('treats dots in a pattern literally', () => {
    const isFirstParty = statefulDomains(['app.example.com'])
    expect(isFirstParty(request({ origin: 'https://appxexample.com' }))).toBe(false)
    expect(isFirstParty(request({ origin: 'https://app.examplexcom' }))).toBe(false)
  })

  it('matches the whole host, not a part of it', () => {
    const isFirstParty = statefulDomains(['example.com'])
    expect(isFirstParty(request({ origin: 'https://example.com' }))).toBe(true)
    expect(isFirstParty(request({ origin: 'https://a.example.com' }))).toBe(false)
    expect(isFirstParty(request({ origin: 'https://evilexample.com' }))).toBe(false)
    expect(isFirstParty(request({ origin: 'https://example.com.evil.net' }))).toBe(false)
  })

  it('accepts a request matching any one of several domains', () => {
    const isFirstParty = statefulDomains(['app.example.com', 'localhost:3000'])
    expect(isFirstParty(request({ origin: 'http://localhost:3000' }))).toBe(true)
    expect(isFirstParty(request({ origin: 'https://app.example.com' }))).toBe(true)
    expect(isFirstParty(request({ origin: 'https://other.example.com' }))).toBe(false)
  })
})

describe('statefulDomains: a * inside a name, and an entry no host can match', () => {
  it('matches a run of host characters where the * is, and only within the rest of the name', () => {
    const isFirstParty = statefulDomains(['app-*.example.com'])
    expect(isFirstParty(request({ origin: 'https://app-eu.example.com' }))).toBe(true)
    expect(isFirstParty(request({ origin: 'https://app-.example.com' }))).toBe(true)
    expect(isFirstParty(request({ origin: 'https://api.example.com' }))).toBe(false)
    expect(isFirstParty(request({ origin: 'https://app-eu.example.com.evil.net' }))).toBe(false)
  })

  it('keeps an entry the URL parser refuses as written, so it matches nothing', () => {
    const isFirstParty = statefulDomains(['exa mple.com', 'app.example.com'])
    expect(isFirstParty(request({ origin: 'https://exa%20mple.com' }))).toBe(false)
    expect(isFirstParty(request({ origin: 'https://app.example.com' }))).toBe(true)
  })
})

describe('statefulDomains: *.example.com', () => {
  const isFirstParty = statefulDomains(['*.example.com'])

  it('matches a subdomain, and a subdomain of a subdomain', () => {
    expect(isFirstParty(request({ origin: 'https://a.example.com' }))).toBe(true)
    expect(isFirstParty(request({ origin: 'https://a.b.example.com' }))).toBe(true)
    expect(isFirstParty(request({ origin: 'https://my-app.example.com' }))).toBe(true)
  })

  it('does not match the bare domain', () => {
    expect(isFirstParty(request({ origin: 'https://example.com' }))).toBe(false)
  })

  it('does not match a host that merely ends with the same letters', () => {
    expect(isFirstParty(request({ origin: 'https://evilexample.com' }))).toBe(false)
    expect(isFirstParty(request({ origin: 'https://a.evilexample.com' }))).toBe(false)
  })

  it('does not match a host that merely starts with the domain', () => {
    expect(isFirstParty(request({ origin: 'https://example.com.evil.net' }))).toBe(false)
    expect(isFirstParty(request({ origin: 'https://a.example.com.evil.net' }))).toBe(false)
  })

  it('does not match a subdomain on another port unless the pattern has the port', () => {
    expect(isFirstParty(request({ origin: 'https://a.example.com:8443' }))).toBe(false)
    const withPort = statefulDomains(['*.example.com:8443'])
    expect(withPort(request({ origin: 'https://a.example.com:8443' }))).toBe(true)
    expect(withPort(request({ origin: 'https://a.example.com' }))).toBe(false)
  })
})

describe('statefulDomains: how patterns are written', () => {
  it('normalises a pattern written with https:// or http://', () => {
    expect(statefulDomains(['https://app.example.com'])(request({ origin: 'https://app.example.com' }))).toBe(
      true,
    )
    expect(statefulDomains(['http://localhost:3000'])(request({ origin: 'http://localhost:3000' }))).toBe(
      true,
    )
  })

  it('normalises a pattern with a trailing slash or path', () => {
    expect(statefulDomains(['app.example.com/'])(request({ origin: 'https://app.example.com' }))).toBe(true)
    expect(
      statefulDomains(['https://app.example.com/dashboard/tokens'])(
        request({ origin: 'https://app.example.com' }),
      ),
    ).toBe(true)
  })

  it('trims whitespace around a pattern', () => {
    expect(statefulDomains(['  app.example.com \n'])(request({ origin: 'https://app.example.com' }))).toBe(
      true,
    )
  })

  it('compares case-insensitively, in the pattern and in the header', () => {
    expect(statefulDomains(['APP.Example.COM'])(request({ origin: 'https://app.example.com' }))).toBe(true)
    expect(statefulDomains(['app.example.com'])(request({ origin: 'HTTPS://App.EXAMPLE.com' }))).toBe(true)
    expect(
      statefulDomains(['HTTPS://*.Example.com'])(request({ referer: 'https://A.B.example.COM/x' })),
    ).toBe(true)
  })

  it('treats regular-expression characters in a pattern literally', () => {
    const isFirstParty = statefulDomains(['app.example.com+'])
    expect(isFirstParty(request({ origin: 'https://app.example.comm' }))).toBe(false)
  })

  it('refuses everything with an empty list of domains', () => {
    const isFirstParty = statefulDomains([])
    expect(isFirstParty(request({ origin: 'https://app.example.com', host: 'app.example.com' }))).toBe(false)
  })
})

describe('statefulDomains: what is refused', () => {
  const isFirstParty = statefulDomains(['app.example.com', '*.example.com'])

  it.each([
    ['file', 'file:///etc/passwd'],
    ['ftp', 'ftp://app.example.com'],
    ['ws', 'ws://app.example.com'],
    ['javascript', 'javascript:alert(1)'],
    ['data', 'data:text/html,<script>1</script>'],
    ['chrome-extension', 'chrome-extension://app.example.com'],
  ])('refuses a %s: Origin', (_, origin) => {
    expect(isFirstParty(request({ origin }))).toBe(false)
  })

  it('refuses a non-http(s) Referer', () => {
    expect(isFirstParty(request({ referer: 'ftp://app.example.com/file' }))).toBe(false)
  })

  it.each([
    ['a bare host', 'app.example.com'],
    ['a path', '/tokens'],
    ['text', 'not a url'],
    ['a URL without a host', 'https://'],
    ['whitespace', '   '],
  ])('refuses garbage: %s', (_, value) => {
    expect(isFirstParty(request({ origin: value }))).toBe(false)
    expect(isFirstParty(request({ referer: value }))).toBe(false)
  })
})

describe('statefulDomains: without configured domains', () => {
  const isFirstParty = statefulDomains()

  it("allows only the request's own Host", () => {
    expect(isFirstParty(request({ origin: 'https://api.example.com', host: 'api.example.com' }))).toBe(true)
    expect(isFirstParty(request({ referer: 'https://api.example.com/page', host: 'api.example.com' }))).toBe(
      true,
    )
    expect(isFirstParty(request({ origin: 'https://app.example.com', host: 'api.example.com' }))).toBe(false)
  })

  it('compares the Host with its port', () => {
    expect(isFirstParty(request({ origin: 'http://localhost:3000', host: 'localhost:3000' }))).toBe(true)
    expect(isFirstParty(request({ origin: 'http://localhost:3001', host: 'localhost:3000' }))).toBe(false)
    expect(isFirstParty(request({ origin: 'http://localhost:3000', host: 'localhost' }))).toBe(false)
  })

  it('compares the Host case-insensitively', () => {
    expect(isFirstParty(request({ origin: 'https://api.example.com', host: 'API.Example.COM' }))).toBe(true)
  })

  it('refuses when the request has no Host', () => {
    expect(isFirstParty(request({ origin: 'https://api.example.com' }))).toBe(false)
  })

  it('refuses a foreign Origin even when the Referer is the own Host', () => {
    expect(
      isFirstParty(
        request({
          origin: 'https://evil.test',
          referer: 'https://api.example.com/',
          host: 'api.example.com',
        }),
      ),
    ).toBe(false)
  })

  it('refuses a non-http(s) Origin naming the own Host', () => {
    expect(isFirstParty(request({ origin: 'ftp://api.example.com', host: 'api.example.com' }))).toBe(false)
  })
})

describe('statefulDomains: hosts written as people write them', () => {
  it('matches an international domain written in Unicode', () => {
    const allowed = statefulDomains(['bücher.example', '*.bücher.example'])
    expect(allowed({ origin: 'https://bücher.example', referer: undefined, host: undefined })).toBe(true)
    expect(allowed({ origin: 'https://shop.bücher.example', referer: undefined, host: undefined })).toBe(true)
  })
})
