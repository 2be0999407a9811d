import { exampleAppTests } from '@examples/shared/testing'
import { startServer } from './server.js'

exampleAppTests('Koa', startServer)
