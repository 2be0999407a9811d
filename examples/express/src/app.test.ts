import { exampleAppTests } from '@examples/shared/testing'
import { startServer } from './server.js'

exampleAppTests('Express', startServer)
