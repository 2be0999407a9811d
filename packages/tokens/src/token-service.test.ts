import { tokenServiceSuite } from './token-service.suite.js'

tokenServiceSuite(false)
