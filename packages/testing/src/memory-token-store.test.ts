import { MemoryTokenStore } from '@jetstream/tokens'
import { testTokenStore } from './test-token-store.js'

// Its data lives in this process: the store itself is every instance there is.
testTokenStore('MemoryTokenStore', { create: () => new MemoryTokenStore(), peer: (store) => store })
