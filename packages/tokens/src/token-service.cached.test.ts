import { tokenServiceSuite } from './token-service.suite.js'

// The same suite with the verification cache on: the cache may never change an answer.
tokenServiceSuite(true)
