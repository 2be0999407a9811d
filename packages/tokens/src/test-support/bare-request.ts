import type { GuardAdapter } from '../request-guard.js'

/** A request as the guard's unit tests make it: headers by lower-case name, and the client's address. */
export interface BareRequest {
  readonly headers: Record<string, string>
  readonly address?: string
}

/** What an adapter tells the guard about a {@link BareRequest}: always a GET. */
export const bareAdapter: GuardAdapter<BareRequest> = {
  method: () => 'GET',
  header: (request, name) => request.headers[name],
  address: (request) => request.address,
}
