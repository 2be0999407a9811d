import { MemoryTokenStore } from '@jetstream/tokens'
import { testTokenStore } from './test-token-store.js'

testTokenStore('MemoryTokenStore', { create: () => new MemoryTokenStore() })
